package bench

import (
	"bufio"
	"bytes"
	"context"
	"errors"
	"io"
	"net"
	"net/http"
	"sync"
	"time"
)

// connTransport is the load generator's HTTP/1.1 transport: a pool of
// keep-alive connections, each request written and its response read on
// the calling goroutine. net/http's Transport hands every request to two
// more goroutines per connection (a write loop and a read loop); at
// thousands of requests a second on a small machine those hand-offs cost
// the systems under test CPU time they would otherwise have. The wire
// format is net/http's own (Request.Write, ReadResponse); only the pooling
// is here.
//
// Every response body is read whole before RoundTrip returns (the
// contract's bodies are small), so a connection goes back to the pool at
// once. A request that fails on a pooled connection before any of the
// response arrived (the server closed it while idle) is sent once more on
// a new connection if its body can be replayed, as net/http does.
type connTransport struct {
	dial func(ctx context.Context, network, addr string) (net.Conn, error)

	mu   sync.Mutex
	idle map[string][]*pconn // by host:port
	max  int                 // most idle connections kept per host
}

type pconn struct {
	c  net.Conn
	br *bufio.Reader
	bw *bufio.Writer
}

func newConnTransport(maxIdle int) *connTransport {
	d := &net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}
	return &connTransport{dial: d.DialContext, idle: map[string][]*pconn{}, max: maxIdle}
}

// errNoResponse marks a failure before any of the response was read.
var errNoResponse = errors.New("no response")

func (t *connTransport) RoundTrip(req *http.Request) (*http.Response, error) {
	if req.URL.Scheme != "http" {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, errors.New("bench transport: only http:// URLs")
	}
	addr := req.URL.Host
	if req.URL.Port() == "" {
		addr = net.JoinHostPort(req.URL.Hostname(), "80")
	}
	pc, reused, err := t.get(req.Context(), addr)
	if err != nil {
		if req.Body != nil {
			req.Body.Close()
		}
		return nil, err
	}
	res, err := t.exchange(pc, req)
	if err != nil && reused && errors.Is(err, errNoResponse) && req.Context().Err() == nil && (req.Body == nil || req.GetBody != nil) {
		// The idle connection was dead: once more on a fresh one.
		if req.GetBody != nil {
			body, gerr := req.GetBody()
			if gerr != nil {
				return nil, gerr
			}
			req = req.Clone(req.Context())
			req.Body = body
		}
		if pc, err = t.dialConn(req.Context(), addr); err != nil {
			return nil, err
		}
		res, err = t.exchange(pc, req)
	}
	if err != nil {
		return nil, err
	}
	if res.Close {
		pc.c.Close()
	} else {
		t.put(addr, pc)
	}
	return res, nil
}

// exchange writes req on pc and reads the whole response. On error pc is
// closed.
func (t *connTransport) exchange(pc *pconn, req *http.Request) (res *http.Response, err error) {
	ctx := req.Context()
	deadline, _ := ctx.Deadline() // zero: none
	if err := pc.c.SetDeadline(deadline); err != nil {
		pc.c.Close()
		return nil, err
	}
	// Cancelling the request unblocks the read or write in progress.
	stop := context.AfterFunc(ctx, func() { _ = pc.c.SetDeadline(time.Unix(1, 0)) })
	defer func() {
		cancelled := !stop() // the deadline was moved: the connection is spent
		switch {
		case err != nil:
			pc.c.Close()
			if ctx.Err() != nil {
				err = ctx.Err()
			}
		case cancelled:
			res.Close = true // the response is whole; the connection goes
		}
	}()
	if err := req.Write(pc.bw); err != nil {
		return nil, errors.Join(errNoResponse, err)
	}
	if err := pc.bw.Flush(); err != nil {
		return nil, errors.Join(errNoResponse, err)
	}
	if _, err := pc.br.Peek(1); err != nil {
		return nil, errors.Join(errNoResponse, err)
	}
	res, err = http.ReadResponse(pc.br, req)
	if err != nil {
		return nil, err
	}
	body, err := io.ReadAll(res.Body)
	res.Body.Close()
	if err != nil {
		return nil, err
	}
	res.Body = io.NopCloser(bytes.NewReader(body))
	res.ContentLength = int64(len(body))
	return res, nil
}

func (t *connTransport) get(ctx context.Context, addr string) (pc *pconn, reused bool, err error) {
	t.mu.Lock()
	if l := t.idle[addr]; len(l) > 0 {
		pc = l[len(l)-1]
		t.idle[addr] = l[:len(l)-1]
	}
	t.mu.Unlock()
	if pc != nil {
		return pc, true, nil
	}
	pc, err = t.dialConn(ctx, addr)
	return pc, false, err
}

func (t *connTransport) dialConn(ctx context.Context, addr string) (*pconn, error) {
	c, err := t.dial(ctx, "tcp", addr)
	if err != nil {
		return nil, err
	}
	return &pconn{c: c, br: bufio.NewReaderSize(c, 4096), bw: bufio.NewWriterSize(c, 4096)}, nil
}

func (t *connTransport) put(addr string, pc *pconn) {
	t.mu.Lock()
	defer t.mu.Unlock()
	if len(t.idle[addr]) >= t.max {
		pc.c.Close()
		return
	}
	t.idle[addr] = append(t.idle[addr], pc)
}

// CloseIdleConnections closes the pooled connections.
func (t *connTransport) CloseIdleConnections() {
	t.mu.Lock()
	defer t.mu.Unlock()
	for addr, l := range t.idle {
		for _, pc := range l {
			pc.c.Close()
		}
		delete(t.idle, addr)
	}
}
