package admission

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"testing"
	"time"
)

// newJSONLogger logs at debug, so that tests see every line a review can
// write.
func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// promtool finds the real promtool: $VSW_PROMTOOL, PATH, or
// scripts/tools.sh (which extracts it from Debian's prometheus package).
func promtool(t *testing.T) string {
	t.Helper()
	if p := os.Getenv("VSW_PROMTOOL"); p != "" {
		return p
	}
	if p, err := exec.LookPath("promtool"); err == nil {
		return p
	}
	script, _ := filepath.Abs(filepath.Join("..", "scripts", "tools.sh"))
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	out, err := exec.CommandContext(ctx, script, "path", "promtool").Output()
	if err == nil {
		if p := strings.TrimSpace(string(out)); p != "" {
			return p
		}
	}
	if os.Getenv("VSW_E2E_REQUIRED") == "1" {
		t.Fatalf("promtool not available: %v", err)
	}
	t.Skipf("promtool not available (%v): set VSW_PROMTOOL", err)
	return ""
}

func TestMetricsPromtool(t *testing.T) {
	tool := promtool(t)
	m := NewMetrics()
	m.observeReview(OutcomeAllowed, ReasonMutated, 3*time.Millisecond)
	m.observeReview(OutcomeAllowed, ReasonNoReferences, 40*time.Microsecond)
	m.observeReview(OutcomeDenied, "vault_addr_refused", 2*time.Second)
	m.observeReview(OutcomeError, "weird \"reason\"\\\n", 20*time.Second)
	m.ObserveLookup("secret", "found")
	m.ObserveLookup("configmap", "not_found")
	m.ObserveLookup("image", "error")
	m.inFlight(2)
	m.Gauge("vsw_tls_certificate_expiry_timestamp_seconds", "Expiry of the serving certificate.", func() float64 { return 1.8e9 })
	for _, tc := range []struct {
		name string
		m    *Metrics
	}{{"empty", NewMetrics()}, {"populated", m}} {
		t.Run(tc.name, func(t *testing.T) {
			var buf bytes.Buffer
			if err := tc.m.Write(&buf); err != nil {
				t.Fatal(err)
			}
			cmd := exec.Command(tool, "check", "metrics")
			cmd.Stdin = bytes.NewReader(buf.Bytes())
			out, err := cmd.CombinedOutput()
			if err != nil {
				t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, out, buf.String())
			}
		})
	}
	var buf bytes.Buffer
	_ = m.Write(&buf)
	for _, want := range []string{
		`vsw_admission_review_duration_seconds_bucket{le="0.005"} 2`,
		`vsw_admission_review_duration_seconds_bucket{le="+Inf"} 4`,
		`vsw_admission_review_duration_seconds_count 4`,
		`vsw_admission_reviews_total{outcome="denied",reason="vault_addr_refused"} 1`,
		`vsw_admission_reviews_total{outcome="error",reason="weird \"reason\"\\\n"} 1`,
		`vsw_lookups_total{kind="secret",result="found"} 1`,
		`vsw_admission_reviews_in_flight 2`,
	} {
		if !strings.Contains(buf.String(), want) {
			t.Errorf("exposition lacks %s:\n%s", want, buf.String())
		}
	}
}
