package faultproxy

import (
	"bufio"
	"bytes"
	"errors"
	"io"
	"net"
	"net/http"
	"net/http/httptest"
	"os"
	"strings"
	"testing"
	"time"
)

// echoServer echoes every byte back; it stands in for any TCP upstream.
func echoServer(t *testing.T) string {
	t.Helper()
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			go func() {
				defer c.Close()
				io.Copy(c, c)
			}()
		}
	}()
	t.Cleanup(func() { ln.Close(); <-done })
	return ln.Addr().String()
}

// blobServer answers GET /blob with n bytes and anything else with "ok".
func blobServer(t *testing.T, n int) *httptest.Server {
	t.Helper()
	srv := httptest.NewServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		if r.URL.Path == "/blob" {
			w.Write(bytes.Repeat([]byte("x"), n))
			return
		}
		io.WriteString(w, "ok")
	}))
	t.Cleanup(srv.Close)
	return srv
}

func newProxy(t *testing.T, upstream string) *Proxy {
	t.Helper()
	p, err := New(upstream)
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() {
		if err := p.Close(); err != nil && !errors.Is(err, net.ErrClosed) {
			t.Errorf("close: %v", err)
		}
	})
	return p
}

func client(timeout time.Duration) *http.Client {
	return &http.Client{Timeout: timeout, Transport: &http.Transport{MaxIdleConnsPerHost: 1}}
}

func get(c *http.Client, url string) (int, string, error) {
	resp, err := c.Get(url)
	if err != nil {
		return 0, "", err
	}
	defer resp.Body.Close()
	b, err := io.ReadAll(resp.Body)
	return resp.StatusCode, string(b), err
}

func TestModes(t *testing.T) {
	up := blobServer(t, 1<<20)
	upAddr := strings.TrimPrefix(up.URL, "http://")
	tests := []struct {
		name     string
		fault    Fault
		path     string
		wantCode int
		wantBody string
		wantErr  bool
		wantLen  int
	}{
		{name: "pass", fault: Fault{}, path: "/", wantCode: 200, wantBody: "ok"},
		{name: "refuse", fault: Fault{Mode: Refuse}, path: "/", wantErr: true},
		{name: "stall", fault: Fault{Mode: Stall}, path: "/", wantErr: true},
		{name: "status 503", fault: Fault{Mode: HTTPStatus}, path: "/", wantCode: 503},
		{name: "status 500", fault: Fault{Mode: HTTPStatus, Status: 500}, path: "/", wantCode: 500},
		{name: "delay", fault: Fault{Mode: Delay, Delay: time.Millisecond, Chunk: 64}, path: "/", wantCode: 200, wantBody: "ok"},
		{name: "cut mid-body", fault: Fault{Mode: Cut, CutAfter: 4096}, path: "/blob", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			p := newProxy(t, upAddr)
			p.Set(tt.fault)
			c := client(500 * time.Millisecond)
			code, body, err := get(c, "http://"+p.Addr()+tt.path)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("got %d %q, want an error", code, body)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d", code, tt.wantCode)
			}
			if tt.wantBody != "" && body != tt.wantBody {
				t.Errorf("body = %q, want %q", body, tt.wantBody)
			}
		})
	}
}

func TestCutForwardsExactly(t *testing.T) {
	p := newProxy(t, echoServer(t))
	p.Set(Fault{Mode: Cut, CutAfter: 10})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	if _, err := c.Write(bytes.Repeat([]byte("a"), 100)); err != nil {
		t.Fatal(err)
	}
	got, _ := io.ReadAll(c)
	if len(got) != 10 {
		t.Errorf("read %d bytes, want 10", len(got))
	}
}

func TestDelayPerChunk(t *testing.T) {
	p := newProxy(t, echoServer(t))
	p.Set(Fault{Mode: Delay, Delay: 20 * time.Millisecond, Chunk: 1})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(10 * time.Second))
	start := time.Now()
	if _, err := c.Write([]byte("12345")); err != nil {
		t.Fatal(err)
	}
	buf := make([]byte, 5)
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	// 5 one-byte chunks each way, 20ms each: at least 100ms even if both
	// directions overlap.
	if d := time.Since(start); d < 100*time.Millisecond {
		t.Errorf("echo took %v, want >= 100ms", d)
	}
	if string(buf) != "12345" {
		t.Errorf("got %q", buf)
	}
}

