package main

import (
	"context"
	"errors"
	"strings"
	"testing"

	"github.com/twmb/franz-go/pkg/kadm"
	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
)

// TestRolesRefuseChangedPartitionCount: partitions added to the commands
// topic after a deployment started would move accounts to other
// partitions; every role then refuses to start, saying why.
func TestRolesRefuseChangedPartitionCount(t *testing.T) {
	e := newEnv(t, 4)
	e.startAPI() // creates the topic and records 4
	var recorded int
	if err := e.pool.QueryRow(context.Background(), `SELECT partitions FROM topic_partitions WHERE topic = $1`, e.opts.CommandsTopic).Scan(&recorded); err != nil || recorded != 4 {
		t.Fatalf("got %d recorded (%v), want 4", recorded, err)
	}
	cl, err := kgo.NewClient(kgo.SeedBrokers(e.opts.Brokers...))
	if err != nil {
		t.Fatal(err)
	}
	defer cl.Close()
	if _, err := kadm.NewClient(cl).CreatePartitions(context.Background(), 2, e.opts.CommandsTopic); err != nil {
		t.Fatal(err)
	}
	ctx := context.Background()
	if a, err := NewAPI(ctx, e.opts, e.log); !errors.Is(err, ledger.ErrPartitionCountChanged) || !strings.Contains(err.Error(), "has 6 partitions") {
		if a != nil {
			a.Close()
		}
		t.Fatalf("api: got %v, want a refusal for 6 partitions against 4", err)
	}
	if c, err := NewConsumer(ctx, e.opts, e.log); !errors.Is(err, ledger.ErrPartitionCountChanged) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("consumer: got %v, want a refusal", err)
	}
}
