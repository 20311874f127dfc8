package client

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"math/rand/v2"
	"net/http"
	"net/url"
	"strconv"
	"strings"
	"time"

	"github.com/google/uuid"
)

// Client calls one Ordo API (a base URL, usually a load balancer in front
// of several instances). It is safe for concurrent use.
type Client struct {
	base        *url.URL
	http        *http.Client
	maxAttempts int
	minBackoff  time.Duration
	maxBackoff  time.Duration
	apiKey      string // sent as Authorization: Bearer, if set
	// sleep waits d or until ctx ends; tests replace it.
	sleep func(ctx context.Context, d time.Duration) error
}

// Option configures a Client.
type Option func(*Client)

// WithHTTPClient sets the HTTP client. Default: http.DefaultClient. Give
// it no Timeout shorter than the server's answer time (9 s with the
// defaults); bound calls with their context instead.
func WithHTTPClient(hc *http.Client) Option { return func(c *Client) { c.http = hc } }

// WithAPIKey sets the API key (ordo_<id>_<secret>, from "ordo apikey
// create") sent with every request as Authorization: Bearer. Without it
// the client sends no key, which only an API run with --auth=false (or
// ordo dev) accepts. Refusals are ErrUnauthorized (no valid key) and
// ErrForbidden (beyond the key's scope or accounts).
func WithAPIKey(key string) Option { return func(c *Client) { c.apiKey = key } }

// WithMaxAttempts bounds the attempts in a row that end in a 503 or a
// network error (n >= 1; 1: no retry). Default: 5. Following a 202 is
// bounded by the context only.
func WithMaxAttempts(n int) Option { return func(c *Client) { c.maxAttempts = n } }

// WithBackoff sets the retry backoff: the wait before retry n is random in
// [0, min(max, min·2^n)] (full jitter), and never shorter than a
// Retry-After. Defaults: 100ms and 5s.
func WithBackoff(minWait, maxWait time.Duration) Option {
	return func(c *Client) { c.minBackoff, c.maxBackoff = minWait, maxWait }
}

// New returns a client of the Ordo API at baseURL, such as
// "http://127.0.0.1:8080".
func New(baseURL string, opts ...Option) (*Client, error) {
	u, err := url.Parse(baseURL)
	if err != nil {
		return nil, fmt.Errorf("client: base URL: %w", err)
	}
	if u.Scheme != "http" && u.Scheme != "https" || u.Host == "" {
		return nil, fmt.Errorf("client: base URL %q: want http(s)://host[:port]", baseURL)
	}
	u.Path = strings.TrimSuffix(u.Path, "/")
	c := &Client{base: u, http: http.DefaultClient, maxAttempts: 5, minBackoff: 100 * time.Millisecond, maxBackoff: 5 * time.Second, sleep: sleep}
	for _, o := range opts {
		o(c)
	}
	switch {
	case c.http == nil:
		return nil, errors.New("client: nil *http.Client")
	case c.maxAttempts < 1:
		return nil, fmt.Errorf("client: max attempts %d: want at least 1", c.maxAttempts)
	case c.minBackoff <= 0 || c.maxBackoff < c.minBackoff:
		return nil, fmt.Errorf("client: backoff %s to %s: want 0 < min <= max", c.minBackoff, c.maxBackoff)
	}
	return c, nil
}

// CallOption sets a header of one command call.
type CallOption func(*call)

type call struct {
	key     string
	ifMatch string
}

// IfMatch makes the command conditional on the account's version (its
// ETag, ledger.Account.Version): refused with ErrPreconditionFailed if the
// account has moved on when the command is applied.
func IfMatch(version int64) CallOption {
	return func(c *call) { c.ifMatch = `"` + strconv.FormatInt(version, 10) + `"` }
}

// IfExists makes the command conditional on the account existing
// (If-Match: *).
func IfExists() CallOption { return func(c *call) { c.ifMatch = "*" } }

// IdempotencyKey sets the call's Idempotency-Key (at most 255 characters;
// scoped to the account). Use it to retry a call across process restarts:
// the same key and request return the first outcome. Default: a new
// UUIDv7 per call.
func IdempotencyKey(key string) CallOption { return func(c *call) { c.key = key } }

// PendingError is returned when the context ends while a command is
// accepted (202) but not decided: it is decided by Deadline, never later.
// Look it up at Location, or call again with the same IdempotencyKey.
type PendingError struct {
	CommandID string
	// IdempotencyKey is the key the call used.
	IdempotencyKey string
	Location       string
	Deadline       *time.Time
	Err            error // the context's error
}

func (e *PendingError) Error() string {
	return fmt.Sprintf("ordo: command %s pending at %s: %v", e.CommandID, e.Location, e.Err)
}

func (e *PendingError) Unwrap() error { return e.Err }

// response is a decoded 2xx answer.
type response struct {
	status int
	header http.Header
	body   []byte
}

