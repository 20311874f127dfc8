package api

import (
	"bufio"
	"fmt"
	"io"
	"log/slog"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// serveRaw serves a fake-backed Server with the production http.Server
// settings on a loopback listener capped at maxConns, for tests that speak
// raw TCP. It returns the address and a count of ERROR log lines.
func serveRaw(t *testing.T, cfg HTTPConfig, maxConns int) (addr string, errs *atomic.Int64) {
	t.Helper()
	addr, errs, _ = serveRawFake(t, cfg, maxConns, false)
	return addr, errs
}

// serveRawFake is serveRaw with the fake ledger, silent if asked (it never
// decides, so requests wait out their budget).
func serveRawFake(t *testing.T, cfg HTTPConfig, maxConns int, silent bool) (addr string, errs *atomic.Int64, f *ledgerFake) {
	t.Helper()
	errs = new(atomic.Int64)
	f = newFake()
	f.silent = silent
	f.server = New(Config{WaitBudget: time.Second, Logger: slog.New(errorCounter{errs})}, f, f)
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := f.server.HTTPServer(cfg)
	go func() { _ = srv.Serve(LimitListener(ln, maxConns)) }()
	t.Cleanup(func() { _ = srv.Close() })
	return ln.Addr().String(), errs, f
}

func dial(t *testing.T, addr string) *net.TCPConn {
	t.Helper()
	c, err := net.Dial("tcp", addr)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { _ = c.Close() })
	return c.(*net.TCPConn)
}

// TestTruncatedBodyIs400: issue 11 item 16. A client that announces 100
// bytes, sends 12 and half-closes gets a 400 problem, and nothing is logged
// as an error.
func TestTruncatedBodyIs400(t *testing.T) {
	addr, errs := serveRaw(t, HTTPConfig{}, 0)
	c := dial(t, addr)
	body := `{"id":"alic"` // 12 bytes
	fmt.Fprintf(c, "POST /v1/accounts HTTP/1.1\r\nHost: ordo\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n%s", body)
	if err := c.CloseWrite(); err != nil {
		t.Fatal(err)
	}
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(c), nil)
	if err != nil {
		t.Fatalf("got %v, want a response", err)
	}
	doc, _ := io.ReadAll(res.Body)
	if res.StatusCode != http.StatusBadRequest || res.Header.Get("Content-Type") != "application/problem+json" {
		t.Fatalf("got %d %s %s, want a 400 problem", res.StatusCode, res.Header.Get("Content-Type"), doc)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("got %d ERROR lines for a truncated body, want 0", n)
	}
}

// TestSlowBodyIsDisconnected: issue 11 item 12. A client that sends half a
// body and stalls is disconnected once the read timeout has passed, with
// no ERROR line.
func TestSlowBodyIsDisconnected(t *testing.T) {
	addr, errs := serveRaw(t, HTTPConfig{ReadTimeout: 300 * time.Millisecond}, 0)
	c := dial(t, addr)
	fmt.Fprintf(c, "POST /v1/accounts HTTP/1.1\r\nHost: ordo\r\nContent-Type: application/json\r\nContent-Length: 100\r\n\r\n{\"id\":")
	// Whatever the server answers, it must then close the connection: read
	// to EOF, bounded by a deadline far above the read timeout.
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	got, err := io.ReadAll(c)
	if err != nil {
		t.Fatalf("got %v after %q, want the server to close the connection", err, got)
	}
	if !strings.HasPrefix(string(got), "HTTP/1.1 400 ") {
		t.Errorf("got %q, want a 400 before the connection closed", got)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("got %d ERROR lines for a slow client, want 0", n)
	}
}

// TestIdleConnectionIsClosed: issue 11 item 12. A kept-alive connection
// with no next request is closed after the idle timeout.
func TestIdleConnectionIsClosed(t *testing.T) {
	addr, _ := serveRaw(t, HTTPConfig{IdleTimeout: 200 * time.Millisecond}, 0)
	c := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ordo\r\n\r\n")
	r := bufio.NewReader(c)
	res, err := http.ReadResponse(r, nil)
	if err != nil {
		t.Fatal(err)
	}
	_, _ = io.Copy(io.Discard, res.Body)
	res.Body.Close()
	if _, err := r.ReadByte(); err != io.EOF {
		t.Fatalf("got %v, want the idle connection closed (EOF)", err)
	}
}

