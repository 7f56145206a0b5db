package e2e

// Load, certificate rotation under load, and graceful shutdown of the real
// webhook binary (issue 8).
//
// Environment:
//
//	VSW_REL_REVIEWS       reviews in TestReliabilityLoad (default 5000;
//	                      scripts/soak sets 20000 or more)
//	VSW_REL_CONCURRENCY   concurrent connections of the load (default 64)

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"os"
	"slices"
	"strconv"
	"sync"
	"sync/atomic"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/faultproxy"
)

// Bounds of the load test.
const (
	relRSSGrowthBoundKB = 32 << 10 // RSS after the load may exceed RSS after warm-up by this much
	relGoroutineSlack   = 10       // goroutines (or threads) allowed above the pre-load count
)

// relLoadCase is one kind of review in the mix: a template with a fixed
// UID that each request replaces, and what the answer must hold.
type relLoadCase struct {
	name      string
	review    []byte
	uid       []byte
	wantPatch bool
}

func relLoadCases(t testing.TB) []relLoadCase {
	t.Helper()
	mk := func(name string, pod *corev1.Pod, wantPatch bool) relLoadCase {
		b := relReview(t, pod)
		return relLoadCase{name: name, review: b, uid: []byte(relUID(t, b)), wantPatch: wantPatch}
	}
	plain := relPod("plain", 0)
	lookup := relPod("lookup", 0)
	// A secretKeyRef to a Secret that does not exist (and no direct
	// reference, which would spare the lookup): one apiserver GET answered
	// 404, so no reference and no patch.
	lookup.Spec.Containers[0].Env = append(lookup.Spec.Containers[0].Env, corev1.EnvVar{
		Name: "FROM_SECRET",
		ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
			LocalObjectReference: corev1.LocalObjectReference{Name: "rel-missing"}, Key: "k",
		}},
	})
	return []relLoadCase{
		mk("refs", relPod("refs", 3), true),
		mk("refs-many", relPod("refs-many", 10), true),
		mk("plain", plain, false),
		mk("lookup", lookup, false),
	}
}

// relLoadStats is what a load run measured.
type relLoadStats struct {
	N, Errors    int64
	FirstErrors  []string
	Elapsed      time.Duration
	P50, P99, Mx time.Duration
}

func (s relLoadStats) String() string {
	rate := float64(s.N) / s.Elapsed.Seconds()
	return fmt.Sprintf("%d reviews in %v (%.0f/s), errors %d, p50 %v, p99 %v, max %v",
		s.N, s.Elapsed.Round(time.Millisecond), rate, s.Errors, s.P50, s.P99, s.Mx)
}

// relLoad sends n reviews over conc concurrent keep-alive connections and
// checks each answer: HTTP 200, the request's UID echoed, allowed, a patch
// exactly when the case wants one. Cancelling ctx ends the run early; a
// review cut short by that is not counted. progress, when not nil, counts
// answered reviews as they come.
func relLoad(ctx context.Context, w *relWebhook, c *http.Client, cases []relLoadCase, n, conc int, progress *atomic.Int64) relLoadStats {
	var next, errs, cancelled atomic.Int64
	lat := make([]time.Duration, n)
	var mu sync.Mutex
	var first []string
	fail := func(msg string) {
		errs.Add(1)
		mu.Lock()
		if len(first) < 5 {
			first = append(first, msg)
		}
		mu.Unlock()
	}
	start := time.Now()
	var wg sync.WaitGroup
	for range conc {
		wg.Go(func() {
			for {
				i := next.Add(1) - 1
				if i >= int64(n) || ctx.Err() != nil {
					return
				}
				lc := cases[i%int64(len(cases))]
				uid := fmt.Appendf(nil, "rel-load-%016d", i)
				body := bytes.Replace(lc.review, lc.uid, uid, 1)
				t0 := time.Now()
				res, err := relPost(ctx, c, w.URL("/pods"), body)
				lat[i] = time.Since(t0)
				if err != nil && ctx.Err() != nil {
					cancelled.Add(1)
					lat[i] = -1
					return
				}
				if progress != nil {
					progress.Add(1)
				}
				switch {
				case err != nil:
					fail(fmt.Sprintf("%s #%d: %v", lc.name, i, err))
				case res.HTTPStatus != http.StatusOK:
					fail(fmt.Sprintf("%s #%d: HTTP %d %s", lc.name, i, res.HTTPStatus, res.Message))
				case res.UID != string(uid):
					fail(fmt.Sprintf("%s #%d: uid %q, want %q", lc.name, i, res.UID, uid))
				case !res.Allowed:
					fail(fmt.Sprintf("%s #%d: denied %d %s", lc.name, i, res.Code, res.Message))
				case lc.wantPatch != (len(res.Patch) > 0):
					fail(fmt.Sprintf("%s #%d: patch of %d bytes, want patch=%v", lc.name, i, len(res.Patch), lc.wantPatch))
				}
			}
		})
	}
	wg.Wait()
	done := min(next.Load(), int64(n))
	lat = lat[:done]
	slices.Sort(lat)
	// Skip the never-sent (0) and cancelled (-1) slots of an early stop.
	for len(lat) > 0 && lat[0] <= 0 {
		lat = lat[1:]
	}
	s := relLoadStats{N: int64(len(lat)), Errors: errs.Load(), FirstErrors: first, Elapsed: time.Since(start)}
	if len(lat) > 0 {
		s.P50 = lat[len(lat)/2].Round(10 * time.Microsecond)
		s.P99 = lat[len(lat)*99/100].Round(10 * time.Microsecond)
		s.Mx = lat[len(lat)-1].Round(10 * time.Microsecond)
	}
	return s
}

