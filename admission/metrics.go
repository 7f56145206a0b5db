package admission

import (
	"cmp"
	"io"
	"maps"
	"net/http"
	"slices"
	"strings"
	"sync"
	"sync/atomic"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/promtext"
)

// Metrics counts reviews and lookups and writes them in the Prometheus text
// exposition format (version 0.0.4). A nil *Metrics records nothing.
type Metrics struct {
	mu       sync.Mutex
	reviews  map[[2]string]uint64 // outcome, reason
	lookups  map[[2]string]uint64 // kind, result
	buckets  []uint64             // cumulative counts are computed on write
	count    uint64
	sum      float64
	inflight atomic.Int64
	extra    []func(w io.Writer)
}

// durationBuckets are the upper bounds of the review duration histogram, in
// seconds.
var durationBuckets = []float64{0.001, 0.0025, 0.005, 0.01, 0.025, 0.05, 0.1, 0.25, 0.5, 1, 2.5, 5, 10}

// NewMetrics returns empty metrics.
func NewMetrics() *Metrics {
	return &Metrics{
		reviews: map[[2]string]uint64{},
		lookups: map[[2]string]uint64{},
		buckets: make([]uint64, len(durationBuckets)),
	}
}

func (m *Metrics) inFlight(delta int64) {
	if m != nil {
		m.inflight.Add(delta)
	}
}

func (m *Metrics) observeReview(outcome, reason string, d time.Duration) {
	if m == nil {
		return
	}
	s := d.Seconds()
	m.mu.Lock()
	defer m.mu.Unlock()
	m.reviews[[2]string{outcome, reason}]++
	m.count++
	m.sum += s
	for i, ub := range durationBuckets {
		if s <= ub {
			m.buckets[i]++
			break
		}
	}
}

// ObserveLookup counts one Secret/ConfigMap/image lookup. Use it as
// Config.OnLookup.
func (m *Metrics) ObserveLookup(kind, result string) {
	if m == nil {
		return
	}
	m.mu.Lock()
	m.lookups[[2]string{kind, result}]++
	m.mu.Unlock()
}

// Gauge adds a gauge computed at scrape time (for example certificate
// expiry) to the exposition.
func (m *Metrics) Gauge(name, help string, value func() float64) {
	m.Collect(func(w io.Writer) { promtext.GaugeValue(w, name, help, value()) })
}

// Collect adds f to the exposition: it is called at scrape time, after the
// built-in metrics, and must write complete metric families (HELP, TYPE,
// samples) whose names no other collector uses.
func (m *Metrics) Collect(f func(w io.Writer)) {
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra = append(m.extra, f)
}

// ServeHTTP writes the exposition.
func (m *Metrics) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	if r.Method != http.MethodGet && r.Method != http.MethodHead {
		w.Header().Set("Allow", "GET, HEAD")
		httpError(w, http.StatusMethodNotAllowed, "only GET is allowed")
		return
	}
	w.Header().Set("Content-Type", promtext.ContentType)
	_ = m.Write(w)
}

// Write writes the exposition to w.
func (m *Metrics) Write(w io.Writer) error {
	var b strings.Builder
	m.mu.Lock()
	promtext.Family(&b, "vsw_admission_reviews_total", promtext.Counter, "Admission reviews answered, by outcome and reason.")
	for _, k := range sortedKeys(m.reviews) {
		promtext.Sample(&b, "vsw_admission_reviews_total", promtext.Uint(m.reviews[k]), "outcome", k[0], "reason", k[1])
	}
	cum := make([]uint64, len(m.buckets))
	var n uint64
	for i, c := range m.buckets {
		n += c
		cum[i] = n
	}
	promtext.HistogramValue(&b, "vsw_admission_review_duration_seconds", "Time to answer an admission review.", durationBuckets, cum, m.count, m.sum)
	promtext.Family(&b, "vsw_lookups_total", promtext.Counter, "Secret, ConfigMap and image lookups, by kind and result.")
	for _, k := range sortedKeys(m.lookups) {
		promtext.Sample(&b, "vsw_lookups_total", promtext.Uint(m.lookups[k]), "kind", k[0], "result", k[1])
	}
	promtext.Family(&b, "vsw_admission_reviews_in_flight", promtext.Gauge, "Admission reviews being answered now.")
	promtext.Sample(&b, "vsw_admission_reviews_in_flight", promtext.Int(m.inflight.Load()))
	extra := slices.Clone(m.extra)
	m.mu.Unlock()
	for _, f := range extra {
		f(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedKeys(m map[[2]string]uint64) [][2]string {
	return slices.SortedFunc(maps.Keys(m), func(a, b [2]string) int {
		return cmp.Or(strings.Compare(a[0], b[0]), strings.Compare(a[1], b[1]))
	})
}
