package bench

import (
	"bufio"
	"context"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// countingServer answers every request with its method and body, and counts
// the connections it accepted.
func countingServer(t *testing.T, h http.HandlerFunc) (*httptest.Server, *atomic.Int64) {
	t.Helper()
	var conns atomic.Int64
	ts := httptest.NewUnstartedServer(h)
	ts.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	ts.Start()
	t.Cleanup(ts.Close)
	return ts, &conns
}

func echoBody(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	fmt.Fprintf(w, "%s %s %s", r.Method, r.Header.Get("Idempotency-Key"), b)
}

func get(t *testing.T, cl *http.Client, method, url, body string) (int, string, error) {
	t.Helper()
	req, err := http.NewRequest(method, url, strings.NewReader(body))
	if err != nil {
		t.Fatal(err)
	}
	req.Header.Set("Idempotency-Key", "k1")
	res, err := cl.Do(req)
	if err != nil {
		return 0, "", err
	}
	defer res.Body.Close()
	b, err := io.ReadAll(res.Body)
	return res.StatusCode, string(b), err
}

func TestConnTransportKeepsConnectionsAlive(t *testing.T) {
	ts, conns := countingServer(t, echoBody)
	cl := &http.Client{Transport: newConnTransport(4), Timeout: 5 * time.Second}
	for i := 0; i < 50; i++ {
		status, body, err := get(t, cl, http.MethodPost, ts.URL+"/x", fmt.Sprintf(`{"n":%d}`, i))
		if err != nil || status != http.StatusOK || body != fmt.Sprintf(`POST k1 {"n":%d}`, i) {
			t.Fatalf("request %d: %d %q %v", i, status, body, err)
		}
	}
	if n := conns.Load(); n != 1 {
		t.Fatalf("50 requests one after the other used %d connections, want 1", n)
	}
}

// oneShotServer answers one request per connection with a keep-alive
// response and then closes the connection, as a server whose idle timeout
// just struck does. It returns the bodies it received.
func oneShotServer(t *testing.T) (url string, bodies chan string) {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { ln.Close() })
	bodies = make(chan string, 16)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			req, err := http.ReadRequest(bufio.NewReader(c))
			if err == nil {
				b, _ := io.ReadAll(req.Body)
				bodies <- string(b)
				fmt.Fprintf(c, "HTTP/1.1 200 OK\r\nContent-Length: 2\r\n\r\nok")
			}
			time.Sleep(50 * time.Millisecond) // the client pools the connection
			c.Close()
		}
	}()
	return "http://" + ln.Addr().String(), bodies
}

func TestConnTransportResendsOnDeadIdleConnection(t *testing.T) {
	url, bodies := oneShotServer(t)
	cl := &http.Client{Transport: newConnTransport(4), Timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		want := fmt.Sprintf(`{"amount":%d}`, i)
		status, body, err := get(t, cl, http.MethodPost, url+"/x", want)
		if err != nil || status != http.StatusOK || body != "ok" {
			t.Fatalf("request %d on a connection the server closed: %d %q %v", i, status, body, err)
		}
		if got := <-bodies; got != want {
			t.Fatalf("request %d: the server got body %q, want %q", i, got, want)
		}
		time.Sleep(100 * time.Millisecond) // the server has closed it by now
	}
}

func TestConnTransportHonoursConnectionClose(t *testing.T) {
	ts, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		w.Header().Set("Connection", "close")
		echoBody(w, r)
	})
	tr := newConnTransport(4)
	cl := &http.Client{Transport: tr, Timeout: 5 * time.Second}
	for i := 0; i < 3; i++ {
		if status, _, err := get(t, cl, http.MethodGet, ts.URL+"/x", ""); err != nil || status != http.StatusOK {
			t.Fatalf("request %d: %d %v", i, status, err)
		}
	}
	if n := conns.Load(); n != 3 {
		t.Fatalf("3 requests answered with Connection: close used %d connections, want 3", n)
	}
	tr.mu.Lock()
	defer tr.mu.Unlock()
	for addr, l := range tr.idle {
		if len(l) > 0 {
			t.Fatalf("%d closed connections to %s kept in the pool", len(l), addr)
		}
	}
}

func TestConnTransportTimesOut(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts, conns := countingServer(t, func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/slow" {
			<-release
		}
		echoBody(w, r)
	})
	cl := &http.Client{Transport: newConnTransport(4), Timeout: 200 * time.Millisecond}
	began := time.Now()
	_, _, err := get(t, cl, http.MethodPost, ts.URL+"/slow", "{}")
	if err == nil {
		t.Fatal("a request the server never answered succeeded")
	}
	if el := time.Since(began); el > 3*time.Second {
		t.Fatalf("the request's 200 ms timeout fired after %v", el)
	}
	// The timed-out connection is spent; the next request gets a new one.
	cl.Timeout = 5 * time.Second
	if status, body, err := get(t, cl, http.MethodGet, ts.URL+"/fast", ""); err != nil || status != http.StatusOK || body != "GET k1 " {
		t.Fatalf("request after a timeout: %d %q %v", status, body, err)
	}
	if n := conns.Load(); n != 2 {
		t.Fatalf("used %d connections, want 2 (the timed-out one is not reused)", n)
	}
}

func TestConnTransportCancel(t *testing.T) {
	release := make(chan struct{})
	defer close(release)
	ts, _ := countingServer(t, func(w http.ResponseWriter, r *http.Request) { <-release })
	ctx, cancel := context.WithCancel(context.Background())
	req, err := http.NewRequestWithContext(ctx, http.MethodGet, ts.URL, nil)
	if err != nil {
		t.Fatal(err)
	}
	time.AfterFunc(100*time.Millisecond, cancel)
	_, err = newConnTransport(4).RoundTrip(req)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("cancelled request: %v, want context.Canceled", err)
	}
}

func TestConnTransportRefusesHTTPS(t *testing.T) {
	req, _ := http.NewRequest(http.MethodGet, "https://127.0.0.1:1/", nil)
	if _, err := newConnTransport(4).RoundTrip(req); err == nil {
		t.Fatal("an https URL was accepted by a plain-HTTP transport")
	}
}
