package admission

import (
	"fmt"
	"io"
	"net/http"
	"slices"
	"strconv"
	"strings"
	"sync"
	"sync/atomic"
	"time"
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
	if m == nil {
		return
	}
	m.inflight.Add(delta)
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
	m.mu.Lock()
	defer m.mu.Unlock()
	m.extra = append(m.extra, func(w io.Writer) {
		fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s gauge\n%s %s\n", name, help, name, name, formatFloat(value()))
	})
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
	w.Header().Set("Content-Type", "text/plain; version=0.0.4; charset=utf-8")
	_ = m.Write(w)
}

// Write writes the exposition to w.
func (m *Metrics) Write(w io.Writer) error {
	var b strings.Builder
	m.mu.Lock()
	b.WriteString("# HELP vsw_admission_reviews_total Admission reviews answered, by outcome and reason.\n")
	b.WriteString("# TYPE vsw_admission_reviews_total counter\n")
	for _, k := range sortedKeys(m.reviews) {
		fmt.Fprintf(&b, "vsw_admission_reviews_total{outcome=%s,reason=%s} %d\n", quote(k[0]), quote(k[1]), m.reviews[k])
	}
	b.WriteString("# HELP vsw_admission_review_duration_seconds Time to answer an admission review.\n")
	b.WriteString("# TYPE vsw_admission_review_duration_seconds histogram\n")
	var cum uint64
	for i, ub := range durationBuckets {
		cum += m.buckets[i]
		fmt.Fprintf(&b, "vsw_admission_review_duration_seconds_bucket{le=%s} %d\n", quote(formatFloat(ub)), cum)
	}
	fmt.Fprintf(&b, "vsw_admission_review_duration_seconds_bucket{le=\"+Inf\"} %d\n", m.count)
	fmt.Fprintf(&b, "vsw_admission_review_duration_seconds_sum %s\n", formatFloat(m.sum))
	fmt.Fprintf(&b, "vsw_admission_review_duration_seconds_count %d\n", m.count)
	b.WriteString("# HELP vsw_lookups_total Secret, ConfigMap and image lookups, by kind and result.\n")
	b.WriteString("# TYPE vsw_lookups_total counter\n")
	for _, k := range sortedKeys(m.lookups) {
		fmt.Fprintf(&b, "vsw_lookups_total{kind=%s,result=%s} %d\n", quote(k[0]), quote(k[1]), m.lookups[k])
	}
	b.WriteString("# HELP vsw_admission_reviews_in_flight Admission reviews being answered now.\n")
	b.WriteString("# TYPE vsw_admission_reviews_in_flight gauge\n")
	fmt.Fprintf(&b, "vsw_admission_reviews_in_flight %d\n", m.inflight.Load())
	extra := slices.Clone(m.extra)
	m.mu.Unlock()
	for _, f := range extra {
		f(&b)
	}
	_, err := io.WriteString(w, b.String())
	return err
}

func sortedKeys(m map[[2]string]uint64) [][2]string {
	keys := make([][2]string, 0, len(m))
	for k := range m {
		keys = append(keys, k)
	}
	slices.SortFunc(keys, func(a, b [2]string) int {
		if c := strings.Compare(a[0], b[0]); c != 0 {
			return c
		}
		return strings.Compare(a[1], b[1])
	})
	return keys
}

// quote renders a label value: backslash, double quote and newline escaped.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}

func formatFloat(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }
