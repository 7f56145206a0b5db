package e2e

// Memory under hostile clients (issue 16): 48 connections keep sending
// 4 MiB reviews slowly while a steady stream of ordinary reviews goes on.
// The webhook's peak RSS must stay under the Deployment's 128Mi limit and
// every ordinary review must be answered (admission.Budget).

import (
	"bufio"
	"crypto/tls"
	"fmt"
	"io"
	"net/http"
	"slices"
	"sync"
	"sync/atomic"
	"testing"
	"time"
)

const (
	relBudgetAttackers = 48
	relBudgetBodyBytes = 3_800_000 // relBigReview builds up to 10% more: under the 4 MiB body limit
	relBudgetAttack    = 12 * time.Second
	relBudgetTrickle   = 64 << 10              // bytes per write
	relBudgetPace      = 40 * time.Millisecond // between writes: 4 MiB in about 2.5 s
)

func TestReliabilityHostileSlowBodies(t *testing.T) {
	// As the shipped Deployment runs it (manifests/base/30-deployment.yaml:
	// GOMEMLIMIT=96MiB, three quarters of its 128Mi limit, the bound below).
	w := relStartWebhook(t, relWebhookOptions{ExtraEnv: []string{"GOMEMLIMIT=96MiB"}})
	ctx := testContext(t)
	big := relBigReview(t, relBudgetBodyBytes)
	if len(big) > 4<<20 {
		t.Fatalf("the attackers' review is %d bytes, over the 4 MiB body limit", len(big))
	}
	end := time.Now().Add(relBudgetAttack)

	// The attackers: each sends a large review slowly, reads the answer,
	// and starts again until the attack ends.
	var attackMu sync.Mutex
	attackStatus := map[int]int{} // HTTP status (0: connection cut) -> count
	var wg sync.WaitGroup
	for range relBudgetAttackers {
		wg.Go(func() {
			for time.Now().Before(end) {
				code := relSlowPost(w, big, end)
				attackMu.Lock()
				attackStatus[code]++
				attackMu.Unlock()
			}
		})
	}

	// The ordinary reviews, as the apiserver sends them: small, at once.
	var latencies []time.Duration
	var failed atomic.Int32
	var failures []string
	var realMu sync.Mutex
	c := w.Client(4, 10*time.Second)
	defer c.CloseIdleConnections()
	var rwg sync.WaitGroup
	for i := range 4 {
		rwg.Go(func() {
			for n := 0; time.Now().Before(end); n++ {
				body := relReview(t, relPod(fmt.Sprintf("real-%d-%d", i, n), 2))
				start := time.Now()
				res, err := relPost(ctx, c, w.URL("/pods"), body)
				took := time.Since(start)
				realMu.Lock()
				latencies = append(latencies, took)
				if err != nil || res.HTTPStatus != http.StatusOK || !res.Allowed || len(res.Patch) == 0 {
					failed.Add(1)
					if len(failures) < 5 {
						failures = append(failures, fmt.Sprintf("HTTP %d allowed=%v err=%v %q", res.HTTPStatus, res.Allowed, err, res.Message))
					}
				}
				realMu.Unlock()
				time.Sleep(10 * time.Millisecond)
			}
		})
	}
	rwg.Wait()
	wg.Wait()

	if w.Exited() {
		t.Fatalf("the webhook exited; log:\n%s", relTail(w.LogFile, 40))
	}
	st, err := relReadProcStatus(w.PID())
	if err != nil {
		t.Fatal(err)
	}
	slices.Sort(latencies)
	p := func(q float64) time.Duration {
		return latencies[int(q*float64(len(latencies)-1))].Round(10 * time.Microsecond)
	}
	t.Logf("%d attackers x %d-byte reviews for %v (answers by HTTP status, 0 = cut: %v); %d ordinary reviews, %d failed, p50 %v p99 %v max %v; webhook VmHWM %d KiB (bound %d KiB)",
		relBudgetAttackers, len(big), relBudgetAttack, attackStatus, len(latencies), failed.Load(), p(0.5), p(0.99), latencies[len(latencies)-1], st.VmHWMKB, relHostileHWMBoundKB)
	if failed.Load() > 0 {
		t.Errorf("%d ordinary reviews failed during the attack, e.g. %q", failed.Load(), failures)
	}
	if st.VmHWMKB > relHostileHWMBoundKB {
		t.Errorf("peak RSS %d KiB exceeds the Deployment limit %d KiB", st.VmHWMKB, relHostileHWMBoundKB)
	}
	if attackStatus[http.StatusServiceUnavailable] == 0 {
		t.Errorf("no attacker was refused for lack of budget (%v): the attack did not reach the bound", attackStatus)
	}
}

// relSlowPost sends body over a fresh HTTP/1.1 connection, relBudgetTrickle
// bytes every relBudgetPace, and returns the status of the answer (0 when
// the connection was closed without one).
func relSlowPost(w *relWebhook, body []byte, end time.Time) int {
	conn, err := tls.Dial("tcp", w.Addr, w.TLSConfig())
	if err != nil {
		return 0
	}
	defer conn.Close()
	conn.SetDeadline(end.Add(20 * time.Second))
	head := fmt.Sprintf("POST /pods HTTP/1.1\r\nHost: %s\r\nContent-Type: application/json\r\nContent-Length: %d\r\n\r\n", w.Addr, len(body))
	if _, err := io.WriteString(conn, head); err != nil {
		return 0
	}
	answered := make(chan int, 1)
	go func() {
		resp, err := http.ReadResponse(bufio.NewReader(conn), nil)
		if err != nil {
			answered <- 0
			return
		}
		resp.Body.Close()
		answered <- resp.StatusCode
	}()
	for off := 0; off < len(body); off += relBudgetTrickle {
		select {
		case code := <-answered:
			return code // answered before the whole body was sent: refused
		case <-time.After(relBudgetPace):
		}
		if _, err := conn.Write(body[off:min(off+relBudgetTrickle, len(body))]); err != nil {
			break
		}
	}
	return <-answered
}
