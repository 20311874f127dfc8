package consumer

import (
	"context"
	"strconv"
	"time"

	"github.com/twmb/franz-go/pkg/kgo"

	"github.com/ordo-dev/ordo/ledger"
	"github.com/ordo-dev/ordo/wire"
)

// Hold expiry. A hold's expiry is decided on log time (ledger.Decide), but
// its money must come back without any request arriving for its account.
// So each owner scans its partitions' open holds every HoldExpiryInterval
// and, for each one past its expiry, produces an expire_hold command into
// the account's own partition. That command is ordered and applied like any
// other: it expires the hold only if the hold is still open and the
// command's record time is at or past the expiry, so a hold is settled once
// however many expiry commands reach it, and a capture that reaches the log
// first still wins if its own record time was before the expiry.
//
// Each scan names its commands afresh ("expire:<hold>:<unix ms>"): a
// command refused because the broker stamped it before the expiry (a
// LogAppendTime topic on a slow clock) must not block the next scan's under
// the same ID. A scan skips the holds it produced for within the last few
// intervals, so a hold gets one expiry command per scan at most while its
// first is on its way.
//
// Bound: a hold is expired within HoldExpiryInterval plus one produce and
// one batch of its expiry, once its partition has an owner; a partition
// without one is scanned by its next owner as soon as it claims it.

// dueHoldsPerScan bounds one scan; the rest wait for the next.
const dueHoldsPerScan = 1000

func (p *Processor) runExpiry(ctx context.Context) {
	tick := time.NewTicker(p.cfg.HoldExpiryInterval)
	defer tick.Stop()
	sent := map[string]time.Time{} // hold ID -> when its expiry was produced
	for {
		select {
		case <-ctx.Done():
			return
		case <-tick.C:
		}
		p.expireDue(ctx, sent, time.Now())
	}
}

// expireDue produces an expiry command for each due hold of the owned
// partitions not sent recently, and forgets old sends.
func (p *Processor) expireDue(ctx context.Context, sent map[string]time.Time, now time.Time) {
	resend := 5 * p.cfg.HoldExpiryInterval
	for id, at := range sent {
		if now.Sub(at) > resend {
			delete(sent, id)
		}
	}
	owned := p.Owned()
	if len(owned) == 0 {
		return
	}
	scanCtx, cancel := context.WithTimeout(ctx, max(p.cfg.HoldExpiryInterval, time.Second))
	due, err := p.store.DueHolds(scanCtx, p.cfg.Topic, owned, now, dueHoldsPerScan)
	cancel()
	if err != nil {
		if ctx.Err() == nil {
			p.log.Warn("scan for expired holds", "err", err)
		}
		return
	}
	for _, h := range due {
		if _, ok := sent[h.ID]; ok {
			continue
		}
		cmd := ledger.Command{
			ID:   "expire:" + h.ID + ":" + strconv.FormatInt(now.UnixMilli(), 10),
			Kind: ledger.KindExpireHold, AccountID: h.AccountID, HoldID: h.ID,
		}
		value, err := wire.EncodeCommand(cmd)
		if err != nil {
			p.log.Error("encode hold expiry", "hold_id", h.ID, "err", err)
			continue
		}
		sent[h.ID] = now
		holdID := h.ID
		p.cl.Produce(ctx, &kgo.Record{
			Topic:     p.cfg.Topic,
			Partition: int32(p.PartitionOf(h.AccountID)),
			Key:       []byte(h.AccountID),
			Value:     value,
			Timestamp: now,
			Headers:   []kgo.RecordHeader{{Key: wire.HeaderCommandID, Value: []byte(cmd.ID)}},
		}, func(_ *kgo.Record, err error) {
			if err != nil && ctx.Err() == nil {
				p.log.Warn("produce hold expiry; the next scan tries again", "hold_id", holdID, "err", err)
			}
		})
		p.metrics.holdExpiries.Inc()
	}
}
