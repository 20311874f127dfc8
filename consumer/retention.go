package consumer

import (
	"context"
	"math"
	"time"
)

// Outcome retention. With Config.OutcomeRetention set, each owner deletes
// its partitions' commands rows (stored outcomes and idempotency keys)
// older than the retention, on a ticker like the hold expiry scan and never
// in an apply transaction: a batch of pruneBatch rows per statement, a
// pause between batches, until a partition has no more rows due. The
// journal is kept forever (ledger/postgres/retention.go).
//
// The commands table is the events outbox, so a row goes only once its
// event is committed in the events topic: the partition's publisher knows
// the last published source offset, and rows at or below it may go. A
// partition whose publisher has not read that offset yet waits for the next
// tick. Without an events topic there is no such bound.

const (
	// pruneBatch bounds one delete statement.
	pruneBatch = 500
	// prunePause is the pause between two batches, so that pruning never
	// holds the database for long.
	prunePause = 100 * time.Millisecond
)

// outcomePruner is what the retention needs from the store.
type outcomePruner interface {
	PruneOutcomes(ctx context.Context, topic string, partition int32, below int64, cutoff time.Time, batch int) (deleted int64, more bool, err error)
}

// pruneInterval is how often the retention runs: a tenth of the retention,
// from 100ms (tests) to a minute.
func pruneInterval(retention time.Duration) time.Duration {
	return min(max(retention/10, 100*time.Millisecond), time.Minute)
}

func (p *Processor) runRetention(ctx context.Context, pr outcomePruner) {
	tick := time.NewTicker(pruneInterval(p.cfg.OutcomeRetention))
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.pruneOutcomes(ctx, pr, time.Now().Add(-p.cfg.OutcomeRetention))
	}
}

// pruneBounds maps each owned partition to the offset its rows must be
// below to go; a partition whose published offset is not known is left out.
func (p *Processor) pruneBounds() map[int32]int64 {
	p.mu.Lock()
	defer p.mu.Unlock()
	out := make(map[int32]int64, len(p.workers))
	for partition, w := range p.workers {
		switch {
		case p.events == nil:
			out[partition] = math.MaxInt64
		case w.events != nil:
			if pub := w.events.publishedOffset(); pub >= 0 {
				out[partition] = pub + 1
			}
		}
	}
	return out
}

// pruneOutcomes prunes every owned partition's rows created before cutoff.
func (p *Processor) pruneOutcomes(ctx context.Context, pr outcomePruner, cutoff time.Time) {
	for partition, below := range p.pruneBounds() {
		for ctx.Err() == nil {
			n, more, err := pr.PruneOutcomes(ctx, p.cfg.Topic, partition, below, cutoff, pruneBatch)
			if err != nil {
				if ctx.Err() == nil {
					p.log.Warn("prune stored outcomes; the next tick tries again", "partition", partition, "err", err)
				}
				break
			}
			p.metrics.outcomesPruned.Add(float64(n))
			if !more {
				break
			}
			select {
			case <-ctx.Done():
			case <-time.After(prunePause):
			}
		}
	}
}
