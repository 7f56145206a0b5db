// Package faultproxy is a fault-injecting TCP proxy for tests. It listens on
// 127.0.0.1 (a free port chosen by the OS) and forwards every connection to
// one upstream address, unless the test has switched on a fault.
//
// Faults (see [Mode]) are switched at run time with [Proxy.Set]. A fault
// applies to new connections at once, and to connections already open at the
// next chunk they carry, the way a real outage hits a keep-alive connection:
//
//   - Pass: plain forwarding.
//   - Refuse: accept, then close at once (open connections are closed).
//   - Stall: accept and never answer (open connections stop forwarding).
//   - Delay: forward, sleeping Fault.Delay before every chunk of at most
//     Fault.Chunk bytes, in both directions.
//   - HTTPStatus: answer each HTTP/1.x request with Fault.Status without
//     dialling upstream; after Fault.Count such answers (0 = unlimited), or
//     once the fault is lifted, the connection forwards the next request
//     upstream. Plain HTTP upstreams only
//     (a TLS stream cannot be read by the proxy). Open connections are closed
//     so that clients redial into the fault.
//   - Cut: forward Fault.CutAfter bytes of the upstream's answer on each
//     connection, then close both sides.
//
// The proxy has no environment variables or flags: tests configure it in code.
package faultproxy

import (
	"bufio"
	"cmp"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"strconv"
	"sync"
	"sync/atomic"
	"time"
)

// Mode names a fault.
type Mode int

// The faults a proxy can inject.
const (
	Pass Mode = iota
	Refuse
	Stall
	Delay
	HTTPStatus
	Cut
)

// String returns the mode's name.
var modeNames = [...]string{Pass: "pass", Refuse: "refuse", Stall: "stall", Delay: "delay", HTTPStatus: "http-status", Cut: "cut"}

func (m Mode) String() string {
	if m >= 0 && int(m) < len(modeNames) {
		return modeNames[m]
	}
	return "mode(" + strconv.Itoa(int(m)) + ")"
}

// Fault is the proxy's behaviour. The zero value passes traffic through.
type Fault struct {
	Mode     Mode
	Delay    time.Duration // Delay: sleep before each chunk
	Chunk    int           // Delay: bytes per chunk (default 1)
	Status   int           // HTTPStatus: status code to answer (default 503)
	Count    int           // HTTPStatus: answers per connection before forwarding (0 = all)
	CutAfter int64         // Cut: bytes of the answer forwarded before the cut
}

// Stats counts what the proxy has seen since it started.
type Stats struct {
	Accepted   int64 // connections accepted
	Dialled    int64 // upstream connections opened
	DialFailed int64 // upstream dials that failed
	Injected   int64 // HTTP answers written by the proxy itself (HTTPStatus)
	Forwarded  int64 // bytes forwarded upstream -> client
}

// Proxy is a running fault-injecting proxy. Its methods are safe for
// concurrent use.
type Proxy struct {
	upstream string
	ln       net.Listener

	mu     sync.Mutex
	fault  Fault
	change chan struct{} // closed and replaced on every Set
	conns  map[net.Conn]struct{}
	closed bool

	accepted, dialled, dialFailed, injected, forwarded atomic.Int64

	wg sync.WaitGroup
}

// New starts a proxy on 127.0.0.1 with a free port, forwarding to upstream
// (host:port).
func New(upstream string) (*Proxy, error) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		return nil, fmt.Errorf("failed to listen on loopback: %w", err)
	}
	p := &Proxy{
		upstream: upstream,
		ln:       ln,
		change:   make(chan struct{}),
		conns:    make(map[net.Conn]struct{}),
	}
	p.wg.Add(1)
	go p.serve()
	return p, nil
}

// Addr is the proxy's listening address, 127.0.0.1:PORT.
func (p *Proxy) Addr() string { return p.ln.Addr().String() }

// Upstream is the address the proxy forwards to.
func (p *Proxy) Upstream() string { return p.upstream }

// Set switches the fault. It takes effect for new connections at once and for
// open ones at their next chunk; Refuse and HTTPStatus close every open
// connection (an outage does not spare keep-alive connections).
func (p *Proxy) Set(f Fault) {
	p.mu.Lock()
	defer p.mu.Unlock()
	p.fault = f
	close(p.change)
	p.change = make(chan struct{})
	if f.Mode == Refuse || f.Mode == HTTPStatus {
		for c := range p.conns {
			c.Close()
		}
	}
}

// Fault returns the current fault.
func (p *Proxy) Fault() Fault {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault
}

// Stats returns the counters so far.
func (p *Proxy) Stats() Stats {
	return Stats{
		Accepted:   p.accepted.Load(),
		Dialled:    p.dialled.Load(),
		DialFailed: p.dialFailed.Load(),
		Injected:   p.injected.Load(),
		Forwarded:  p.forwarded.Load(),
	}
}

// Close stops listening, closes every open connection and waits for the
// proxy's goroutines to end.
func (p *Proxy) Close() error {
	p.mu.Lock()
	if p.closed {
		p.mu.Unlock()
		return nil
	}
	p.closed = true
	close(p.change) // wake stalled pumps
	p.change = make(chan struct{})
	for c := range p.conns {
		c.Close()
	}
	p.mu.Unlock()
	err := p.ln.Close()
	p.wg.Wait()
	return err
}

