package e2e

// Hostile HTTP against the real webhook binary (issue 8): wrong methods,
// wrong types, malformed JSON, JSON bombs, huge headers, infinite and slow
// bodies, slow headers, a 3 MiB review. Each must get the right status, no
// panic, and the process must stay within a stated memory bound.

import (
	"bufio"
	"bytes"
	"context"
	"crypto/tls"
	"fmt"
	"io"
	"net"
	"net/http"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
)

// relHostileHWMBoundKB is the peak RSS (VmHWM) the webhook may reach while it
// is fed every hostile input below, including four concurrent 3 MiB reviews.
const relHostileHWMBoundKB = 128 << 10

// relSlowCut bounds how long a slow client may hold a connection open before
// the server's ReadHeaderTimeout/ReadTimeout cuts it.
const relSlowCut = 30 * time.Second

func TestReliabilityHostileHTTP(t *testing.T) {
	t.Parallel()
	w := relStartWebhook(t, relWebhookOptions{})
	c := w.Client(4, 60*time.Second)
	ctx := testContext(t)

	deep := func(n int) []byte {
		return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"x","object":` +
			strings.Repeat(`{"a":`, n) + "1" + strings.Repeat("}", n) + "}}")
	}
	deepArray := func(n int) []byte {
		return []byte(strings.Repeat("[", n) + strings.Repeat("]", n))
	}
	valid := relReview(t, relPod("hostile", 2))

	tests := []struct {
		name        string
		method      string
		path        string
		contentType string
		body        []byte
		header      map[string]string
		wantStatus  int
	}{
		{name: "GET /pods", method: http.MethodGet, path: "/pods", wantStatus: http.StatusMethodNotAllowed},
		{name: "PUT /pods", method: http.MethodPut, path: "/pods", contentType: "application/json", body: valid, wantStatus: http.StatusMethodNotAllowed},
		{name: "DELETE /pods", method: http.MethodDelete, path: "/pods", wantStatus: http.StatusMethodNotAllowed},
		{name: "PATCH /pods", method: http.MethodPatch, path: "/pods", contentType: "application/json", body: valid, wantStatus: http.StatusMethodNotAllowed},
		{name: "wrong content type", method: http.MethodPost, path: "/pods", contentType: "text/plain", body: valid, wantStatus: http.StatusUnsupportedMediaType},
		{name: "no content type", method: http.MethodPost, path: "/pods", body: valid, wantStatus: http.StatusUnsupportedMediaType},
		{name: "empty body", method: http.MethodPost, path: "/pods", contentType: "application/json", wantStatus: http.StatusBadRequest},
		{name: "malformed JSON", method: http.MethodPost, path: "/pods", contentType: "application/json", body: []byte(`{"apiVersion":`), wantStatus: http.StatusBadRequest},
		{name: "JSON of the wrong shape", method: http.MethodPost, path: "/pods", contentType: "application/json", body: []byte(`[1,2,3]`), wantStatus: http.StatusBadRequest},
		{name: "not UTF-8", method: http.MethodPost, path: "/pods", contentType: "application/json", body: []byte{'{', '"', 0xff, 0xfe, '"', ':', '1', '}'}, wantStatus: http.StatusBadRequest},
		{name: "review without request", method: http.MethodPost, path: "/pods", contentType: "application/json", body: []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantStatus: http.StatusBadRequest},
		{name: "v1beta1 review", method: http.MethodPost, path: "/pods", contentType: "application/json", body: bytes.Replace(valid, []byte(`admission.k8s.io/v1"`), []byte(`admission.k8s.io/v1beta1"`), 1), wantStatus: http.StatusBadRequest},
		{name: "JSON bomb: 100k nested objects", method: http.MethodPost, path: "/pods", contentType: "application/json", body: deep(100_000), wantStatus: http.StatusBadRequest},
		{name: "JSON bomb: 1M nested arrays", method: http.MethodPost, path: "/pods", contentType: "application/json", body: deepArray(1_000_000), wantStatus: http.StatusBadRequest},
		{name: "body over the limit", method: http.MethodPost, path: "/pods", contentType: "application/json", body: relBigReview(t, 5<<20), wantStatus: http.StatusRequestEntityTooLarge},
		{name: "huge header", method: http.MethodPost, path: "/pods", contentType: "application/json", body: valid, header: map[string]string{"X-Big": strings.Repeat("a", 2<<20)}, wantStatus: http.StatusRequestHeaderFieldsTooLarge},
		{name: "many headers", method: http.MethodPost, path: "/pods", contentType: "application/json", body: valid, header: relManyHeaders(20_000), wantStatus: http.StatusRequestHeaderFieldsTooLarge},
		{name: "unknown path", method: http.MethodPost, path: "/nope", contentType: "application/json", body: valid, wantStatus: http.StatusNotFound},
		{name: "valid review still works", method: http.MethodPost, path: "/pods", contentType: "application/json", body: valid, wantStatus: http.StatusOK},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			req, err := http.NewRequestWithContext(ctx, tt.method, w.URL(tt.path), bytes.NewReader(tt.body))
			if err != nil {
				t.Fatal(err)
			}
			if tt.contentType != "" {
				req.Header.Set("Content-Type", tt.contentType)
			}
			for k, v := range tt.header {
				req.Header.Set(k, v)
			}
			resp, err := c.Do(req)
			if err != nil {
				// The server may answer and close before it has read the
				// whole request (413, 431); Go's client then can report
				// the write error. Retry once on a raw connection to read
				// the status the server sent.
				code, rerr := relRawStatus(w, req, tt.body)
				if rerr != nil {
					t.Fatalf("request failed: %v (raw: %v)", err, rerr)
				}
				if code != tt.wantStatus {
					t.Fatalf("status = %d, want %d", code, tt.wantStatus)
				}
				return
			}
			defer resp.Body.Close()
			io.Copy(io.Discard, io.LimitReader(resp.Body, 1<<20))
			if resp.StatusCode != tt.wantStatus {
				t.Errorf("status = %d, want %d", resp.StatusCode, tt.wantStatus)
			}
			if tt.wantStatus == http.StatusMethodNotAllowed && resp.Header.Get("Allow") == "" {
				t.Errorf("405 without an Allow header")
			}
		})
	}

	t.Run("HTTP/2", func(t *testing.T) {
		// The apiserver may speak HTTP/2 to webhooks: the same limits hold.
		h2 := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: w.TLSConfig(), ForceAttemptHTTP2: true}}
		defer h2.CloseIdleConnections()
		res, err := relPost(ctx, h2, w.URL("/pods"), valid)
		if err != nil || res.HTTPStatus != http.StatusOK || !res.Allowed {
			t.Fatalf("valid review over HTTP/2: %+v %v", res, err)
		}
		req, err := http.NewRequestWithContext(ctx, http.MethodPost, w.URL("/pods"), bytes.NewReader(valid))
		if err != nil {
			t.Fatal(err)
		}
		req.Header.Set("Content-Type", "application/json")
		for k, v := range relManyHeaders(20_000) {
			req.Header.Set(k, v)
		}
		resp, err := h2.Do(req)
		if err == nil {
			resp.Body.Close()
			t.Logf("huge headers over %s: %d", resp.Proto, resp.StatusCode)
			if resp.StatusCode != http.StatusRequestHeaderFieldsTooLarge {
				t.Errorf("huge headers over %s: status %d, want 431", resp.Proto, resp.StatusCode)
			}
		} else {
			t.Logf("huge headers over HTTP/2: refused: %v", err)
		}
		// Deep JSON over HTTP/2 as well.
		res, err = relPost(ctx, h2, w.URL("/pods"), deep(100_000))
		if err != nil || res.HTTPStatus != http.StatusBadRequest {
			t.Errorf("JSON bomb over HTTP/2: %+v %v", res.HTTPStatus, err)
		}
	})

	t.Run("3 MiB review, four at once", func(t *testing.T) {
		body := relBigReview(t, 3<<20)
		var wg sync.WaitGroup
		errs := make(chan error, 4)
		for range 4 {
			wg.Go(func() {
				start := time.Now()
				res, err := relPost(ctx, c, w.URL("/pods"), body)
				switch {
				case err != nil:
					errs <- err
				case res.HTTPStatus != http.StatusOK || !res.Allowed || len(res.Patch) == 0:
					errs <- fmt.Errorf("3 MiB review: HTTP %d allowed=%v patch=%dB code=%d %q", res.HTTPStatus, res.Allowed, len(res.Patch), res.Code, res.Message)
				default:
					t.Logf("3 MiB review answered in %v, patch %d bytes", time.Since(start).Round(time.Millisecond), len(res.Patch))
				}
			})
		}
		wg.Wait()
		close(errs)
		for err := range errs {
			t.Error(err)
		}
	})

	t.Run("infinite chunked body", func(t *testing.T) {
		code, err := relInfiniteBody(w, true)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", code)
		}
	})
	t.Run("infinite body with a huge Content-Length", func(t *testing.T) {
		code, err := relInfiniteBody(w, false)
		if err != nil {
			t.Fatal(err)
		}
		if code != http.StatusRequestEntityTooLarge {
			t.Errorf("status = %d, want 413", code)
		}
	})

	// Slow clients run in parallel with each other and with a check that
	// the server keeps answering while they hang on.
	t.Run("slow clients", func(t *testing.T) {
		t.Run("slow headers", func(t *testing.T) {
			t.Parallel()
			relSlowClient(t, w, true)
		})
		t.Run("slow body", func(t *testing.T) {
			t.Parallel()
			relSlowClient(t, w, false)
		})
		t.Run("idle connections", func(t *testing.T) {
			t.Parallel()
			// 100 connections that complete TLS and never send a byte:
			// they hold no request and must not block other clients.
			var conns []net.Conn
			for range 100 {
				conn, err := tls.Dial("tcp", w.Addr, w.TLSConfig())
				if err != nil {
					t.Fatalf("dial: %v", err)
				}
				conns = append(conns, conn)
			}
			defer func() {
				for _, c := range conns {
					c.Close()
				}
			}()
			c2 := w.Client(1, 10*time.Second)
			defer c2.CloseIdleConnections()
			start := time.Now()
			res, err := relPost(ctx, c2, w.URL("/pods"), relReview(t, relPod("while-idle", 1)))
			if err != nil || res.HTTPStatus != http.StatusOK {
				t.Fatalf("review while 100 idle connections are open: %+v %v", res, err)
			}
			t.Logf("review answered in %v with 100 idle connections open", time.Since(start).Round(time.Millisecond))
		})
	})

	if w.Exited() {
		t.Fatalf("the webhook exited; log:\n%s", relTail(w.LogFile, 40))
	}
	st, err := relReadProcStatus(w.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("webhook after hostile inputs: VmHWM %d KiB, VmRSS %d KiB, threads %d (bound: VmHWM < %d KiB)", st.VmHWMKB, st.VmRSSKB, st.Threads, relHostileHWMBoundKB)
	if st.VmHWMKB > relHostileHWMBoundKB {
		t.Errorf("peak RSS %d KiB exceeds the bound %d KiB", st.VmHWMKB, relHostileHWMBoundKB)
	}
}

// relBigReview returns a review of about size bytes: a Pod whose one
// container has many plain env vars and a few Vault references.
func relBigReview(t testing.TB, size int) []byte {
	t.Helper()
	pod := relPod("big", 3)
	const perVar = 100
	filler := strings.Repeat("v", perVar-30)
	n := size / perVar
	for i := range n {
		pod.Spec.Containers[0].Env = append(pod.Spec.Containers[0].Env, corev1.EnvVar{Name: fmt.Sprintf("FILL_%07d", i), Value: filler})
	}
	b := relReview(t, pod)
	if len(b) < size*9/10 || len(b) > size*11/10 {
		t.Fatalf("built a review of %d bytes, wanted about %d", len(b), size)
	}
	return b
}

func relManyHeaders(n int) map[string]string {
	h := make(map[string]string, n)
	for i := range n {
		h[fmt.Sprintf("X-H-%d", i)] = "0123456789012345678901234567890123456789"
	}
	return h
}

// relRawStatus sends req over a fresh TLS connection, writing in the
// background, and returns the status line the server answers with, even when
// the server answers before it has read the whole request.
func relRawStatus(w *relWebhook, req *http.Request, body []byte) (int, error) {
	conn, err := tls.Dial("tcp", w.Addr, w.TLSConfig())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	r := req.Clone(context.Background())
	r.Body = io.NopCloser(bytes.NewReader(body))
	r.ContentLength = int64(len(body))
	go r.Write(conn)
	resp, err := http.ReadResponse(bufio.NewReader(conn), r)
	if err != nil {
		return 0, err
	}
	resp.Body.Close()
	return resp.StatusCode, nil
}

// relInfiniteBody streams a never-ending body and returns the status the
// server answers with. chunked selects Transfer-Encoding: chunked; otherwise
// the request declares a Content-Length of 1 TiB.
func relInfiniteBody(w *relWebhook, chunked bool) (int, error) {
	conn, err := tls.Dial("tcp", w.Addr, w.TLSConfig())
	if err != nil {
		return 0, err
	}
	defer conn.Close()
	conn.SetDeadline(time.Now().Add(60 * time.Second))
	head := "POST /pods HTTP/1.1\r\nHost: " + w.Addr + "\r\nContent-Type: application/json\r\n"
	if chunked {
		head += "Transfer-Encoding: chunked\r\n\r\n"
	} else {
		head += "Content-Length: 1099511627776\r\n\r\n"
	}
	if _, err := io.WriteString(conn, head); err != nil {
		return 0, err
	}
	stop := make(chan struct{})
	var written atomic.Int64
	var wg sync.WaitGroup
	wg.Go(func() {
		chunk := bytes.Repeat([]byte(" "), 64<<10)
		frame := chunk
		if chunked {
			frame = append([]byte(fmt.Sprintf("%x\r\n", len(chunk))), append(chunk, "\r\n"...)...)
		}
		for {
			select {
			case <-stop:
				return
			default:
			}
			n, err := conn.Write(frame)
			written.Add(int64(n))
			if err != nil {
				return
			}
		}
	})
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	close(stop)
	conn.Close()
	wg.Wait()
	if err != nil {
		return 0, fmt.Errorf("no answer after %d bytes: %w", written.Load(), err)
	}
	resp.Body.Close()
	if n := written.Load(); n > 64<<20 {
		return resp.StatusCode, fmt.Errorf("server read %d bytes before answering", n)
	}
	return resp.StatusCode, nil
}

// relSlowClient trickles a request one byte every 500ms (headers, or the
// body after complete headers) and requires the server to end it within
// relSlowCut, answering with a 4xx or closing the connection.
func relSlowClient(t *testing.T, w *relWebhook, slowHeaders bool) {
	conn, err := tls.Dial("tcp", w.Addr, w.TLSConfig())
	if err != nil {
		t.Fatal(err)
	}
	defer conn.Close()
	start := time.Now()
	conn.SetDeadline(start.Add(relSlowCut + 10*time.Second))
	var trickle []byte
	if slowHeaders {
		io.WriteString(conn, "POST /pods HTTP/1.1\r\nHost: x\r\n")
		trickle = []byte("X-Slow: " + strings.Repeat("s", 1000))
	} else {
		io.WriteString(conn, "POST /pods HTTP/1.1\r\nHost: x\r\nContent-Type: application/json\r\nContent-Length: 100000\r\n\r\n")
		trickle = bytes.Repeat([]byte(" "), 100000)
	}
	done := make(chan struct{})
	var wg sync.WaitGroup
	wg.Go(func() {
		tick := time.NewTicker(500 * time.Millisecond)
		defer tick.Stop()
		for i := 0; i < len(trickle); i++ {
			select {
			case <-done:
				return
			case <-tick.C:
			}
			if _, err := conn.Write(trickle[i : i+1]); err != nil {
				return
			}
		}
	})
	defer func() { close(done); wg.Wait() }()
	resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
	took := time.Since(start)
	what := map[bool]string{true: "slow headers", false: "slow body"}[slowHeaders]
	switch {
	case err == nil:
		resp.Body.Close()
		t.Logf("%s: answered %d after %v", what, resp.StatusCode, took.Round(time.Millisecond))
		if resp.StatusCode < 400 || resp.StatusCode >= 500 {
			t.Errorf("%s: status %d, want a 4xx", what, resp.StatusCode)
		}
	case took >= relSlowCut:
		t.Errorf("%s: connection still open after %v (%v)", what, took, err)
	default:
		t.Logf("%s: connection closed by the server after %v", what, took.Round(time.Millisecond))
	}
}
