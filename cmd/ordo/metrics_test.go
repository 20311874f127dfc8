package main

import (
	"fmt"
	"net/http"
	"strconv"
	"strings"
	"testing"
)

// TestConsumerMetrics: on --ops-addr the consumer serves how its batches
// committed, how long they took and how many commands each decided, the
// commands' latency, the partitions it owns and their lag, and its health.
func TestConsumerMetrics(t *testing.T) {
	e := newEnv(t, 2)
	e.opts.OpsAddr = "127.0.0.1:0"
	base := e.startAPI()
	c, _ := e.startConsumer()
	e.waitClaimed()
	openAccount(t, base, "metrics-1", 100)
	for i := range 3 {
		if r := post(t, base+"/v1/accounts/metrics-1/withdrawals", `{"amount":10}`, map[string]string{"Idempotency-Key": fmt.Sprint("w", i)}); r.Status != http.StatusOK {
			t.Fatalf("withdrawal %d: got %d %s", i, r.Status, r.Raw)
		}
	}
	for _, path := range []string{"/livez", "/readyz"} {
		if r := do(t, http.MethodGet, "http://"+c.OpsAddr()+path, "", nil); r.Status != http.StatusOK {
			t.Fatalf("GET %s: got %d %s, want 200", path, r.Status, r.Raw)
		}
	}
	r := do(t, http.MethodGet, "http://"+c.OpsAddr()+"/metrics", "", nil)
	if r.Status != http.StatusOK {
		t.Fatalf("GET /metrics: %d %s", r.Status, r.Raw)
	}
	text := string(r.Raw)
	for series, want := range map[string]float64{
		"ordo_consumer_partitions_owned":       2,
		"ordo_consumer_partitions_stopped":     0,
		"ordo_consumer_commands_decided_total": 5, // open, deposit, three withdrawals
		"ordo_consumer_batch_fallbacks_total":  0,
		// Every decided command is in a transaction's count and has a
		// latency.
		"ordo_consumer_transaction_commands_sum":      5,
		"ordo_consumer_command_latency_seconds_count": 5,
		// Caught up: nothing left to apply on either partition.
		`ordo_consumer_partition_lag{partition="0"}`: 0,
		`ordo_consumer_partition_lag{partition="1"}`: 0,
		"ordo_consumer_replies_failed_total":         0,
		// Each command answered alone, in the batched format the API reads.
		"ordo_consumer_replies_total":                                     5,
		`ordo_consumer_reply_records_total{format="2"}`:                   5,
		`ordo_consumer_reply_records_total{format="1"}`:                   0,
		`ordo_consumer_replies_refused_total{reason="topic_not_allowed"}`: 0,
		`ordo_consumer_partition_retries_total{reason="claim_lost"}`:      0,
		"go_goroutines": metricValue(t, text, "go_goroutines"), // the process collectors are there
	} {
		if got := metricValue(t, text, series); got != want {
			t.Errorf("%s = %v, want %v", series, got, want)
		}
	}
	// Each command was answered before the next was sent, so each had a
	// transaction of its own: the first locked (the account was not cached
	// yet), the ones after it from the cache.
	locked := metricValue(t, text, `ordo_consumer_batches_total{way="locked"}`)
	cached := metricValue(t, text, `ordo_consumer_batches_total{way="cached"}`)
	if locked < 1 || cached < 1 || locked+cached > 5 {
		t.Errorf("batches: %v locked, %v cached; want at least one of each and at most 5 in all", locked, cached)
	}
	if txs := metricValue(t, text, "ordo_consumer_transaction_seconds_count"); txs != locked+cached {
		t.Errorf("transaction_seconds has %v transactions, batches_total %v", txs, locked+cached)
	}
	if txs := metricValue(t, text, "ordo_consumer_transaction_commands_count"); txs != locked+cached {
		t.Errorf("transaction_commands has %v transactions, batches_total %v", txs, locked+cached)
	}
	// A command waits at least for its own transaction.
	if lat, tx := metricValue(t, text, "ordo_consumer_command_latency_seconds_sum"), metricValue(t, text, "ordo_consumer_transaction_seconds_sum"); lat <= 0 || lat < tx {
		t.Errorf("command latency sum %v s, transactions' %v s: a command's latency includes its transaction", lat, tx)
	}
}

// metricValue finds a series (name and labels as exposed) in Prometheus'
// text format.
func metricValue(t *testing.T, text, series string) float64 {
	t.Helper()
	for _, line := range strings.Split(text, "\n") {
		if v, ok := strings.CutPrefix(line, series+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("no series %s in:\n%s", series, text)
	return 0
}
