# Ordo. `make run` starts everything locally; `make test` runs every test.
GO           ?= go
BIN          := bin/ordo
IMAGE        ?= ordo-dev/ordo:dev
# Integration tests run the broker from this repo's own image unless told
# otherwise (it needs no registry). Set ORDO_TEST_KAFKA_IMAGE=apache/kafka:3.9.1
# to run them against Apache Kafka instead.
ORDO_TEST_KAFKA_IMAGE ?= $(IMAGE)
export ORDO_TEST_KAFKA_IMAGE
# The chaos suite (TestChaos) runs the API and consumer roles from this image.
ORDO_TEST_IMAGE ?= $(IMAGE)
export ORDO_TEST_IMAGE
# On machines without a registry, ../shared/testimages provides a locally
# built Postgres image and the testcontainers settings (see its README).
SHARED_TESTIMAGES ?= ../shared/testimages
TEST_ENV := if [ -f $(SHARED_TESTIMAGES)/env.sh ]; then . $(SHARED_TESTIMAGES)/env.sh; fi
GOTEST_FLAGS ?= -count=1 -timeout 40m
# Build metadata, stamped into the binary (`ordo version`) and the image's
# OCI labels; each can be set on the command line. BUILD_DATE honours
# SOURCE_DATE_EPOCH for reproducible builds.
VERSION    := $(or $(VERSION),$(shell git describe --tags --always --dirty 2>/dev/null),devel)
COMMIT     := $(or $(COMMIT),$(shell git rev-parse HEAD 2>/dev/null),unknown)
BUILD_DATE := $(or $(BUILD_DATE),$(shell date -u $(if $(SOURCE_DATE_EPOCH),-d @$(SOURCE_DATE_EPOCH)) +%Y-%m-%dT%H:%M:%SZ))
LDFLAGS    := -X main.version=$(VERSION) -X main.commit=$(COMMIT) -X main.buildDate=$(BUILD_DATE)
# The image is FROM scratch: its CA bundle is the build machine's.
CA_BUNDLE     ?= /etc/ssl/certs/ca-certificates.crt
IMAGE_CONTEXT := bin/image
# The image test (./deploy) checks this image.
export ORDO_TEST_IMAGE ?= $(IMAGE)
# Lint tools are installed from the Go module proxy, pinned, into bin/tools.
STATICCHECK_VERSION ?= v0.8.2
STATICCHECK := bin/tools/staticcheck-$(STATICCHECK_VERSION)/staticcheck

# Fuzzing: each target of FUZZ_TARGETS (package:Fuzz function:executions)
# runs after its checked-in seed corpus, for its number of executions (about
# 10 s each on a 2-core machine). Counts, not a wall-clock -fuzztime: with a
# duration, Go 1.26's fuzz coordinator can fail a clean run with "context
# deadline exceeded" at the deadline (golang/go#75804, fixed in Go 1.27).
# FUZZTIME=30s (or 1000000x) overrides every target's budget.
FUZZTIME     ?=
FUZZ_TARGETS := ./api/:FuzzCommandBody:20000 ./wire/:FuzzDecodeCommand:200000 ./wire/:FuzzDecodeReplies:50000 ./ledger/:FuzzDecide:25000

.PHONY: all build run test test-unit chaos fuzz vet lint image test-images clean

all: build

build:
	CGO_ENABLED=0 $(GO) build -ldflags '$(LDFLAGS)' -o $(BIN) ./cmd/ordo

## run: the whole system in one process (embedded broker, private Postgres).
run: build
	./$(BIN) dev

## test: lint, then every test, integration tests included (needs Docker).
test: lint image test-images
	@$(TEST_ENV); echo "postgres image: $${ORDO_TEST_POSTGRES_IMAGE:-postgres:16-alpine}, kafka image: $$ORDO_TEST_KAFKA_IMAGE"; \
	$(GO) test $(GOTEST_FLAGS) ./...

## chaos: only the chaos suite (containers, load and faults, then the audit; 3-4 minutes).
chaos: image test-images
	@$(TEST_ENV); $(GO) test -count=1 -timeout 15m -v -run 'TestChaos' ./cmd/ordo

## test-unit: the tests that need no Docker.
test-unit:
	$(GO) test -count=1 -race ./ledger/ ./api/

## fuzz: each fuzz target for its execution count (or FUZZTIME); a failing
## input is written to the package's testdata/fuzz/<FuzzName>/ and fails the run.
fuzz:
	@set -e; for t in $(FUZZ_TARGETS); do \
	  pkg=$${t%%:*}; rest=$${t#*:}; fn=$${rest%%:*}; n=$${rest#*:}; \
	  budget="$(FUZZTIME)"; budget=$${budget:-$${n}x}; \
	  echo "== fuzz $$fn in $$pkg for $$budget"; \
	  $(GO) test -count=1 -timeout 10m -run '^$$' -fuzz "^$$fn\$$" -fuzztime $$budget $$pkg; \
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

## image: the FROM-scratch image (API, consumer, migrate, and the test broker):
## the static binary, the build machine's CA bundle, user 65532, OCI labels.
image: build
	rm -rf $(IMAGE_CONTEXT) && mkdir -p $(IMAGE_CONTEXT)/data
	cp $(BIN) $(IMAGE_CONTEXT)/ordo
	cp $(CA_BUNDLE) $(IMAGE_CONTEXT)/ca-certificates.crt
	docker build -q -f deploy/Dockerfile -t $(IMAGE) \
	  --build-arg VERSION=$(VERSION) --build-arg REVISION=$(COMMIT) --build-arg CREATED=$(BUILD_DATE) \
	  $(IMAGE_CONTEXT) >/dev/null
	@echo "built $(IMAGE) ($(VERSION))"

## version: what `make build` and `make image` stamp into the binary and labels.
version:
	@echo "version $(VERSION) commit $(COMMIT) built $(BUILD_DATE)"

## test-deploy: the image test and the docker-compose smoke test alone
## (`make test` runs them too, with every other test).
test-deploy: image test-images
	@$(TEST_ENV); $(GO) test -count=1 -timeout 10m -v ./deploy/

## test-k8s: builds deploy/kubernetes with kustomize and validates every
## object strictly (its own Go module, so the main go.mod stays lean).
test-k8s:
	cd deploy/kubernetes/validate && $(GO) vet ./... && $(GO) mod tidy -diff && $(GO) test -count=1 -timeout 10m -v ./...

.PHONY: version test-deploy test-k8s

## test-images: build the local Postgres image when the test env asks for one.
test-images:
	@$(TEST_ENV); case "$${ORDO_TEST_POSTGRES_IMAGE:-}" in \
	  local/*) sh $(SHARED_TESTIMAGES)/build-postgres.sh "$$ORDO_TEST_POSTGRES_IMAGE" ;; \
	esac

clean:
	rm -rf bin .ordo
