package main

import (
	"bytes"
	"crypto/sha256"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// chaosCmd is one command of the chaos load: what was sent, with which
// Idempotency-Key, and every answer it got, in order.
type chaosCmd struct {
	Kind    string // deposit, withdrawal, transfer, hold, capture, release, open
	Account string // the account the command is keyed by (a transfer's source)
	Key     string
	Path    string // URL path, relative to an API instance
	Body    string
	Amount  int64 // money moved if applied (a capture's captured amount)
	Answers []chaosAnswer
}

// chaosAnswer is one HTTP exchange: Status 0 is a transport error.
type chaosAnswer struct {
	At        time.Time
	API       int
	Status    int
	Code      string
	CommandID string
	HoldID    string
	Err       string
}

// acknowledged reports whether an HTTP status is a decided outcome
// (applied or rejected), as opposed to 202 (pending), 503 (unavailable or
// outcome unknown) and transport errors, which a client retries with the
// same Idempotency-Key.
func acknowledged(status int) bool {
	switch status {
	case http.StatusOK, http.StatusCreated, http.StatusConflict, http.StatusPreconditionFailed, http.StatusUnprocessableEntity:
		return true
	}
	return false
}

// retriable: the client does not know the outcome and asks again.
func retriable(status int) bool {
	return status == 0 || status == http.StatusAccepted || status == http.StatusServiceUnavailable
}

// final is the command's deciding answer, if it has one.
func (c *chaosCmd) final() (chaosAnswer, bool) {
	for _, a := range c.Answers {
		if !retriable(a.Status) {
			return a, true
		}
	}
	return chaosAnswer{}, false
}

// commandID is the ID the API gives a keyed command (api.keyedCommandID);
// the audit checks that it matches the command_id of every answer.
func (c *chaosCmd) commandID() string {
	sum := sha256.Sum256([]byte(c.Account + "\x00" + c.Key))
	return "idem-" + hex.EncodeToString(sum[:16])
}

// chaosClient sends commands to the API instances and records every
// answer. Each attempt is bounded by the HTTP client's timeout.
type chaosClient struct {
	apis []string
	http *http.Client
	// acks are the times of the acknowledged answers, for longestStall.
	mu           sync.Mutex
	acks         []time.Time
	sent, failed atomic.Int64
}

func newChaosClient(apis []string) *chaosClient {
	return &chaosClient{apis: apis, http: &http.Client{Timeout: 20 * time.Second}}
}

// send makes one attempt at cmd on API instance api and records the answer.
func (cl *chaosClient) send(cmd *chaosCmd, api int) chaosAnswer {
	cl.sent.Add(1)
	a := chaosAnswer{At: time.Now(), API: api}
	req, err := http.NewRequest(http.MethodPost, cl.apis[api]+cmd.Path, bytes.NewBufferString(cmd.Body))
	if err == nil {
		req.Header.Set("Idempotency-Key", cmd.Key)
		var res *http.Response
		if res, err = cl.http.Do(req); err == nil {
			raw, _ := io.ReadAll(res.Body)
			res.Body.Close()
			a.Status = res.StatusCode
			var doc struct {
				CommandID string `json:"command_id"`
				Code      string `json:"code"`
				Hold      *struct {
					ID string `json:"id"`
				} `json:"hold"`
			}
			_ = json.Unmarshal(raw, &doc)
			a.Code, a.CommandID = doc.Code, doc.CommandID
			if doc.Hold != nil {
				a.HoldID = doc.Hold.ID
			}
		}
	}
	if err != nil {
		a.Err = err.Error()
		cl.failed.Add(1)
	}
	a.At = time.Now()
	cmd.Answers = append(cmd.Answers, a)
	if acknowledged(a.Status) {
		cl.mu.Lock()
		cl.acks = append(cl.acks, a.At)
		cl.mu.Unlock()
	}
	return a
}

// longestStall is the longest time within [from, to] without an
// acknowledged answer.
func (cl *chaosClient) longestStall(from, to time.Time) time.Duration {
	cl.mu.Lock()
	acks := append([]time.Time(nil), cl.acks...)
	cl.mu.Unlock()
	longest, prev := time.Duration(0), from
	slices.SortFunc(acks, time.Time.Compare)
	for _, at := range acks {
		if at.Before(from) || at.After(to) {
			continue
		}
		longest = max(longest, at.Sub(prev))
		prev = at
	}
	return max(longest, to.Sub(prev))
}

// chaosLoad runs workers clients until stop is closed (or deadline), each
// sending one command at a time with a pause of think between them, over
// accounts and alternating API instances. A command whose answer is not
// final is left for resolve; each client goes on with new commands, so the
// load continues through every fault. It returns every command sent.
func chaosLoad(cl *chaosClient, accounts []string, workers int, think time.Duration, stop <-chan struct{}, deadline time.Time) []*chaosCmd {
	var (
		mu  sync.Mutex
		all []*chaosCmd
		wg  sync.WaitGroup
	)
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			rng := rand.New(rand.NewPCG(uint64(w), 15))
			var mine []*chaosCmd
			defer func() { mu.Lock(); all = append(all, mine...); mu.Unlock() }()
			var openHold *chaosCmd // an acknowledged hold, settled next
			for i := 0; time.Now().Before(deadline); i++ {
				select {
				case <-stop:
					return
				default:
				}
				cmd := nextCommand(rng, accounts, fmt.Sprintf("c%d-%d", w, i), openHold)
				openHold = nil
				mine = append(mine, cmd)
				a := cl.send(cmd, (w+i)%len(cl.apis))
				if cmd.Kind == "hold" && a.Status == http.StatusCreated && a.HoldID != "" {
					openHold = cmd
				}
				time.Sleep(think)
			}
		}()
	}
	wg.Wait()
	return all
}

