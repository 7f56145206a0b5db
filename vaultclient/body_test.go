package vaultclient

import (
	"bytes"
	"context"
	"errors"
	"io"
	"net/http"
	"net/http/httptest"
	"strconv"
	"strings"
	"sync/atomic"
	"testing"
	"time"
)

// TestResponseSize: a body over the limit fails with ErrResponseTooLarge,
// announced by Content-Length or not (an endless chunked body), and is not
// retried; a body at the limit is fine.
func TestResponseSize(t *testing.T) {
	const limit = 4096
	atLimit := `{"data":{"k":"` + strings.Repeat("x", limit-len(`{"data":{"k":""}}`)) + `"}}`
	tests := []struct {
		name    string
		handler http.HandlerFunc
		wantErr error
	}{
		{name: "at the limit", handler: func(w http.ResponseWriter, _ *http.Request) {
			_, _ = io.WriteString(w, atLimit)
		}},
		{name: "content-length over", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.Header().Set("Content-Length", strconv.Itoa(limit+1))
			_, _ = io.WriteString(w, atLimit+" ")
		}, wantErr: ErrResponseTooLarge},
		{name: "endless chunked body", handler: func(w http.ResponseWriter, r *http.Request) {
			chunk := bytes.Repeat([]byte("x"), 1024)
			for r.Context().Err() == nil {
				if _, err := w.Write(chunk); err != nil {
					return
				}
				w.(http.Flusher).Flush()
			}
		}, wantErr: ErrResponseTooLarge},
		{name: "error status over", handler: func(w http.ResponseWriter, _ *http.Request) {
			w.WriteHeader(500)
			_, _ = io.WriteString(w, atLimit+" ")
		}, wantErr: ErrResponseTooLarge},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var n atomic.Int32
			srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
				n.Add(1)
				tt.handler(w, r)
			}))
			t.Cleanup(srv.Close)
			c, err := New(Config{Addr: srv.URL, Timeout: 10 * time.Second, MaxRetries: 2})
			if err != nil {
				t.Fatal(err)
			}
			c.maxBody = limit
			c.minWait, c.maxWait = time.Millisecond, time.Millisecond
			s, err := c.Read(context.Background(), "x", nil)
			if !errors.Is(err, tt.wantErr) {
				t.Fatalf("err = %v, want %v", err, tt.wantErr)
			}
			if tt.wantErr == nil && len(s.Data["k"].(string)) != limit-len(`{"data":{"k":""}}`) {
				t.Fatal("body at the limit came back short")
			}
			if tt.wantErr != nil && n.Load() != 1 {
				t.Fatalf("attempts = %d, want 1", n.Load())
			}
		})
	}
}

// chunkReader returns its input a few bytes per Read and keeps every buffer
// readBody handed it.
type chunkReader struct {
	data []byte
	seen [][]byte
}

func (r *chunkReader) Read(p []byte) (int, error) {
	r.seen = append(r.seen, p[:cap(p)])
	if len(r.data) == 0 {
		return 0, io.EOF
	}
	n := copy(p[:min(len(p), 100)], r.data)
	r.data = r.data[n:]
	return n, nil
}

// TestReadBodyZeroesOutgrownBuffers: when the buffer grows, the old one is
// zeroed (it held part of a response that may carry a token).
func TestReadBodyZeroesOutgrownBuffers(t *testing.T) {
	body := bytes.Repeat([]byte("s3cret"), 500)
	r := &chunkReader{data: bytes.Clone(body)}
	got, err := readBody(r, -1, 1<<20)
	if err != nil || !bytes.Equal(got, body) {
		t.Fatalf("readBody = %d bytes, %v", len(got), err)
	}
	grew := 0
	for _, p := range r.seen {
		if &p[:cap(p)][cap(p)-1] == &got[:cap(got)][cap(got)-1] {
			continue // the final buffer (the same array: same last element)
		}
		grew++
		if bytes.ContainsFunc(p[:cap(p)], func(r rune) bool { return r != 0 }) {
			t.Fatalf("an outgrown buffer (cap %d) was not zeroed", cap(p))
		}
	}
	if grew == 0 {
		t.Fatal("the buffer never grew: the test tests nothing")
	}

	// A known length reads into one buffer.
	r = &chunkReader{data: bytes.Clone(body)}
	if got, err := readBody(r, int64(len(body)), 1<<20); err != nil || !bytes.Equal(got, body) {
		t.Fatalf("readBody with length = %d bytes, %v", len(got), err)
	}
	for _, p := range r.seen {
		if cap(p) > len(body)+1 || &p[:cap(p)][cap(p)-1] != &r.seen[0][:cap(r.seen[0])][cap(r.seen[0])-1] {
			t.Fatal("readBody with a known length grew its buffer")
		}
	}
}
