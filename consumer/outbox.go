package consumer

import (
	"context"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// The outbox relay. A decision that continues a saga (a transfer's debit
// emits its credit; the credit, or its refusal, emits the settle) stores the
// next step in the outbox table in the same transaction, so the step can
// never be lost; the relay publishes it to the commands topic, keyed by its
// account. Every step's command ID derives from its transfer, so a step
// published twice is applied once: publishing is at least once and needs no
// coordination.
//
// Where it runs: in the consumer that wrote the row. Right after the
// commit, the replier produces the batch's steps and marks them published
// once the broker acknowledged them (publishSteps). A sweep
// (OutboxInterval, 1 s) publishes the rows of the partitions this consumer
// owns that are still unpublished some seconds after they were written: a
// produce that failed, a consumer that crashed between its commit and its
// produce, or a row written by the partition's previous owner. It finds
// them by published_at IS NULL, not past a sequence, so a row that
// committed after a later one is published all the same.
//
// How far it can fall behind: a step is published right after its commit;
// after a failure, within outboxGrace plus one OutboxInterval once its
// partition has an owner.

// outboxGrace is how old an unpublished row must be before the sweep
// publishes it: younger ones are on their way from publishSteps.
const outboxGrace = 2 * time.Second

// outboxPerSweep bounds one sweep; the rest wait for the next.
const outboxPerSweep = 500

// publishSteps produces the saga steps a committed batch stored, and marks
// them published once acknowledged.
func (p *Processor) publishSteps(results []ledger.Result) {
	var steps []ledger.Outbound
	for _, r := range results {
		if r.Emit != nil && !r.Skipped {
			steps = append(steps, *r.Emit)
		}
	}
	if len(steps) > 0 {
		p.publish(context.Background(), steps)
	}
}

// publish produces steps to the commands topic and marks those the broker
// acknowledged, in the background.
func (p *Processor) publish(ctx context.Context, steps []ledger.Outbound) {
	var (
		mu    sync.Mutex
		acked []string
		wg    sync.WaitGroup
	)
	for _, o := range steps {
		headers := []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte(o.CommandID)}}
		for _, h := range o.Headers {
			headers = append(headers, kgo.RecordHeader{Key: h.Key, Value: []byte(h.Value)})
		}
		wg.Add(1)
		id := o.CommandID
		p.cl.Produce(ctx, &kgo.Record{
			Topic: p.cfg.Topic, Partition: int32(p.PartitionOf(o.AccountID)),
			Key: []byte(o.AccountID), Value: o.Value, Headers: headers,
		}, func(_ *kgo.Record, err error) {
			defer wg.Done()
			if err != nil {
				p.log.Warn("publish saga step; the outbox sweep publishes it later", "command_id", id, "err", err)
				return
			}
			mu.Lock()
			acked = append(acked, id)
			mu.Unlock()
		})
	}
	p.metrics.stepsPublished.Add(float64(len(steps)))
	go func() {
		wg.Wait()
		if len(acked) == 0 {
			return
		}
		markCtx, cancel := context.WithTimeout(context.Background(), 10*time.Second)
		defer cancel()
		if err := p.store.MarkPublished(markCtx, acked); err != nil {
			p.log.Warn("mark saga steps published; they may be published again (harmless)", "err", err)
		}
	}()
}

// runOutbox sweeps the owned partitions' outbox rows until ctx ends.
func (p *Processor) runOutbox(ctx context.Context) {
	tick := time.NewTicker(p.cfg.OutboxInterval)
	defer tick.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		owned := p.Owned()
		if len(owned) == 0 {
			continue
		}
		scanCtx, cancel := context.WithTimeout(ctx, 5*time.Second)
		rows, err := p.store.Unpublished(scanCtx, p.cfg.Topic, owned, time.Now().Add(-outboxGrace), outboxPerSweep)
		cancel()
		if err != nil {
			if ctx.Err() == nil {
				p.log.Warn("scan the outbox", "err", err)
			}
			continue
		}
		if len(rows) > 0 {
			p.log.Info("publishing saga steps left in the outbox", "rows", len(rows))
			p.publish(ctx, rows)
		}
	}
}