func relEnvInt(t testing.TB, name string, def int) int {
	t.Helper()
	v := os.Getenv(name)
	if v == "" {
		return def
	}
	n, err := strconv.Atoi(v)
	if err != nil || n <= 0 {
		t.Fatalf("%s=%q: want a positive integer", name, v)
	}
	return n
}

// relGoroutines returns go_goroutines from /metrics when the webhook exposes
// it, else the process's thread count, and which one it is.
func relGoroutines(t testing.TB, w *relWebhook) (int64, string) {
	t.Helper()
	if v, ok := relMetric(t, w, "go_goroutines"); ok {
		return int64(v), "go_goroutines"
	}
	st, err := relReadProcStatus(w.PID())
	if err != nil {
		t.Fatal(err)
	}
	return st.Threads, "threads"
}

func TestReliabilityLoad(t *testing.T) {
	n := relEnvInt(t, "VSW_REL_REVIEWS", 5000)
	conc := relEnvInt(t, "VSW_REL_CONCURRENCY", 64)
	w := relStartWebhook(t, relWebhookOptions{})
	ctx := testContext(t)
	cases := relLoadCases(t)

	c := w.Client(conc, 30*time.Second)
	before, what := relGoroutines(t, w)

	warm := max(n/10, conc*4)
	ws := relLoad(ctx, w, c, cases, warm, conc, nil)
	if ws.Errors > 0 {
		t.Fatalf("warm-up: %s; first errors: %q", ws, ws.FirstErrors)
	}
	warmSt, err := relReadProcStatus(w.PID())
	if err != nil {
		t.Fatal(err)
	}

	s := relLoad(ctx, w, c, cases, n, conc, nil)
	endSt, err := relReadProcStatus(w.PID())
	if err != nil {
		t.Fatal(err)
	}
	t.Logf("rel-load: concurrency %d: %s", conc, s)
	t.Logf("rel-load: RSS after warm-up (%d reviews) %d KiB, after load %d KiB, peak (VmHWM) %d KiB", warm, warmSt.VmRSSKB, endSt.VmRSSKB, endSt.VmHWMKB)
	if s.Errors > 0 {
		t.Errorf("%d failed reviews; first: %q", s.Errors, s.FirstErrors)
	}
	if s.N != int64(n) {
		t.Errorf("sent %d reviews, want %d", s.N, n)
	}
	if growth := endSt.VmRSSKB - warmSt.VmRSSKB; growth > relRSSGrowthBoundKB {
		t.Errorf("RSS grew by %d KiB after warm-up (bound %d KiB)", growth, relRSSGrowthBoundKB)
	}

	// Close our connections; the server's side of each ends with them. The
	// count must come back to where it was (bounded poll).
	c.CloseIdleConnections()
	var after int64
	deadline := time.Now().Add(20 * time.Second)
	for {
		after, _ = relGoroutines(t, w)
		if after <= before+relGoroutineSlack || time.Now().After(deadline) {
			break
		}
		time.Sleep(100 * time.Millisecond)
	}
	t.Logf("rel-load: %s before %d, after %d", what, before, after)
	if after > before+relGoroutineSlack {
		t.Errorf("%s grew from %d to %d", what, before, after)
	}
}

// TestReliabilityCertRotationUnderLoad rotates the serving certificate five
// times while reviews flow, half of them on fresh connections (new
// handshakes), and requires every review to succeed and every rotation to be
// served.
func TestReliabilityCertRotationUnderLoad(t *testing.T) {
	t.Parallel()
	w := relStartWebhook(t, relWebhookOptions{ExtraArgs: []string{"--tls-reload-interval", "200ms"}})
	ctx := testContext(t)
	cases := relLoadCases(t)[:3] // no apiserver lookups: this test is about TLS

	keepAlive := w.Client(8, 30*time.Second)
	fresh := w.Client(8, 30*time.Second)
	fresh.Transport.(*http.Transport).DisableKeepAlives = true

	lctx, stop := context.WithCancel(ctx)
	defer stop()
	results := make(chan relLoadStats, 2)
	var answered atomic.Int64
	for _, c := range []*http.Client{keepAlive, fresh} {
		go func() { results <- relLoad(lctx, w, c, cases, 1_000_000, 8, &answered) }()
	}
	// Each rotation happens with reviews flowing: at least 100 answered
	// before it and until the new certificate is served.
	const rotations = 5
	for range rotations {
		mark := answered.Load()
		poll(t, 30*time.Second, "100 reviews between rotations", func() (bool, error) {
			return answered.Load() >= mark+100, nil
		})
		serial := w.CA.writeServing(t, w.CertFile, w.KeyFile)
		relWaitServedSerial(t, w, serial, 20*time.Second)
	}
	mark := answered.Load()
	poll(t, 30*time.Second, "100 reviews after the last rotation", func() (bool, error) {
		return answered.Load() >= mark+100, nil
	})
	stop()
	var total relLoadStats
	for range 2 {
		s := <-results
		total.N += s.N
		total.Errors += s.Errors
		total.FirstErrors = append(total.FirstErrors, s.FirstErrors...)
	}
	t.Logf("rel-rotation: %d rotations served, %d reviews during them, %d errors", rotations, total.N, total.Errors)
	if total.Errors > 0 {
		t.Errorf("%d reviews failed during rotation; first: %q", total.Errors, total.FirstErrors)
	}
}