func TestHTTPStatusCountThenForward(t *testing.T) {
	up := blobServer(t, 0)
	p := newProxy(t, strings.TrimPrefix(up.URL, "http://"))
	p.Set(Fault{Mode: HTTPStatus, Status: 502, Count: 2})
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	br := bufio.NewReader(c)
	var codes []int
	for range 3 {
		if _, err := io.WriteString(c, "GET / HTTP/1.1\r\nHost: x\r\n\r\n"); err != nil {
			t.Fatal(err)
		}
		resp, err := http.ReadResponse(br, nil)
		if err != nil {
			t.Fatal(err)
		}
		io.Copy(io.Discard, resp.Body)
		resp.Body.Close()
		codes = append(codes, resp.StatusCode)
	}
	want := []int{502, 502, 200}
	for i := range want {
		if codes[i] != want[i] {
			t.Fatalf("codes = %v, want %v", codes, want)
		}
	}
	if s := p.Stats(); s.Injected != 2 || s.Dialled != 1 {
		t.Errorf("stats = %+v, want 2 injected, 1 dialled", s)
	}
}

// TestSwitchAtRuntime is the outage sequence the fault tests rely on: a
// keep-alive client works, loses the upstream, and gets it back.
func TestSwitchAtRuntime(t *testing.T) {
	up := blobServer(t, 0)
	p := newProxy(t, strings.TrimPrefix(up.URL, "http://"))
	c := client(300 * time.Millisecond)
	url := "http://" + p.Addr() + "/"
	steps := []struct {
		name    string
		fault   Fault
		wantErr bool
		want    int
	}{
		{name: "pass", fault: Fault{}, want: 200},
		{name: "refuse drops keep-alive", fault: Fault{Mode: Refuse}, wantErr: true},
		{name: "back", fault: Fault{}, want: 200},
		{name: "stall", fault: Fault{Mode: Stall}, wantErr: true},
		{name: "5xx", fault: Fault{Mode: HTTPStatus}, want: 503},
		{name: "back again", fault: Fault{}, want: 200},
	}
	for _, s := range steps {
		p.Set(s.fault)
		code, _, err := get(c, url)
		if s.wantErr != (err != nil) {
			t.Fatalf("%s: code %d err %v, want error %v", s.name, code, err, s.wantErr)
		}
		if !s.wantErr && code != s.want {
			t.Fatalf("%s: code %d, want %d", s.name, code, s.want)
		}
	}
}

func TestStallHoldsThenResumes(t *testing.T) {
	p := newProxy(t, echoServer(t))
	c, err := net.Dial("tcp", p.Addr())
	if err != nil {
		t.Fatal(err)
	}
	defer c.Close()
	c.SetDeadline(time.Now().Add(5 * time.Second))
	buf := make([]byte, 2)
	c.Write([]byte("a1"))
	if _, err := io.ReadFull(c, buf); err != nil {
		t.Fatal(err)
	}
	p.Set(Fault{Mode: Stall})
	c.Write([]byte("b2"))
	c.SetReadDeadline(time.Now().Add(100 * time.Millisecond))
	if n, err := c.Read(buf); !errors.Is(err, os.ErrDeadlineExceeded) {
		t.Fatalf("read during stall: %d, %v; want a timeout", n, err)
	}
	p.Set(Fault{})
	c.SetReadDeadline(time.Now().Add(5 * time.Second))
	if _, err := io.ReadFull(c, buf); err != nil || string(buf) != "b2" {
		t.Fatalf("after stall: %q, %v", buf, err)
	}
}

func TestCloseEndsStalledConnections(t *testing.T) {
	p, err := New(echoServer(t))
	if err != nil {
		t.Fatal(err)
	}
	p.Set(Fault{Mode: Stall})
	var conns []net.Conn
	for range 5 {
		c, err := net.Dial("tcp", p.Addr())
		if err != nil {
			t.Fatal(err)
		}
		defer c.Close()
		c.Write([]byte("x"))
		conns = append(conns, c)
	}
	// Wait until all five are accepted, so Close has something to end.
	deadline := time.Now().Add(5 * time.Second)
	for p.Stats().Accepted < 5 && time.Now().Before(deadline) {
		time.Sleep(5 * time.Millisecond)
	}
	done := make(chan struct{})
	go func() { p.Close(); close(done) }()
	select {
	case <-done:
	case <-time.After(5 * time.Second):
		t.Fatal("Close did not return")
	}
	for _, c := range conns {
		c.SetReadDeadline(time.Now().Add(2 * time.Second))
		if _, err := c.Read(make([]byte, 1)); err == nil || errors.Is(err, os.ErrDeadlineExceeded) {
			t.Errorf("connection not closed by Close: %v", err)
		}
	}
}