// state returns the current fault, a channel closed at the next change, and
// whether the proxy is closed.
func (p *Proxy) state() (Fault, <-chan struct{}, bool) {
	p.mu.Lock()
	defer p.mu.Unlock()
	return p.fault, p.change, p.closed
}

func (p *Proxy) track(c net.Conn) bool {
	p.mu.Lock()
	defer p.mu.Unlock()
	if p.closed {
		c.Close()
		return false
	}
	p.conns[c] = struct{}{}
	return true
}

func (p *Proxy) untrack(c net.Conn) {
	p.mu.Lock()
	delete(p.conns, c)
	p.mu.Unlock()
	c.Close()
}

func (p *Proxy) serve() {
	defer p.wg.Done()
	for {
		c, err := p.ln.Accept()
		if err != nil {
			return
		}
		p.accepted.Add(1)
		if !p.track(c) {
			return
		}
		p.wg.Add(1)
		go func() {
			defer p.wg.Done()
			defer p.untrack(c)
			p.handle(c)
		}()
	}
}

func (p *Proxy) handle(c net.Conn) {
	f, change, closed := p.state()
	if closed {
		return
	}
	switch f.Mode {
	case Refuse:
		return
	case Stall:
		p.stall(c, change)
		// The fault changed: this connection was stalled, so it is not
		// resumed (its bytes were discarded); the client sees it closed.
		return
	case HTTPStatus:
		p.answerHTTP(c, f)
		return
	}
	p.forward(c, nil)
}

// stall reads and discards what the client sends until the fault changes or
// the connection ends.
func (p *Proxy) stall(c net.Conn, change <-chan struct{}) {
	done := make(chan struct{})
	go func() {
		io.Copy(io.Discard, c)
		close(done)
	}()
	select {
	case <-change:
	case <-done:
	}
}

// answerHTTP writes f.Status to each request on c. After f.Count answers the
// next request is forwarded upstream and the connection becomes a plain one.
func (p *Proxy) answerHTTP(c net.Conn, f Fault) {
	status := cmp.Or(f.Status, http.StatusServiceUnavailable)
	br := bufio.NewReader(c)
	for n := 0; ; n++ {
		req, err := http.ReadRequest(br)
		if err != nil {
			return
		}
		cur, _, closed := p.state()
		if closed {
			return
		}
		if cur != f || (f.Count > 0 && n >= f.Count) {
			// The fault was lifted (or this connection has had its share):
			// this request goes upstream, and so does the rest.
			p.forward(c, &pending{req: req, buffered: br})
			return
		}
		io.Copy(io.Discard, req.Body)
		req.Body.Close()
		body := fmt.Sprintf(`{"errors":["faultproxy: injected %d"]}`+"\n", status)
		resp := fmt.Sprintf("HTTP/1.1 %d %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n%s",
			status, http.StatusText(status), len(body), body)
		if _, err := io.WriteString(c, resp); err != nil {
			return
		}
		p.injected.Add(1)
	}
}

// pending is a request already read from the client (HTTPStatus mode) that
// must be sent upstream first, followed by whatever the reader has buffered.
type pending struct {
	req      *http.Request
	buffered *bufio.Reader
}

func (p *Proxy) forward(c net.Conn, first *pending) {
	up, err := net.DialTimeout("tcp", p.upstream, 5*time.Second)
	if err != nil {
		p.dialFailed.Add(1)
		return
	}
	p.dialled.Add(1)
	if !p.track(up) {
		return
	}
	defer p.untrack(up)

	var src io.Reader = c
	if first != nil {
		if err := first.req.Write(up); err != nil {
			return
		}
		src = first.buffered
	}
	errc := make(chan error, 2)
	go func() { errc <- p.pump(up, src, false) }()
	go func() { errc <- p.pump(c, up, true) }()
	<-errc
	// One direction ended: end both, the way a TCP proxy without half-close
	// support does. Closing both sockets unblocks the other pump.
	c.Close()
	up.Close()
	<-errc
}

// errCut ends a pump on purpose.
var errCut = errors.New("faultproxy: connection cut")

// pump copies src to dst chunk by chunk, consulting the fault before each
// chunk. answer is true for the upstream -> client direction.
func (p *Proxy) pump(dst io.Writer, src io.Reader, answer bool) error {
	buf := make([]byte, 32*1024)
	var sent int64
	for {
		n, rerr := src.Read(buf)
		data := buf[:n]
		for len(data) > 0 {
			f, change, closed := p.state()
			if closed {
				return errCut
			}
			switch f.Mode {
			case Stall:
				<-change // hold the bytes until the fault changes
				continue
			case Cut:
				if !answer {
					break
				}
				left := f.CutAfter - sent
				if left <= 0 {
					return errCut
				}
				if int64(len(data)) > left {
					data = data[:left]
				}
			}
			chunk := data
			if f.Mode == Delay {
				if size := max(f.Chunk, 1); len(chunk) > size {
					chunk = chunk[:size]
				}
				select {
				case <-time.After(f.Delay):
				case <-change:
				}
			}
			w, werr := dst.Write(chunk)
			if answer {
				sent += int64(w)
				p.forwarded.Add(int64(w))
			}
			if werr != nil {
				return werr
			}
			data = data[w:]
			if f.Mode == Cut && answer && sent >= f.CutAfter {
				return errCut
			}
		}
		if rerr != nil {
			return rerr
		}
	}
}
