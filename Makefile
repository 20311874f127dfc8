# Ordo. `make run` starts everything locally; `make test` runs every test.
GO           ?= go
BIN          := bin/ordo
IMAGE        ?= ordo-dev/ordo:dev
# Integration tests run the broker from this repo's own image unless told
# otherwise (it needs no registry). Set ORDO_TEST_KAFKA_IMAGE=apache/kafka:3.9.1
# to run them against Apache Kafka instead.
ORDO_TEST_KAFKA_IMAGE ?= $(IMAGE)
export ORDO_TEST_KAFKA_IMAGE
# On machines without a registry, ../shared/testimages provides a locally
# built Postgres image and the testcontainers settings (see its README).
SHARED_TESTIMAGES ?= ../shared/testimages
TEST_ENV := if [ -f $(SHARED_TESTIMAGES)/env.sh ]; then . $(SHARED_TESTIMAGES)/env.sh; fi
GOTEST_FLAGS ?= -count=1 -timeout 40m
# Lint tools are installed from the Go module proxy, pinned, into bin/tools.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := bin/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

# Fuzzing: each target of FUZZ_TARGETS (package:Fuzz function) runs for
# FUZZTIME, one after the other, after its checked-in seed corpus.
FUZZTIME     ?= 10s
FUZZ_TARGETS := ./api/:FuzzCommandBody ./wire/:FuzzDecodeCommand ./ledger/:FuzzDecide

.PHONY: all build run test test-unit fuzz vet lint image test-images clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -o $(BIN) ./cmd/ordo

## run: the whole system in one process (embedded broker, private Postgres).
run: build
	./$(BIN) dev

## test: lint, then every test, integration tests included (needs Docker).
test: lint image test-images
	@$(TEST_ENV); echo "postgres image: $${ORDO_TEST_POSTGRES_IMAGE:-postgres:16-alpine}, kafka image: $$ORDO_TEST_KAFKA_IMAGE"; \
	$(GO) test $(GOTEST_FLAGS) ./...

## test-unit: the tests that need no Docker.
test-unit:
	$(GO) test -count=1 -race ./ledger/ ./api/

## fuzz: each fuzz target for FUZZTIME (default 10s); a failing input is
## written to the package's testdata/fuzz/<FuzzName>/ and fails the run.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; fn=$${t##*:}; \
	  echo "== fuzz $$fn in $$pkg for $(FUZZTIME)"; \
	  $(GO) test -count=1 -timeout 10m -run '^$$' -fuzz "^$$fn\$$" -fuzztime $(FUZZTIME) $$pkg; \
	done

vet:
	$(GO) vet ./...

## lint: go vet, gofmt, staticcheck, and go.mod/go.sum as `go mod tidy` leaves them.
lint: vet $(STATICCHECK)
	@out=$$(gofmt -l .); if [ -n "$$out" ]; then echo "gofmt -l: not formatted:"; echo "$$out"; exit 1; fi
	$(GO) mod tidy -diff
	$(STATICCHECK) ./...

$(STATICCHECK):
	GOBIN=$(CURDIR)/$(dir $(STATICCHECK)) $(GO) install honnef.co/go/tools/cmd/staticcheck@$(STATICCHECK_VERSION)

## image: the FROM-scratch image (API, consumer, migrate, and the test broker).
image: build
	docker build -q -f deploy/Dockerfile -t $(IMAGE) bin >/dev/null
	@echo "built $(IMAGE)"

## test-images: build the local Postgres image when the test env asks for one.
test-images:
	@$(TEST_ENV); case "$${ORDO_TEST_POSTGRES_IMAGE:-}" in \
	  local/*) sh $(SHARED_TESTIMAGES)/build-postgres.sh "$$ORDO_TEST_POSTGRES_IMAGE" ;; \
	esac

clean:
	rm -rf bin .ordo
