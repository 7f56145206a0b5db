package bench

import (
	"bytes"
	"context"
	"crypto/tls"
	"encoding/json"
	"io"
	"net"
	"net/http"
	"os"
	"strings"
	"testing"
	"time"

	admissionv1 "k8s.io/api/admission/v1"
	corev1 "k8s.io/api/core/v1"
)

func TestPercentile(t *testing.T) {
	ms := func(xs ...int) []time.Duration {
		var d []time.Duration
		for _, x := range xs {
			d = append(d, time.Duration(x)*time.Millisecond)
		}
		return d
	}
	tests := []struct {
		name   string
		sorted []time.Duration
		q      float64
		want   time.Duration
	}{
		{"empty", nil, 0.5, 0},
		{"one", ms(7), 0.99, 7 * time.Millisecond},
		{"median of four is the second", ms(1, 2, 3, 4), 0.5, 2 * time.Millisecond},
		{"p99 of 100 is the 99th", ms(func() []int {
			var x []int
			for i := 1; i <= 100; i++ {
				x = append(x, i)
			}
			return x
		}()...), 0.99, 99 * time.Millisecond},
		{"max", ms(1, 5, 9), 1, 9 * time.Millisecond},
		{"min", ms(1, 5, 9), 0, 1 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Percentile(tt.sorted, tt.q); got != tt.want {
				t.Errorf("Percentile(%v, %v) = %v, want %v", tt.sorted, tt.q, got, tt.want)
			}
		})
	}
}

func TestMedian(t *testing.T) {
	tests := []struct {
		name string
		xs   []float64
		want float64
	}{
		{"empty", nil, 0},
		{"odd", []float64{3, 1, 2}, 2},
		{"even", []float64{4, 1, 3, 2}, 2.5},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			in := append([]float64{}, tt.xs...)
			if got := Median(tt.xs); got != tt.want {
				t.Errorf("Median = %v, want %v", got, tt.want)
			}
			for i := range in {
				if in[i] != tt.xs[i] {
					t.Fatal("Median modified its input")
				}
			}
		})
	}
}

func TestParseStatCPU(t *testing.T) {
	tests := []struct {
		name    string
		stat    string
		want    time.Duration
		wantErr bool
	}{
		{"plain", "42 (vault-secrets-w) S 1 42 42 0 -1 4194560 100 0 0 0 250 50 0 0 20 0 8 0 1000 1000000 2000 18446744073709551615", 3 * time.Second, false},
		{"name with spaces and parens", "42 (a) b (c) R 1 42 42 0 -1 0 0 0 0 0 7 3 0 0 20 0 1 0 1 1 1 1", 100 * time.Millisecond, false},
		{"truncated", "42 (x) S 1 2", 0, true},
		{"no paren", "garbage", 0, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := parseStatCPU([]byte(tt.stat))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Errorf("parseStatCPU = %v, %v; want %v, error %v", got, err, tt.want, tt.wantErr)
			}
		})
	}
}

func TestParseStatus(t *testing.T) {
	st := "Name:\tfloor\nVmPeak:\t 1000 kB\nVmHWM:\t    9216 kB\nVmRSS:\t    8192 kB\nThreads:\t7\n"
	m, err := parseStatus([]byte(st))
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS != 8<<20 || m.HWM != 9<<20 || m.Threads != 7 {
		t.Errorf("parseStatus = %+v", m)
	}
	if _, err := parseStatus([]byte("Name:\tx\n")); err == nil {
		t.Error("parseStatus accepted a status without VmRSS")
	}
}

func TestProcOfSelf(t *testing.T) {
	pid := os.Getpid()
	if _, err := ProcCPU(pid); err != nil {
		t.Fatal(err)
	}
	m, err := ProcMem(pid)
	if err != nil {
		t.Fatal(err)
	}
	if m.RSS <= 0 || m.HWM < m.RSS || m.Threads < 1 {
		t.Errorf("ProcMem(self) = %+v", m)
	}
}

func TestPutUID(t *testing.T) {
	b := []byte(PlaceholderUID)
	putUID(b, 0x2a, 0x123456789abc)
	if got, want := string(b), "0000002a-0000-0000-0000-123456789abc"; got != want {
		t.Errorf("putUID = %s, want %s", got, want)
	}
}

