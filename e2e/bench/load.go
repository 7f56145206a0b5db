package bench

import (
	"bufio"
	"bytes"
	"cmp"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"io"
	"net"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"time"
)

// LoadConfig describes a closed-loop HTTP/1.1 keep-alive load: Concurrency
// connections, each sending the next request as soon as the previous answer
// has been read.
type LoadConfig struct {
	Addr        string      // host:port of the TLS server
	Path        string      // request path, e.g. "/pods?timeout=10s"
	Body        []byte      // request body; may contain PlaceholderUID
	TLS         *tls.Config // client TLS configuration
	Concurrency int         // connections (= requests in flight); default 1
	// Timeout bounds each request (write + read of the answer); default 10s,
	// the Kubernetes default for a webhook call.
	Timeout time.Duration
	// CheckUID makes a response count as an error unless it echoes the
	// request's UID (requires PlaceholderUID in Body).
	CheckUID bool
	// MaxSamples bounds the latencies kept per connection (default 1<<20);
	// beyond it requests still count but are not sampled.
	MaxSamples int
}

// LoadResult is what one run measured.
type LoadResult struct {
	Requests   int           // answered with 200 (and the UID, when checked)
	Errors     int           // everything else: transport errors, non-200, bad body
	Elapsed    time.Duration // wall time of the run
	RPS        float64       // Requests / Elapsed
	P50, P90   time.Duration
	P99, Max   time.Duration
	FirstError string // the first error seen, for the report
}

// Loader holds the connections of a load so several runs (warm-up, then the
// measured ones) reuse them: no TLS handshake happens inside a measured run
// unless the server closes a connection.
type Loader struct {
	cfg   LoadConfig
	conns []*loadConn
}

type loadConn struct {
	id      int
	cfg     *LoadConfig
	conn    net.Conn
	br      *bufio.Reader
	req     []byte // head + body, UID rewritten in place per request
	uidAt   int    // offset of the UID in req, -1 when none
	seq     uint64
	body    bytes.Buffer
	samples []time.Duration
	errs    int
	ok      int
	first   error
}

// NewLoader opens cfg.Concurrency TLS connections. Close them with Close.
func NewLoader(ctx context.Context, cfg LoadConfig) (*Loader, error) {
	cfg.Concurrency = max(cfg.Concurrency, 1)
	if cfg.Timeout <= 0 {
		cfg.Timeout = 10 * time.Second
	}
	if cfg.MaxSamples <= 0 {
		cfg.MaxSamples = 1 << 20
	}
	cfg.Path = cmp.Or(cfg.Path, "/")
	head := fmt.Sprintf("POST %s HTTP/1.1\r\nHost: %s\r\nUser-Agent: vsw-loadgen\r\nContent-Type: application/json\r\nAccept: application/json, */*\r\nContent-Length: %d\r\n\r\n",
		cfg.Path, cfg.Addr, len(cfg.Body))
	l := &Loader{cfg: cfg}
	for i := 0; i < cfg.Concurrency; i++ {
		c := &loadConn{id: i, cfg: &l.cfg, uidAt: -1}
		c.req = append([]byte(head), cfg.Body...)
		if j := bytes.Index(c.req, []byte(PlaceholderUID)); j >= 0 {
			c.uidAt = j
		} else if cfg.CheckUID {
			l.Close()
			return nil, fmt.Errorf("failed to prepare load: CheckUID set but the body has no %s", PlaceholderUID)
		}
		if err := c.dial(ctx); err != nil {
			l.Close()
			return nil, err
		}
		l.conns = append(l.conns, c)
	}
	return l, nil
}

func (c *loadConn) dial(ctx context.Context) error {
	d := tls.Dialer{NetDialer: &net.Dialer{Timeout: c.cfg.Timeout}, Config: c.cfg.TLS}
	conn, err := d.DialContext(ctx, "tcp", c.cfg.Addr)
	if err != nil {
		return fmt.Errorf("failed to connect to %s: %w", c.cfg.Addr, err)
	}
	c.conn = conn
	c.br = bufio.NewReaderSize(conn, 32<<10)
	return nil
}

// Close closes every connection.
func (l *Loader) Close() {
	for _, c := range l.conns {
		if c.conn != nil {
			c.conn.Close()
		}
	}
}

