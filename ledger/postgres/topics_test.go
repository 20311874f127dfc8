package postgres_test

import (
	"context"
	"errors"
	"testing"

	"github.com/ordo-dev/ordo/ledger"
)

func TestCheckPartitionCount(t *testing.T) {
	s := newStore(t)
	ctx := context.Background()
	for _, tt := range []struct {
		name       string
		topic      string
		partitions int32
		changed    bool
	}{
		{"first use records it", "cmds", 12, false},
		{"the same count again", "cmds", 12, false},
		{"more partitions", "cmds", 16, true},
		{"fewer partitions", "cmds", 6, true},
		{"another topic, its own count", "other", 3, false},
		{"the first count still holds", "cmds", 12, false},
	} {
		t.Run(tt.name, func(t *testing.T) {
			err := s.CheckPartitionCount(ctx, tt.topic, tt.partitions)
			if got := errors.Is(err, ledger.ErrPartitionCountChanged); got != tt.changed {
				t.Fatalf("got %v, want changed=%v", err, tt.changed)
			}
			if tt.changed && !errors.Is(err, ledger.ErrConflict) {
				t.Fatalf("got %v, want it to wrap ErrConflict", err)
			}
		})
	}
}