func TestScenarioReviews(t *testing.T) {
	setup := ScenarioSetup{Namespace: "ns1", RegistryImage: "127.0.0.1:5000/vsw-bench/shop-api:1"}
	tests := []struct {
		name      string
		refs      int // vault: values per container
		envFrom   bool
		noCommand bool
	}{
		{ScenarioRefs, 3, false, false},
		{ScenarioNoRefs, 0, false, false},
		{ScenarioEnvFrom, 0, true, false},
		{ScenarioRegistry, 3, false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			b, err := ScenarioReview(tt.name, setup)
			if err != nil {
				t.Fatal(err)
			}
			var rev admissionv1.AdmissionReview
			if err := json.Unmarshal(b, &rev); err != nil {
				t.Fatal(err)
			}
			if rev.APIVersion != "admission.k8s.io/v1" || rev.Kind != "AdmissionReview" || rev.Request == nil {
				t.Fatalf("not a v1 AdmissionReview request: %s", b[:min(200, len(b))])
			}
			if string(rev.Request.UID) != PlaceholderUID || rev.Request.Namespace != "ns1" || rev.Request.Operation != admissionv1.Create {
				t.Errorf("request = uid %s ns %s op %s", rev.Request.UID, rev.Request.Namespace, rev.Request.Operation)
			}
			var pod corev1.Pod
			if err := json.Unmarshal(rev.Request.Object.Raw, &pod); err != nil {
				t.Fatal(err)
			}
			if len(pod.Spec.Containers) != 2 {
				t.Fatalf("%d containers, want 2", len(pod.Spec.Containers))
			}
			for _, c := range pod.Spec.Containers {
				refs, plain := 0, 0
				for _, e := range c.Env {
					if strings.HasPrefix(e.Value, "vault:") {
						refs++
					} else if e.Name != "DB_PASSWORD" {
						plain++
					}
				}
				if refs != tt.refs || plain != 10 {
					t.Errorf("container %s: %d refs, %d plain; want %d, 10", c.Name, refs, plain, tt.refs)
				}
				if (len(c.EnvFrom) > 0) != tt.envFrom {
					t.Errorf("container %s: envFrom %v", c.Name, c.EnvFrom)
				}
				if (len(c.Command) == 0) != tt.noCommand {
					t.Errorf("container %s: command %v", c.Name, c.Command)
				}
			}
		})
	}
	if _, err := ScenarioReview("nope", setup); err == nil {
		t.Error("unknown scenario accepted")
	}
}

func TestParseGoBench(t *testing.T) {
	out := `goos: linux
pkg: example.com/a
BenchmarkParse-2   	 1000000	      1000 ns/op	     64 B/op	       2 allocs/op
BenchmarkParse-2   	 1000000	      3000 ns/op	     64 B/op	       2 allocs/op
BenchmarkParse-2   	 1000000	      2000 ns/op	     64 B/op	       2 allocs/op
pkg: example.com/b
BenchmarkPatch/small-2 	  500000	       500 ns/op	    128 B/op	       4 allocs/op
PASS
`
	got := ParseGoBench(out)
	if len(got) != 2 {
		t.Fatalf("got %d benchmarks: %+v", len(got), got)
	}
	if g := got[0]; g.Pkg != "example.com/a" || g.Name != "BenchmarkParse" || g.NsPerOp != 2000 || g.Runs != 3 || g.AllocsOp != 2 {
		t.Errorf("first = %+v", g)
	}
	if g := got[1]; g.Name != "BenchmarkPatch/small" || g.BPerOp != 128 {
		t.Errorf("second = %+v", g)
	}
}

// serveTLS serves h over TLS on a free loopback port with a generated
// certificate and returns its address and a client configuration.
func serveTLS(t *testing.T, h http.Handler) (string, *tls.Config) {
	t.Helper()
	certs, err := WriteServingCert(t.TempDir())
	if err != nil {
		t.Fatal(err)
	}
	cert, err := tls.LoadX509KeyPair(certs.Cert, certs.Key)
	if err != nil {
		t.Fatal(err)
	}
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	srv := FloorServer(ln.Addr().String(), cert)
	srv.Handler = h
	go srv.ServeTLS(ln, "", "")
	t.Cleanup(func() { srv.Close() })
	tc, err := ClientTLS(certs.CA)
	if err != nil {
		t.Fatal(err)
	}
	return ln.Addr().String(), tc
}

// echoUID answers with the request's UID, as a webhook must.
func echoUID(w http.ResponseWriter, r *http.Request) {
	b, _ := io.ReadAll(r.Body)
	var rev admissionv1.AdmissionReview
	if err := json.Unmarshal(b, &rev); err != nil || rev.Request == nil {
		http.Error(w, "bad review", http.StatusBadRequest)
		return
	}
	json.NewEncoder(w).Encode(map[string]any{"apiVersion": "admission.k8s.io/v1", "kind": "AdmissionReview",
		"response": map[string]any{"uid": rev.Request.UID, "allowed": true}})
}

