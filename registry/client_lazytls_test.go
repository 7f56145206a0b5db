package registry

import (
	"net/http"
	"sync"
	"sync/atomic"
	"testing"
)

// rtFunc is an http.RoundTripper from a function.
type rtFunc func(*http.Request) (*http.Response, error)

func (f rtFunc) RoundTrip(r *http.Request) (*http.Response, error) { return f(r) }

// TestLazyTLSTransport: plain-HTTP requests never build the verifying
// transport (which parses the system roots); the first https request
// builds it, once.
func TestLazyTLSTransport(t *testing.T) {
	var builds, plain, secure int
	var mu sync.Mutex
	lt := &lazyTLSTransport{
		plain: rtFunc(func(*http.Request) (*http.Response, error) {
			mu.Lock()
			plain++
			mu.Unlock()
			return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
		}),
		build: func() http.RoundTripper {
			builds++ // under once
			return rtFunc(func(*http.Request) (*http.Response, error) {
				mu.Lock()
				secure++
				mu.Unlock()
				return &http.Response{StatusCode: http.StatusOK, Body: http.NoBody}, nil
			})
		},
	}
	tests := []struct {
		name                           string
		url                            string
		wantBuilds, wantPlain, wantTLS int
	}{
		{name: "plain first", url: "http://127.0.0.1:5000/v2/", wantBuilds: 0, wantPlain: 1},
		{name: "plain again", url: "http://registry.local/v2/", wantBuilds: 0, wantPlain: 2},
		{name: "first https builds", url: "https://registry.example/v2/", wantBuilds: 1, wantPlain: 2, wantTLS: 1},
		{name: "second https reuses", url: "https://other.example/v2/", wantBuilds: 1, wantPlain: 2, wantTLS: 2},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			req, err := http.NewRequest(http.MethodGet, tc.url, nil)
			if err != nil {
				t.Fatal(err)
			}
			resp, err := lt.RoundTrip(req)
			if err != nil {
				t.Fatal(err)
			}
			resp.Body.Close()
			if builds != tc.wantBuilds || plain != tc.wantPlain || secure != tc.wantTLS {
				t.Fatalf("builds %d plain %d tls %d, want %d %d %d", builds, plain, secure, tc.wantBuilds, tc.wantPlain, tc.wantTLS)
			}
		})
	}
	// Concurrent first https requests build once.
	lt2 := &lazyTLSTransport{plain: lt.plain}
	var n atomic.Int32
	lt2.build = func() http.RoundTripper { n.Add(1); return lt.tls }
	var wg sync.WaitGroup
	for range 8 {
		wg.Go(func() {
			req, _ := http.NewRequest(http.MethodGet, "https://registry.example/v2/", nil)
			if resp, err := lt2.RoundTrip(req); err == nil {
				resp.Body.Close()
			}
		})
	}
	wg.Wait()
	if n.Load() != 1 {
		t.Errorf("built %d times, want 1", n.Load())
	}
}
