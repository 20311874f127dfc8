package consumer

import (
	"context"
	"encoding/hex"
	"errors"
	"fmt"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// worker is the state of one claimed partition. Its records are applied
// only by its applier, in offset order.
type worker struct {
	claim   ledger.Claim
	applier *applier
	halted  atomic.Bool // set when the partition is revoked, lost or stopped
	// next is the partition's stored next offset as this claim last
	// committed it (-1: nothing applied yet); for the lag metric.
	next atomic.Int64
	// events publishes the partition's events under this claim; nil
	// without an events topic.
	events *eventPublisher
}

// applier applies the records of the partitions assigned to it (partition
// modulo the number of appliers), all it has queued in one transaction:
// group commit across partitions.
type applier struct {
	p    *Processor
	in   chan fetched
	quit chan struct{}
	// busy is held while a transaction is in flight; halting a worker takes
	// it to wait for the worker's last transaction.
	busy sync.Mutex
}

type fetched struct {
	w       *worker
	recs    []*kgo.Record
	decoded []ledger.Record // recs, decoded
}

func newApplier(p *Processor) *applier {
	return &applier{p: p, in: make(chan fetched, 64), quit: make(chan struct{})}
}

func (a *applier) run() {
	for {
		var first fetched
		select {
		case <-a.quit:
			return
		case first = <-a.in:
		}
		batch := []fetched{first}
		n := len(first.recs)
	drain:
		for n < a.p.cfg.MaxBatch {
			select {
			case more := <-a.in:
				batch = append(batch, more)
				n += len(more.recs)
			default:
				break drain
			}
		}
		a.busy.Lock()
		a.apply(batch)
		a.busy.Unlock()
	}
}

// wait returns once no transaction is in flight.
func (a *applier) wait() {
	a.busy.Lock()
	//lint:ignore SA2001 an empty critical section is the point: wait for the holder.
	a.busy.Unlock()
}

// pending is one partition's share of a transaction.
type pending struct {
	w       *worker
	recs    []*kgo.Record
	decoded []ledger.Record
}

// apply commits the fetched records. A partition whose claim turns out to
// be fenced off is stopped and the others are retried at once. When a
// transaction of several partitions fails otherwise, it cannot be told which
// partition failed, so each is retried on its own; a partition that fails
// alone is stopped, and the poll loop claims it again after a backoff and
// fetches its records afresh, while the applier goes on with the others.
// A halt does not abort a transaction in flight: halting waits for it, so a
// graceful rebalance finishes (and answers) what it started.
func (a *applier) apply(batch []fetched) {
	var parts []*pending
	for _, f := range batch {
		i := slices.IndexFunc(parts, func(p *pending) bool { return p.w == f.w })
		if i < 0 {
			parts = append(parts, &pending{w: f.w})
			i = len(parts) - 1
		}
		parts[i].recs = append(parts[i].recs, f.recs...)
		parts[i].decoded = append(parts[i].decoded, f.decoded...)
	}
	ctx, end := a.p.traceBatch(parts)
	defer end()
	a.applyParts(ctx, parts)
}

func (a *applier) applyParts(base context.Context, parts []*pending) {
	for {
		parts = slices.DeleteFunc(parts, func(pt *pending) bool { return pt.w.halted.Load() })
		if len(parts) == 0 {
			return
		}
		batches := make([]ledger.PartitionBatch, len(parts))
		for i, pt := range parts {
			batches[i] = ledger.PartitionBatch{Claim: pt.w.claim, Records: pt.decoded}
		}
		began := time.Now()
		ctx, cancel := context.WithTimeout(base, a.p.cfg.BatchTimeout)
		results, err := a.p.store.ApplyBatches(ctx, batches)
		cancel()
		var fenced *ledger.FencedError
		switch {
		case err == nil:
			a.p.metrics.committed(began, parts, results)
			for i, pt := range parts {
				last := pt.recs[len(pt.recs)-1]
				pt.w.next.Store(max(pt.w.next.Load(), last.Offset+1))
				a.p.cl.MarkCommitRecords(last)
				a.p.applied(pt.w.claim.Partition)
				if pt.w.events != nil {
					pt.w.events.committed(pt.decoded, results[i])
				}
				select {
				case a.p.replies <- committedBatch{recs: pt.recs, results: results[i]}:
				case <-a.p.quitReplier: // closing: replies are best effort
				}
			}
			return
		case errors.As(err, &fenced):
			for _, pt := range parts {
				if slices.Contains(fenced.Partitions, pt.w.claim.Partition) {
					a.p.log.Warn("partition fenced off: a newer claim took it; stopping it here (claimed again while the group still assigns it here)", "partition", pt.w.claim.Partition, "epoch", pt.w.claim.Epoch)
					a.p.stop(pt.w.claim.Partition, pt.w, ReasonClaimLost, err)
				}
			}
			continue // the other partitions' records are still to apply
		case len(parts) > 1:
			a.p.log.Warn("batch of several partitions failed; retrying each partition on its own", "partitions", len(parts), "err", err)
			for _, pt := range parts {
				a.applyParts(base, []*pending{pt})
			}
			return
		}
		pt := parts[0]
		reason := ReasonApplyFailed
		if errors.Is(err, ledger.ErrGuardFailed) {
			reason = ReasonGuardFailed
		}
		a.p.log.Error("batch failed; partition stopped, to be claimed again and retried", "partition", pt.w.claim.Partition, "reason", reason, "err", err)
		a.p.stop(pt.w.claim.Partition, pt.w, reason, err)
		return
	}
}

// decode turns a Kafka record into a ledger record. Records that cannot be
// decoded or sit on the wrong partition become rejections: they are recorded
// and answered, and never block the partition.
func (p *Processor) decode(r *kgo.Record) ledger.Record {
	out := ledger.Record{Offset: r.Offset, AccountID: storableKey(r.Key), CommandID: wire.DefaultCommandID(r.Partition, r.Offset)}
	reject := func(code ledger.Code, detail string) ledger.Record {
		out.Code, out.Detail = code, storableText(detail)
		return out
	}
	if id := header(r, wire.HeaderCommandID); id != "" {
		if err := ledger.ValidateCommandID(wire.HeaderCommandID, id); err != nil {
			return reject(ledger.CodeInvalidCommand, err.Error())
		}
		out.CommandID = id
	}
	cmd, err := wire.DecodeCommand(out.CommandID, r.Value)
	if err != nil {
		return reject(ledger.CodeInvalidCommand, err.Error())
	}
	if cmd.AccountID != string(r.Key) {
		return reject(ledger.CodeMisrouted, fmt.Sprintf("record key %q is not the account %q", r.Key, cmd.AccountID))
	}
	if want := p.PartitionOf(cmd.AccountID); int32(want) != r.Partition {
		return reject(ledger.CodeMisrouted, fmt.Sprintf("account %q belongs on partition %d, not %d: produce with Kafka's murmur2 key partitioner", cmd.AccountID, want, r.Partition))
	}
	if cmd.Kind == ledger.KindTransfer || cmd.Kind == ledger.KindTransferCredit {
		for _, k := range carried {
			if v := header(r, k); v != "" {
				out.Carry = append(out.Carry, ledger.Header{Key: k, Value: v})
			}
		}
	}
	if cmd.Deadline.IsZero() && !cmd.Kind.Internal() {
		// A record from another client without a deadline: the default
		// deadline counts from when it was produced.
		cmd.Deadline = r.Timestamp.Add(p.cfg.CommandDeadline)
	}
	// Log time: holds are created and expire on the record's timestamp,
	// so a replay of the log decides them alike on any machine.
	cmd.At = r.Timestamp.UTC()
	out.Command = cmd
	return out
}

// committedBatch is one partition's share of a committed transaction.
type committedBatch struct {
	recs    []*kgo.Record
	results []ledger.Result
}

// runReplier publishes the outcomes of committed batches until Close, and
// then those still queued.
func (p *Processor) runReplier() {
	for {
		select {
		case b := <-p.replies:
			p.reply(b.recs, b.results)
		case <-p.quitReplier:
			for {
				select {
				case b := <-p.replies:
					p.reply(b.recs, b.results)
				default:
					return
				}
			}
		}
	}
}

// reply publishes the outcomes of a committed batch to the requesters that
// asked for one, on an allowed reply topic only. Replies are best effort: a
// lost reply costs the requester a wait and a read from Postgres, never a
// second application.
//
// The outcomes for one API instance (one reply topic, partition and
// reply-to ID) whose records advertise the batched format
// (wire.HeaderReplyFormats) go in one version 2 record, or a few if they
// would exceed maxReplyBytes; every other record is answered alone in
// version 1, as an API instance older than the batched format reads it.
// With tracing on, every record is answered alone, under its own
// processing span, so that each request's trace holds its reply.
func (p *Processor) reply(recs []*kgo.Record, results []ledger.Result) {
	p.publishSteps(results)
	var (
		routes  []replyRoute // in the order first met
		batches map[replyRoute]*replyBatch
	)
	for i, r := range recs {
		if results[i].Skipped {
			continue
		}
		out, ok := answerOf(results[i])
		if !ok {
			continue
		}
		topic := header(r, wire.HeaderReplyTopic)
		if topic == "" {
			continue
		}
		partition, err := strconv.ParseInt(header(r, wire.HeaderReplyPartition), 10, 32)
		if err != nil {
			p.metrics.replyRefused(refusedBadPartition)
			continue
		}
		if refused := p.replyTo.check(context.Background(), topic, int32(partition)); refused != "" {
			p.metrics.replyRefused(refused)
			p.log.Debug("reply not sent", "reason", refused, "topic", topic, "partition", partition, "command_id", out.CommandID)
			continue
		}
		rt := replyRoute{topic: topic, partition: int32(partition), to: header(r, wire.HeaderReplyTo)}
		fp := header(r, wire.HeaderFingerprint)
		fingerprint, err := hex.DecodeString(fp)
		if p.cfg.Tracer != nil || !wire.AcceptsBatch(header(r, wire.HeaderReplyFormats)) || err != nil || len(fingerprint) == 0 {
			p.replyOne(p.replyContext(r), rt, fp, out)
			continue
		}
		elem, err := wire.EncodeReply(wire.Reply{Fingerprint: fingerprint, Outcome: out})
		if err != nil {
			continue
		}
		if batches == nil {
			batches = map[replyRoute]*replyBatch{}
		}
		b := batches[rt]
		if b == nil {
			b = &replyBatch{}
			batches[rt] = b
			routes = append(routes, rt)
		}
		if len(b.elems) > 0 && b.size+len(elem) > maxReplyBytes {
			p.replyBatched(rt, b.elems)
			*b = replyBatch{}
		}
		b.elems = append(b.elems, elem)
		b.size += len(elem) + 1
	}
	for _, rt := range routes {
		p.replyBatched(rt, batches[rt].elems)
	}
}

// maxReplyBytes bounds the value of a batched reply record, well below
// Kafka's default record size limit (1 MiB, message.max.bytes): a batch of
// up to MaxBatch outcomes for one instance may take several records.
const maxReplyBytes = 256 << 10

// replyRoute is where a reply goes: a reply topic's partition and the
// waiting instance's ID.
type replyRoute struct {
	topic     string
	partition int32
	to        string
}

// replyBatch is the encoded outcomes (wire.EncodeReply) bound for one
// route, and their size once joined.
type replyBatch struct {
	elems [][]byte
	size  int
}

// replyOne publishes a version 1 reply: one outcome, with the fingerprint
// (hex, as the command record carried it) in a header.
func (p *Processor) replyOne(ctx context.Context, rt replyRoute, fingerprint string, out ledger.Outcome) {
	value, err := wire.EncodeOutcome(out)
	if err != nil {
		return
	}
	id := out.CommandID
	p.produceReply(ctx, &kgo.Record{
		Topic:     rt.topic,
		Partition: rt.partition,
		Key:       []byte(id),
		Value:     value,
		Headers: []kgo.RecordHeader{
			{Key: wire.HeaderReplyTo, Value: []byte(rt.to)},
			{Key: wire.HeaderFingerprint, Value: []byte(fingerprint)},
		},
	}, "1", 1, id)
}

// replyBatched publishes a version 2 reply carrying elems.
func (p *Processor) replyBatched(rt replyRoute, elems [][]byte) {
	p.produceReply(context.Background(), &kgo.Record{
		Topic:     rt.topic,
		Partition: rt.partition,
		Key:       []byte(rt.to),
		Value:     wire.JoinReplies(elems),
		Headers: []kgo.RecordHeader{
			{Key: wire.HeaderReplyTo, Value: []byte(rt.to)},
			{Key: wire.HeaderReplyFormat, Value: []byte(wire.ReplyFormatBatch)},
		},
	}, wire.ReplyFormatBatch, len(elems), "")
}

// produceReply produces a reply record carrying n outcomes and counts it;
// commandID names a version 1 reply's command in the log of a failure.
func (p *Processor) produceReply(ctx context.Context, r *kgo.Record, format string, n int, commandID string) {
	p.metrics.replySent(format, n)
	p.cl.Produce(ctx, r, func(r *kgo.Record, err error) {
		if err != nil {
			p.metrics.repliesFailed.Inc()
			p.log.Warn("publish reply", "command_id", commandID, "outcomes", n, "reply_to", header(r, wire.HeaderReplyTo), "format", format, "err", err)
		}
	})
}

// answerOf is what a record's decision answers its requester with, if
// anything. A saga's middle says nothing: a transfer's debit (the money is
// on its way) and its credit; its end, the settle, answers the request that
// started it with the final outcome (Result.Final), under that request's
// command ID and on the route its record carried through the saga.
func answerOf(r ledger.Result) (ledger.Outcome, bool) {
	out := r.Outcome
	switch {
	case r.Final != nil:
		return *r.Final, true
	case out.Kind == ledger.KindTransferSettle, out.Kind == ledger.KindTransferCredit:
		return out, false
	case out.Kind == ledger.KindTransfer && out.Transfer != nil && out.Transfer.Status == ledger.TransferPending:
		return out, false
	}
	return out, true
}

// carried are the headers a transfer's records carry to its next step: the
// route, fingerprint and reply formats of the request that started it, so
// that its end can answer it (batched, if the requester reads that).
var carried = []string{wire.HeaderReplyTopic, wire.HeaderReplyPartition, wire.HeaderReplyTo, wire.HeaderFingerprint, wire.HeaderReplyFormats}

// storableKey is a record key as it can be stored and shown: the key itself
// when it is a valid account ID, else an ASCII-quoted form (Postgres text
// refuses NUL bytes and invalid UTF-8; a key it refuses would fail its batch
// on every retry and stall the partition).
func storableKey(key []byte) string {
	s := string(key)
	if ledger.ValidateAccountID("key", s) == nil {
		return s
	}
	q := strconv.QuoteToASCII(s)
	if len(q) > 200 {
		q = q[:200]
	}
	return q
}

// storableText makes a message safe for a Postgres text column.
func storableText(s string) string {
	return strings.ToValidUTF8(strings.ReplaceAll(s, "\x00", ""), "\uFFFD")
}

func header(r *kgo.Record, key string) string {
	for _, h := range r.Headers {
		if h.Key == key {
			return string(h.Value)
		}
	}
	return ""
}