// command sends a command (POST path with body) until it is decided:
// 503s and network errors are retried, 202s re-sent, all with one
// Idempotency-Key. A 2xx other than 202 is decoded into out.
func (c *Client) command(ctx context.Context, path string, body any, opts []CallOption, out *Result) error {
	var cl call
	for _, o := range opts {
		o(&cl)
	}
	if cl.key == "" {
		id, err := uuid.NewV7()
		if err != nil {
			return fmt.Errorf("client: idempotency key: %w", err)
		}
		cl.key = id.String()
	}
	var raw []byte
	if body != nil {
		var err error
		if raw, err = json.Marshal(body); err != nil {
			return fmt.Errorf("client: encode %s: %w", path, err)
		}
	}
	header := http.Header{"Idempotency-Key": {cl.key}}
	if cl.ifMatch != "" {
		header.Set("If-Match", cl.ifMatch)
	}
	if raw != nil {
		header.Set("Content-Type", "application/json")
	}
	var pending *PendingError
	for follow := 0; ; follow++ {
		res, err := c.do(ctx, http.MethodPost, path, raw, header)
		if err != nil {
			if pending != nil && ctx.Err() != nil {
				pending.Err = err
				return pending
			}
			return err
		}
		*out = Result{}
		if err := json.Unmarshal(res.body, out); err != nil {
			return fmt.Errorf("client: decode answer of POST %s: %w", path, err)
		}
		out.Location = res.header.Get("Location")
		if res.status != http.StatusAccepted {
			return nil
		}
		pending = &PendingError{CommandID: out.CommandID, IdempotencyKey: cl.key, Location: out.Location, Deadline: out.Deadline}
		if err := c.sleep(ctx, c.backoff(follow)); err != nil {
			pending.Err = err
			return pending
		}
	}
}

// get reads path (with query) into out, retrying 503s and network errors.
func (c *Client) get(ctx context.Context, path string, query url.Values, out any) error {
	if len(query) > 0 {
		path += "?" + query.Encode()
	}
	res, err := c.do(ctx, http.MethodGet, path, nil, nil)
	if err != nil {
		return err
	}
	if err := json.Unmarshal(res.body, out); err != nil {
		return fmt.Errorf("client: decode answer of GET %s: %w", path, err)
	}
	return nil
}

// do sends one request until it gets an answer that is not a 503, for at
// most maxAttempts attempts. A 2xx is returned; any other status is
// returned as a *Problem.
func (c *Client) do(ctx context.Context, method, path string, body []byte, header http.Header) (response, error) {
	target := c.base.String() + path
	for attempt := 1; ; attempt++ {
		res, retryAfter, err := c.once(ctx, method, target, body, header)
		if err == nil {
			return res, nil
		}
		if !retryable(err) {
			return response{}, err
		}
		if ctx.Err() != nil {
			return response{}, fmt.Errorf("%s %s: %w", method, path, ctx.Err())
		}
		if attempt >= c.maxAttempts {
			return response{}, fmt.Errorf("%s %s: %d attempts: %w", method, path, attempt, err)
		}
		wait := max(c.backoff(attempt-1), retryAfter)
		if serr := c.sleep(ctx, wait); serr != nil {
			return response{}, fmt.Errorf("%s %s: %w (last attempt: %w)", method, path, serr, err)
		}
	}
}

// transportError is a request that got no answer: it may or may not have
// reached the server.
type transportError struct{ err error }

func (e *transportError) Error() string { return e.err.Error() }
func (e *transportError) Unwrap() error { return e.err }

// retryable: a 503, or no answer at all.
func retryable(err error) bool {
	var te *transportError
	if errors.As(err, &te) {
		return true
	}
	var p *Problem
	return errors.As(err, &p) && p.Status == http.StatusServiceUnavailable
}

// once sends one attempt. It returns the answer, the Retry-After of a 503,
// and a *Problem or a *transportError.
func (c *Client) once(ctx context.Context, method, target string, body []byte, header http.Header) (response, time.Duration, error) {
	var rd io.Reader
	if body != nil {
		rd = bytes.NewReader(body)
	}
	req, err := http.NewRequestWithContext(ctx, method, target, rd)
	if err != nil {
		return response{}, 0, fmt.Errorf("client: %s %s: %w", method, target, err)
	}
	for k, v := range header {
		req.Header[k] = v
	}
	req.Header.Set("Accept", "application/json, application/problem+json")
	if c.apiKey != "" {
		req.Header.Set("Authorization", "Bearer "+c.apiKey)
	}
	res, err := c.http.Do(req)
	if err != nil {
		return response{}, 0, &transportError{err}
	}
	defer res.Body.Close()
	raw, err := io.ReadAll(io.LimitReader(res.Body, 16<<20))
	if err != nil {
		return response{}, 0, &transportError{fmt.Errorf("%s %s: read answer: %w", method, target, err)}
	}
	if res.StatusCode >= 200 && res.StatusCode < 300 {
		return response{status: res.StatusCode, header: res.Header, body: raw}, 0, nil
	}
	p := &Problem{}
	if json.Unmarshal(raw, p) != nil || p.Status == 0 {
		// Not a problem document (a proxy's page): keep the status.
		p = &Problem{Status: res.StatusCode, Title: http.StatusText(res.StatusCode)}
	}
	p.Status = res.StatusCode
	return response{}, retryAfter(res.Header.Get("Retry-After"), time.Now()), p
}

// retryAfter reads a Retry-After header: seconds or an HTTP date. Absent or
// malformed: 0.
func retryAfter(h string, now time.Time) time.Duration {
	if h == "" {
		return 0
	}
	if s, err := strconv.Atoi(h); err == nil && s >= 0 {
		return time.Duration(s) * time.Second
	}
	if t, err := http.ParseTime(h); err == nil && t.After(now) {
		return t.Sub(now)
	}
	return 0
}

// backoff is the wait before retry n (from 0): full jitter over
// min(maxBackoff, minBackoff·2^n).
func (c *Client) backoff(n int) time.Duration {
	ceil := c.maxBackoff
	if n < 32 {
		if d := c.minBackoff << n; d > 0 && d < ceil {
			ceil = d
		}
	}
	return time.Duration(rand.Int64N(int64(ceil) + 1))
}

func sleep(ctx context.Context, d time.Duration) error {
	t := time.NewTimer(d)
	defer t.Stop()
	select {
	case <-t.C:
		return nil
	case <-ctx.Done():
		return ctx.Err()
	}
}