// nextCommand picks a command: the settlement of hold when there is one,
// else a deposit, withdrawal, transfer or hold on random accounts.
func nextCommand(rng *rand.Rand, accounts []string, key string, hold *chaosCmd) *chaosCmd {
	if hold != nil {
		id := hold.Answers[len(hold.Answers)-1].HoldID
		if rng.IntN(2) == 0 {
			amount := 1 + rng.Int64N(hold.Amount)
			return &chaosCmd{Kind: "capture", Account: hold.Account, Key: key, Amount: amount,
				Path: "/v1/accounts/" + hold.Account + "/holds/" + id + "/capture", Body: fmt.Sprintf(`{"amount":%d}`, amount)}
		}
		return &chaosCmd{Kind: "release", Account: hold.Account, Key: key,
			Path: "/v1/accounts/" + hold.Account + "/holds/" + id + "/release"}
	}
	acc := accounts[rng.IntN(len(accounts))]
	switch n := rng.IntN(20); {
	case n < 6:
		amount := 1 + rng.Int64N(50)
		return &chaosCmd{Kind: "deposit", Account: acc, Key: key, Amount: amount,
			Path: "/v1/accounts/" + acc + "/deposits", Body: fmt.Sprintf(`{"amount":%d}`, amount)}
	case n < 11:
		amount := 1 + rng.Int64N(80)
		return &chaosCmd{Kind: "withdrawal", Account: acc, Key: key, Amount: amount,
			Path: "/v1/accounts/" + acc + "/withdrawals", Body: fmt.Sprintf(`{"amount":%d}`, amount)}
	case n < 15:
		to := accounts[rng.IntN(len(accounts))]
		for to == acc {
			to = accounts[rng.IntN(len(accounts))]
		}
		amount := 1 + rng.Int64N(60)
		return &chaosCmd{Kind: "transfer", Account: acc, Key: key, Amount: amount,
			Path: "/v1/transfers", Body: fmt.Sprintf(`{"from":%q,"to":%q,"amount":%d,"currency":"USD"}`, acc, to, amount)}
	default:
		amount := 1 + rng.Int64N(40)
		return &chaosCmd{Kind: "hold", Account: acc, Key: key, Amount: amount,
			Path: "/v1/accounts/" + acc + "/holds", Body: fmt.Sprintf(`{"amount":%d,"expires_in":"1h"}`, amount)}
	}
}

// resolve asks again, with the same key, for every command without a final
// answer, until each has one or deadline passes.
func resolve(cl *chaosClient, cmds []*chaosCmd, workers int, deadline time.Time) {
	var (
		open []*chaosCmd
		next atomic.Int64
		wg   sync.WaitGroup
	)
	for _, c := range cmds {
		if _, ok := c.final(); !ok {
			open = append(open, c)
		}
	}
	for w := range workers {
		wg.Add(1)
		go func() {
			defer wg.Done()
			for {
				i := int(next.Add(1)) - 1
				if i >= len(open) {
					return
				}
				c := open[i]
				for n := 0; time.Now().Before(deadline); n++ {
					if a := cl.send(c, (w+n)%len(cl.apis)); !retriable(a.Status) {
						break
					}
					time.Sleep(300 * time.Millisecond)
				}
			}
		}()
	}
	wg.Wait()
}