// TestWriteTimeoutIsNotAnError: issue 11 item 12. A response that would
// end after the write timeout is cut off, and that is not an ERROR line.
func TestWriteTimeoutIsNotAnError(t *testing.T) {
	addr, errs, _ := serveRawFake(t, HTTPConfig{WriteTimeout: 200 * time.Millisecond}, 0, true)
	c := dial(t, addr)
	_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
	body := `{"id":"alice","currency":"USD"}`
	fmt.Fprintf(c, "POST /v1/accounts HTTP/1.1\r\nHost: ordo\r\nContent-Length: %d\r\n\r\n%s", len(body), body)
	got, err := io.ReadAll(c) // the wait budget (1s) outlasts the write timeout
	if err != nil || len(got) != 0 {
		t.Fatalf("got %q, %v; want the connection closed without an answer", got, err)
	}
	if n := errs.Load(); n != 0 {
		t.Fatalf("got %d ERROR lines for a write timeout, want 0", n)
	}
}

// TestConnectionCap: issue 11 item 12. With --http-max-conns 2, a third
// client is not served while two connections are open, and is served once
// one of them closes.
func TestConnectionCap(t *testing.T) {
	addr, _ := serveRaw(t, HTTPConfig{}, 2)
	get := func(c net.Conn) error {
		if _, err := io.WriteString(c, "GET /healthz HTTP/1.1\r\nHost: ordo\r\n\r\n"); err != nil {
			return err
		}
		res, err := http.ReadResponse(bufio.NewReader(c), nil)
		if err != nil {
			return err
		}
		_, _ = io.Copy(io.Discard, res.Body)
		return res.Body.Close()
	}
	first, second := dial(t, addr), dial(t, addr)
	for _, c := range []net.Conn{first, second} {
		_ = c.SetReadDeadline(time.Now().Add(10 * time.Second))
		if err := get(c); err != nil { // served; kept alive, so still counted
			t.Fatal(err)
		}
	}
	third := dial(t, addr) // the kernel accepts it; the server does not yet
	_ = third.SetReadDeadline(time.Now().Add(500 * time.Millisecond))
	if err := get(third); err == nil {
		t.Fatal("got an answer on a third connection, want it to wait while two are open")
	} else if ne, ok := err.(net.Error); !ok || !ne.Timeout() {
		t.Fatalf("got %v, want the third request to wait", err)
	}
	_ = first.Close()
	// The request already sent is answered once a slot frees.
	_ = third.SetReadDeadline(time.Now().Add(10 * time.Second))
	res, err := http.ReadResponse(bufio.NewReader(third), nil)
	if err != nil {
		t.Fatalf("got %v, want the third connection served after the first closed", err)
	}
	res.Body.Close()
	if res.StatusCode != http.StatusOK {
		t.Fatalf("got %d, want 200", res.StatusCode)
	}
}

// TestHeadAnswersAsGet: issue 11 item 17. HEAD on a GET route answers as
// GET does (status and headers), without a body.
func TestHeadAnswersAsGet(t *testing.T) {
	_, ts := newTestServer(t, time.Second)
	if res, doc := request(t, ts, "POST", "/v1/accounts", `{"id":"alice","currency":"USD"}`); res.StatusCode != 201 {
		t.Fatalf("open: got %d %v", res.StatusCode, doc)
	}
	for _, path := range []string{"/healthz", "/v1/accounts/alice", "/v1/accounts/nobody", "/v1/commands/unknown", "/metrics"} {
		t.Run(path, func(t *testing.T) {
			get := do(t, ts, "GET", path)
			head := do(t, ts, "HEAD", path)
			if head.StatusCode != get.StatusCode {
				t.Fatalf("got HEAD %d, want %d as GET", head.StatusCode, get.StatusCode)
			}
			for _, h := range []string{"Content-Type", "ETag"} {
				if head.Header.Get(h) != get.Header.Get(h) {
					t.Errorf("got HEAD %s %q, want %q as GET", h, head.Header.Get(h), get.Header.Get(h))
				}
			}
			if len(head.body) != 0 {
				t.Errorf("got a HEAD body %q, want none", head.body)
			}
		})
	}
}

