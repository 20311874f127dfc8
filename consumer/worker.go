package consumer

import (
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"sync"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/ledger/postgres"
	"github.com/ordo-dev/ordo/producer"
)

// worker applies one partition's records in offset order. It is the only
// goroutine that writes for its claim.
type worker struct {
	p     *Processor
	claim postgres.Claim
	in    chan []*kgo.Record
	stop  chan struct{} // closed by halt
	done  chan struct{} // closed when run returns
	once  sync.Once
	part  kgo.TopicPartitioner
}

func newWorker(p *Processor, claim postgres.Claim) *worker {
	return &worker{
		p: p, claim: claim,
		in:   make(chan []*kgo.Record, 4),
		stop: make(chan struct{}),
		done: make(chan struct{}),
		part: producer.Partitioner().ForTopic(p.cfg.Topic),
	}
}

func (w *worker) halt() { w.once.Do(func() { close(w.stop) }) }

func (w *worker) run() {
	defer close(w.done)
	for {
		var recs []*kgo.Record
		select {
		case <-w.stop:
			return
		case recs = <-w.in:
		}
		// Group commit: take whatever else is already queued, up to MaxBatch.
	drain:
		for len(recs) < w.p.cfg.MaxBatch {
			select {
			case more := <-w.in:
				recs = append(recs, more...)
			default:
				break drain
			}
		}
		if !w.apply(recs) {
			return
		}
	}
}

// apply applies one batch, retrying database errors until it commits, the
// worker is halted, or the partition turns out to be fenced. It reports
// whether the worker should go on.
//
// A halt does not abort a transaction in flight: halting waits for it, so a
// graceful rebalance finishes (and answers) the batch it started.
func (w *worker) apply(recs []*kgo.Record) bool {
	batch := make([]postgres.Record, len(recs))
	for i, r := range recs {
		batch[i] = w.decode(r)
	}
	for {
		ctx, cancel := context.WithTimeout(context.Background(), w.p.cfg.BatchTimeout)
		results, err := w.p.store.ApplyBatch(ctx, w.claim, batch)
		cancel()
		switch {
		case err == nil:
			w.reply(recs, results)
			w.p.cl.MarkCommitRecords(recs[len(recs)-1])
			return true
		case errors.Is(err, ledger.ErrFenced):
			w.p.log.Warn("partition fenced off: another consumer claimed it; dropping it", "partition", w.claim.Partition, "epoch", w.claim.Epoch, "err", err)
			w.p.dropFenced(w)
			return false
		}
		w.p.log.Error("apply batch failed; retrying the same batch", "partition", w.claim.Partition, "first_offset", recs[0].Offset, "records", len(recs), "err", err)
		select {
		case <-time.After(w.p.cfg.RetryBackoff):
		case <-w.stop:
			return false
		}
	}
}

// decode turns a Kafka record into a ledger record. Records that cannot be
// decoded or sit on the wrong partition become rejections: they are recorded
// and answered, and never block the partition.
func (w *worker) decode(r *kgo.Record) postgres.Record {
	out := postgres.Record{Offset: r.Offset, AccountID: string(r.Key), CommandID: ledger.DefaultCommandID(r.Partition, r.Offset)}
	reject := func(code ledger.Code, detail string) postgres.Record {
		out.Code, out.Detail = code, detail
		return out
	}
	if id := header(r, ledger.HeaderCommandID); id != "" {
		if err := ledger.ValidateCommandID(ledger.HeaderCommandID, id); err != nil {
			return reject(ledger.CodeInvalidCommand, err.Error())
		}
		out.CommandID = id
	}
	cmd, err := ledger.DecodeCommand(out.CommandID, r.Value)
	if err != nil {
		return reject(ledger.CodeInvalidCommand, err.Error())
	}
	if cmd.AccountID != string(r.Key) {
		return reject(ledger.CodeMisrouted, fmt.Sprintf("record key %q is not the account %q", r.Key, cmd.AccountID))
	}
	if want := w.part.Partition(r, w.p.numPartitions); int32(want) != r.Partition {
		return reject(ledger.CodeMisrouted, fmt.Sprintf("account %q belongs on partition %d, not %d: produce with Kafka's murmur2 key partitioner", cmd.AccountID, want, r.Partition))
	}
	out.Command = cmd
	return out
}

// reply publishes the outcomes of a committed batch to the requesters that
// asked for one. Replies are best effort: a lost reply costs the requester a
// wait and a read from Postgres, never a second application.
func (w *worker) reply(recs []*kgo.Record, results []postgres.Result) {
	for i, r := range recs {
		if results[i].Skipped {
			continue
		}
		topic := header(r, ledger.HeaderReplyTopic)
		if topic == "" {
			continue
		}
		partition, err := strconv.Atoi(header(r, ledger.HeaderReplyPartition))
		if err != nil {
			continue
		}
		value, err := json.Marshal(results[i].Outcome)
		if err != nil {
			continue
		}
		reply := &kgo.Record{
			Topic:     topic,
			Partition: int32(partition),
			Key:       []byte(results[i].Outcome.CommandID),
			Value:     value,
			Headers:   []kgo.RecordHeader{{Key: ledger.HeaderReplyTo, Value: []byte(header(r, ledger.HeaderReplyTo))}},
		}
		w.p.cl.Produce(context.Background(), reply, func(_ *kgo.Record, err error) {
			if err != nil {
				w.p.log.Warn("publish reply", "command_id", results[i].Outcome.CommandID, "err", err)
			}
		})
	}
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
