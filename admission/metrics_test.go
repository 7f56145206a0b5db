package admission

import (
	"bytes"
	"io"
	"log/slog"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// newJSONLogger logs at debug, so that tests see every line a review can
// write.
func newJSONLogger(w io.Writer) *slog.Logger {
	return slog.New(slog.NewJSONHandler(w, &slog.HandlerOptions{Level: slog.LevelDebug}))
}

// TestMetricsExposition: what the review metrics write (promtool checks the
// whole page, these metrics included, in cmd/vault-secrets-webhook).
func TestMetricsExposition(t *testing.T) {
	m := NewMetrics()
	m.observeReview(OutcomeAllowed, envinject.ReasonMutated, 3*time.Millisecond)
	m.observeReview(OutcomeAllowed, envinject.ReasonNoReferences, 40*time.Microsecond)
	m.observeReview(OutcomeDenied, "vault_addr_refused", 2*time.Second)
	m.observeReview(OutcomeError, "weird \"reason\"\\\n", 20*time.Second)
	m.ObserveLookup("secret", "found")
	m.ObserveLookup("configmap", "not_found")
	m.ObserveLookup("image", "error")
	m.inFlight(2)
	m.Gauge("vsw_tls_certificate_expiry_timestamp_seconds", "Expiry of the serving certificate.", func() float64 { return 1.8e9 })
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