// TestErrorsAreProblems: issue 11 item 17. Every error the application
// writes is a problem document; a 405 names the allowed methods.
func TestErrorsAreProblems(t *testing.T) {
	_, ts := newTestServer(t, time.Second)
	tests := []struct {
		method, path string
		status       int
	}{
		{"GET", "/nowhere", 404},
		{"DELETE", "/v1/accounts/alice", 405},
		{"PUT", "/healthz", 405},
		{"M12345", "/v1/accounts", 405},
		{"GET", "/v1/accounts/..%2e", 400},
		{"GET", "/v1/accounts/nobody", 404},
		{"POST", "/v1/accounts", 400},
	}
	for _, tt := range tests {
		t.Run(tt.method+" "+tt.path, func(t *testing.T) {
			res := do(t, ts, tt.method, tt.path)
			if res.StatusCode != tt.status || res.Header.Get("Content-Type") != "application/problem+json" {
				t.Fatalf("got %d %q %s, want a %d problem", res.StatusCode, res.Header.Get("Content-Type"), res.body, tt.status)
			}
			if tt.status == 405 && res.Header.Get("Allow") == "" {
				t.Errorf("got no Allow header on a 405")
			}
		})
	}
}

type response struct {
	*http.Response
	body []byte
}

func do(t *testing.T, ts *httptest.Server, method, path string) response {
	t.Helper()
	req, err := http.NewRequest(method, ts.URL+path, nil)
	if err != nil {
		t.Fatal(err)
	}
	res, err := http.DefaultClient.Do(req)
	if err != nil {
		t.Fatal(err)
	}
	defer res.Body.Close()
	body, _ := io.ReadAll(res.Body)
	return response{res, body}
}

// TestMetricLabelsAreBounded: issue 11 item 11. Arbitrary methods and paths
// do not add series to the request histogram: routes are templates or
// "unmatched", methods a closed set or "other".
func TestMetricLabelsAreBounded(t *testing.T) {
	f, ts := newTestServer(t, time.Second)
	series := func() map[string]bool {
		t.Helper()
		mfs, err := f.server.metrics.reg.Gather()
		if err != nil {
			t.Fatal(err)
		}
		set := map[string]bool{}
		for _, mf := range mfs {
			if mf.GetName() != "ordo_http_request_duration_seconds" {
				continue
			}
			for _, m := range mf.GetMetric() {
				var labels []string
				for _, l := range m.GetLabel() {
					labels = append(labels, l.GetName()+"="+l.GetValue())
				}
				set[strings.Join(labels, ",")] = true
			}
		}
		return set
	}
	round := func(i int) {
		do(t, ts, fmt.Sprintf("M%05d", i), "/v1/accounts")               // unknown method, known route
		do(t, ts, fmt.Sprintf("X%05d", i), fmt.Sprintf("/random/%d", i)) // unknown method, no route
		do(t, ts, "GET", fmt.Sprintf("/v1/accounts/acct-%d", i))         // a template with a new ID
		do(t, ts, "GET", fmt.Sprintf("/nowhere/%d/deeper", i))           // no route
	}
	round(0)
	before := series()
	for i := 1; i <= 20; i++ {
		round(i)
	}
	after := series()
	if len(after) != len(before) {
		t.Fatalf("got %d series after 20 more rounds of new methods and paths, want %d:\n%v", len(after), len(before), after)
	}
	for s := range after {
		if strings.Contains(s, "M0") || strings.Contains(s, "X0") || strings.Contains(s, "acct-") || strings.Contains(s, "random") || strings.Contains(s, "nowhere") {
			t.Errorf("got series %s, want only route templates and standard methods", s)
		}
	}
	// A body refused for its declared length is observed too.
	req, _ := http.NewRequest("POST", ts.URL+"/v1/accounts", strings.NewReader(strings.Repeat(" ", 70000)))
	if res, err := http.DefaultClient.Do(req); err == nil {
		res.Body.Close()
	}
	after = series()
	for _, want := range []string{"method=other,route=/v1/accounts,status=405", "method=other,route=unmatched,status=404",
		"method=GET,route=/v1/accounts/:id,status=404", "method=POST,route=/v1/accounts,status=413"} {
		if !after[want] {
			t.Errorf("got no series %s in %v", want, after)
		}
	}
}