// Run sends requests on every connection until n requests were sent in total
// (n > 0) or d has passed (n == 0), and returns the merged result. A run is
// bounded in time even with n > 0: each request has the configured timeout.
func (l *Loader) Run(ctx context.Context, n int, d time.Duration) LoadResult {
	if n <= 0 && d <= 0 {
		d = time.Second
	}
	var left atomic.Int64
	left.Store(int64(n))
	var deadline time.Time
	start := time.Now()
	if n <= 0 {
		deadline = start.Add(d)
	}
	var wg sync.WaitGroup
	for _, c := range l.conns {
		c.samples = c.samples[:0]
		c.errs, c.ok, c.first = 0, 0, nil
		wg.Go(func() {
			for ctx.Err() == nil {
				if n > 0 {
					if left.Add(-1) < 0 {
						return
					}
				} else if !time.Now().Before(deadline) {
					return
				}
				c.one(ctx)
			}
		})
	}
	wg.Wait()
	r := LoadResult{Elapsed: time.Since(start)}
	var all []time.Duration
	for _, c := range l.conns {
		r.Requests += c.ok
		r.Errors += c.errs
		all = append(all, c.samples...)
		if c.first != nil && r.FirstError == "" {
			r.FirstError = c.first.Error()
		}
	}
	slices.Sort(all)
	r.RPS = float64(r.Requests) / r.Elapsed.Seconds()
	r.P50 = Percentile(all, 0.50)
	r.P90 = Percentile(all, 0.90)
	r.P99 = Percentile(all, 0.99)
	r.Max = Percentile(all, 1)
	return r
}

// errBadAnswer marks an answer that arrived but is not a success.
var errBadAnswer = errors.New("bad answer")

func (c *loadConn) one(ctx context.Context) {
	if c.conn == nil {
		if err := c.dial(ctx); err != nil {
			c.fail(err)
			return
		}
	}
	var uid []byte
	if c.uidAt >= 0 {
		c.seq++
		uid = c.req[c.uidAt : c.uidAt+len(PlaceholderUID)]
		putUID(uid, uint32(c.id), c.seq)
	}
	t0 := time.Now()
	c.conn.SetDeadline(t0.Add(c.cfg.Timeout))
	if _, err := c.conn.Write(c.req); err != nil {
		c.reset(fmt.Errorf("failed to send request: %w", err))
		return
	}
	resp, err := http.ReadResponse(c.br, nil)
	if err != nil {
		c.reset(fmt.Errorf("failed to read response: %w", err))
		return
	}
	c.body.Reset()
	_, err = c.body.ReadFrom(resp.Body)
	resp.Body.Close()
	lat := time.Since(t0)
	if err != nil {
		c.reset(fmt.Errorf("failed to read response body: %w", err))
		return
	}
	if resp.StatusCode != http.StatusOK {
		c.fail(fmt.Errorf("%w: HTTP %d: %.200s", errBadAnswer, resp.StatusCode, c.body.Bytes()))
	} else if c.cfg.CheckUID && !bytes.Contains(c.body.Bytes(), uid) {
		c.fail(fmt.Errorf("%w: response does not echo uid %s: %.200s", errBadAnswer, uid, c.body.Bytes()))
	} else {
		c.ok++
		if len(c.samples) < c.cfg.MaxSamples {
			c.samples = append(c.samples, lat)
		}
	}
	if resp.Close {
		c.reset(nil)
	}
}

func (c *loadConn) fail(err error) {
	c.errs++
	if c.first == nil {
		c.first = err
	}
}

// reset drops the connection (the next request redials) and records err.
func (c *loadConn) reset(err error) {
	if err != nil {
		c.fail(err)
	}
	if c.conn != nil {
		c.conn.Close()
		c.conn = nil
	}
}

// putUID writes a UUID-shaped unique id into dst (36 bytes): the connection
// number in the first group, the sequence number in the last.
func putUID(dst []byte, conn uint32, seq uint64) {
	const hex = "0123456789abcdef"
	for i := 7; i >= 0; i-- {
		dst[i] = hex[conn&0xf]
		conn >>= 4
	}
	for i := 35; i >= 24; i-- {
		dst[i] = hex[seq&0xf]
		seq >>= 4
	}
}

// Probe sends one request with the body as is and returns the status and the
// answer, for checking what a server does with a scenario before loading it.
func Probe(ctx context.Context, addr, path string, body []byte, tc *tls.Config) (int, []byte, error) {
	cl := &http.Client{Transport: &http.Transport{TLSClientConfig: tc, ForceAttemptHTTP2: false}, Timeout: 30 * time.Second}
	defer cl.CloseIdleConnections()
	req, err := http.NewRequestWithContext(ctx, http.MethodPost, "https://"+addr+path, bytes.NewReader(body))
	if err != nil {
		return 0, nil, fmt.Errorf("failed to build probe request: %w", err)
	}
	req.Header.Set("Content-Type", "application/json")
	resp, err := cl.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to send probe: %w", err)
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(io.LimitReader(resp.Body, 16<<20))
	if err != nil {
		return resp.StatusCode, nil, fmt.Errorf("failed to read probe answer: %w", err)
	}
	return resp.StatusCode, b, nil
}
