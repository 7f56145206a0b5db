package vaultclient

import (
	"context"
	"errors"
	"net"
	"net/http"
	"net/http/httptest"
	"sync/atomic"
	"testing"
	"time"
)

func TestBackoff(t *testing.T) {
	c, err := New(Config{Addr: "http://127.0.0.1:1"})
	if err != nil {
		t.Fatal(err)
	}
	for i := range 4 {
		n := time.Duration(i + 1)
		for range 200 {
			if d := c.backoff(i); d < n*minRetryWait || d > n*maxRetryWait {
				t.Fatalf("backoff(%d) = %v, want in [%v, %v]", i, d, n*minRetryWait, n*maxRetryWait)
			}
		}
	}
	c.minWait, c.maxWait = time.Second, time.Second
	if d := c.backoff(2); d != 3*time.Second {
		t.Fatalf("backoff(2) with min = max = 1s: %v, want 3s", d)
	}
}

// TestRetryStopsWithContext: a cancelled caller stops the waits between
// attempts at once.
func TestRetryStopsWithContext(t *testing.T) {
	var n atomic.Int32
	ctx, cancel := context.WithCancel(context.Background())
	defer cancel()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, _ *http.Request) {
		n.Add(1)
		cancel()
		w.WriteHeader(503)
	}))
	t.Cleanup(srv.Close)
	c, err := New(Config{Addr: srv.URL, MaxRetries: 5})
	if err != nil {
		t.Fatal(err)
	}
	c.minWait, c.maxWait = time.Hour, time.Hour
	start := time.Now()
	_, err = c.Read(ctx, "x", nil)
	if !errors.Is(err, context.Canceled) {
		t.Fatalf("err = %v, want context.Canceled", err)
	}
	if d := time.Since(start); d > 10*time.Second {
		t.Fatalf("took %v", d)
	}
	if n.Load() != 1 {
		t.Fatalf("attempts = %d, want 1", n.Load())
	}
}

// TestAttemptTimeout: Config.Timeout bounds each attempt; a hung attempt is
// retried and the next one answers.
func TestAttemptTimeout(t *testing.T) {
	var n atomic.Int32
	release := make(chan struct{})
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if n.Add(1) == 1 {
			select { // hang until the client gives up or the test ends
			case <-r.Context().Done():
			case <-release:
			}
			return
		}
		_, _ = w.Write([]byte(`{"data":{"ok":true}}`))
	}))
	t.Cleanup(func() { close(release); srv.Close() })
	c, err := New(Config{Addr: srv.URL, Timeout: 200 * time.Millisecond, MaxRetries: 1})
	if err != nil {
		t.Fatal(err)
	}
	c.minWait, c.maxWait = time.Millisecond, time.Millisecond
	s, err := c.Read(context.Background(), "x", nil)
	if err != nil || s.Data["ok"] != true {
		t.Fatalf("got %v, %v", s, err)
	}
	if n.Load() != 2 {
		t.Fatalf("attempts = %d, want 2", n.Load())
	}

	// Without a retry left, the timeout is the error.
	n.Store(0)
	c.maxRetries = 0
	if _, err := c.Read(context.Background(), "x", nil); !errors.Is(err, context.DeadlineExceeded) {
		t.Fatalf("err = %v, want a deadline error", err)
	}
}

// TestCertErrorNotRetried: an untrusted server certificate fails at once.
func TestCertErrorNotRetried(t *testing.T) {
	var conns atomic.Int32
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(http.ResponseWriter, *http.Request) {}))
	srv.Config.ConnState = func(_ net.Conn, s http.ConnState) {
		if s == http.StateNew {
			conns.Add(1)
		}
	}
	srv.StartTLS()
	t.Cleanup(srv.Close)
	c, err := New(Config{Addr: srv.URL, MaxRetries: 3})
	if err != nil {
		t.Fatal(err)
	}
	c.minWait, c.maxWait = time.Millisecond, time.Millisecond
	_, err = c.Read(context.Background(), "x", nil)
	if err == nil || !isCertError(err) {
		t.Fatalf("err = %v, want a certificate error", err)
	}
	if conns.Load() != 1 {
		t.Fatalf("connections = %d, want 1 (no retry)", conns.Load())
	}

	// SkipVerify accepts it.
	c, err = New(Config{Addr: srv.URL, SkipVerify: true})
	if err != nil {
		t.Fatal(err)
	}
	if _, err := c.Read(context.Background(), "x", nil); err != nil {
		t.Fatal(err)
	}
}