// relWaitServedSerial polls fresh TLS handshakes until the server presents
// the certificate with serial.
func relWaitServedSerial(t *testing.T, w *relWebhook, serial int64, timeout time.Duration) {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for {
		conn, err := (&net.Dialer{Timeout: 5 * time.Second}).Dial("tcp", w.Addr)
		if err == nil {
			tc := tls.Client(conn, w.TLSConfig())
			err = tc.Handshake()
			if err == nil {
				got := tc.ConnectionState().PeerCertificates[0].SerialNumber.Int64()
				tc.Close()
				if got == serial {
					return
				}
				err = fmt.Errorf("serving serial %d", got)
			} else {
				conn.Close()
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("certificate serial %d not served after %v: %v", serial, timeout, err)
		}
		time.Sleep(50 * time.Millisecond)
	}
}

// TestReliabilityGracefulShutdown sends SIGTERM while reviews are in flight
// (held there by a slow apiserver behind a fault proxy) and requires: every
// in-flight review answered, new connections refused, exit 0 within the
// shutdown timeout.
func TestReliabilityGracefulShutdown(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	proxy := relProxy(t, env.KubeServer)
	const shutdownTimeout = 20 * time.Second
	w := relStartWebhook(t, relWebhookOptions{
		KubeServer: "https://" + proxy.Addr(),
		ExtraArgs:  []string{"--shutdown-timeout", shutdownTimeout.String()},
	})
	ctx := testContext(t)
	lookup := relLoadCases(t)[3]

	// Warm the kube client's connection, then slow the apiserver down: each
	// lookup now takes a second or more (every chunk each way waits 500ms).
	c := w.Client(16, 60*time.Second)
	if s := relLoad(ctx, w, c, []relLoadCase{lookup}, 4, 1, nil); s.Errors > 0 {
		t.Fatalf("warm-up: %q", s.FirstErrors)
	}
	proxy.Set(faultproxy.Fault{Mode: faultproxy.Delay, Delay: 500 * time.Millisecond, Chunk: 64 << 10})

	const inFlight = 12
	results := make(chan relLoadStats, 1)
	go func() { results <- relLoad(ctx, w, c, []relLoadCase{lookup}, inFlight, inFlight, nil) }()
	// Wait until the webhook holds them all.
	deadline := time.Now().Add(30 * time.Second)
	for {
		v, ok := relMetric(t, w, "vsw_admission_reviews_in_flight")
		if !ok {
			t.Fatal("webhook exposes no vsw_admission_reviews_in_flight")
		}
		if v >= inFlight {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("only %v reviews in flight after 30s", v)
		}
		time.Sleep(20 * time.Millisecond)
	}

	sigAt := time.Now()
	if err := w.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	// New connections are refused soon after the signal (the listener is
	// closed first), while the in-flight reviews are still waiting.
	refused := false
	for time.Since(sigAt) < 5*time.Second {
		conn, err := net.DialTimeout("tcp", w.Addr, time.Second)
		if err != nil {
			if errors.Is(err, syscall.ECONNREFUSED) {
				refused = true
				break
			}
		} else {
			conn.Close()
		}
		time.Sleep(20 * time.Millisecond)
	}
	refusedAfter := time.Since(sigAt)

	s := <-results
	exited, err := w.Wait(shutdownTimeout + 10*time.Second)
	exitAfter := time.Since(sigAt)
	t.Logf("rel-shutdown: %d in-flight reviews, %d errors; refused new connections after %v; exited after %v (%v)",
		s.N, s.Errors, refusedAfter.Round(time.Millisecond), exitAfter.Round(time.Millisecond), err)
	if !refused {
		t.Error("new connections were still accepted 5s after SIGTERM")
	}
	if s.Errors > 0 {
		t.Errorf("in-flight reviews failed at shutdown: %q", s.FirstErrors)
	}
	if !exited {
		t.Fatalf("webhook did not exit within %v of SIGTERM", shutdownTimeout+10*time.Second)
	}
	if err != nil {
		t.Errorf("webhook exit: %v, want status 0", err)
	}
}