func TestLoader(t *testing.T) {
	body, err := ScenarioReview(ScenarioRefs, ScenarioSetup{})
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		name       string
		handler    http.Handler
		checkUID   bool
		wantErrors bool
	}{
		{"floor without uid check", FloorHandler(), false, false},
		{"floor fails the uid check", FloorHandler(), true, true},
		{"echoing server passes the uid check", http.HandlerFunc(echoUID), true, false},
		{"500s are errors", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			io.Copy(io.Discard, r.Body)
			http.Error(w, "no", http.StatusInternalServerError)
		}), false, true},
		{"closed connections are redialled", http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
			w.Header().Set("Connection", "close")
			echoUID(w, r)
		}), true, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			addr, tc := serveTLS(t, tt.handler)
			ctx := context.Background()
			l, err := NewLoader(ctx, LoadConfig{Addr: addr, Path: "/pods", Body: body, TLS: tc, Concurrency: 4, CheckUID: tt.checkUID, Timeout: 10 * time.Second})
			if err != nil {
				t.Fatal(err)
			}
			defer l.Close()
			r := l.Run(ctx, 200, 0)
			if r.Requests+r.Errors != 200 {
				t.Errorf("%d answered + %d errors, want 200 in total", r.Requests, r.Errors)
			}
			if gotErr := r.Errors > 0; gotErr != tt.wantErrors {
				t.Errorf("errors = %d (first %q), want errors: %v", r.Errors, r.FirstError, tt.wantErrors)
			}
			if !tt.wantErrors && (r.P50 <= 0 || r.P99 < r.P50 || r.Max < r.P99 || r.RPS <= 0) {
				t.Errorf("implausible figures: %+v", r)
			}
			// A second run reuses the loader.
			if r2 := l.Run(ctx, 0, 50*time.Millisecond); r2.Requests+r2.Errors == 0 {
				t.Error("a timed second run sent nothing")
			}
		})
	}
}

func TestProbe(t *testing.T) {
	addr, tc := serveTLS(t, http.HandlerFunc(echoUID))
	body, err := ScenarioReview(ScenarioNoRefs, ScenarioSetup{})
	if err != nil {
		t.Fatal(err)
	}
	code, b, err := Probe(context.Background(), addr, "/pods", body, tc)
	if err != nil || code != 200 || !bytes.Contains(b, []byte(PlaceholderUID)) {
		t.Fatalf("Probe = %d %s %v", code, b, err)
	}
}

func TestVaultEnvTargets(t *testing.T) {
	ms := func(x float64) time.Duration { return time.Duration(x * float64(time.Millisecond)) }
	floor := func(paths int, d time.Duration) VaultEnvCase {
		return VaultEnvCase{Name: "floor", Paths: paths, Auth: "token", Floor: true, ExecToChild: d}
	}
	ve := func(refs, paths int, d time.Duration) VaultEnvCase {
		return VaultEnvCase{Name: "ve", Refs: refs, Paths: paths, Auth: "token", ExecToChild: d, MaxRSS: 10 << 20, Reads: paths}
	}
	tests := []struct {
		name  string
		cases []VaultEnvCase
		bin   int64
		want  map[string]bool // target prefix -> met
	}{
		{
			name:  "within budget against the floor of the same paths",
			cases: []VaultEnvCase{floor(1, ms(2.5)), floor(2, ms(3)), ve(1, 1, ms(6.5)), ve(3, 1, ms(6.6)), ve(3, 2, ms(7)), ve(100, 10, ms(9))},
			bin:   10 << 20,
			want: map[string]bool{
				"1 refs over 1": true, "3 refs over 1": false, "3 refs over 2": true,
				"peak RSS": true, "stripped binary": true, "100 refs": true,
			},
		},
		{
			name:  "no 2-path floor: missed, not compared with another floor",
			cases: []VaultEnvCase{floor(1, ms(2.5)), ve(3, 2, ms(3))},
			bin:   13 << 20,
			want:  map[string]bool{"3 refs over 2": false, "stripped binary": false, "1 refs over 1": false},
		},
		{
			name:  "a failed case is missed",
			cases: []VaultEnvCase{floor(2, ms(3)), {Name: "ve", Refs: 3, Paths: 2, Auth: "token", Err: "boom"}},
			want:  map[string]bool{"3 refs over 2": false, "peak RSS": false},
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v := &VaultEnvResult{Cases: tt.cases, BinarySize: tt.bin}
			got := map[string]bool{}
			for _, x := range v.Targets() {
				for p := range tt.want {
					if strings.HasPrefix(x.Target, p) {
						got[p] = x.Met
					}
				}
			}
			for p, want := range tt.want {
				m, ok := got[p]
				if !ok {
					t.Errorf("no target %q in %+v", p, v.Targets())
				} else if m != want {
					t.Errorf("%q: met = %v, want %v; targets %+v", p, m, want, v.Targets())
				}
			}
		})
	}
}
