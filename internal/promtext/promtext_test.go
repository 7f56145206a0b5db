package promtext

import (
	"strings"
	"testing"
)

func TestWrite(t *testing.T) {
	var b strings.Builder
	CounterValue(&b, "c_total", "A counter.", 3)
	GaugeValue(&b, "g", "A gauge.", 0.25)
	Family(&b, "l_total", Counter, "Labelled.")
	Sample(&b, "l_total", Uint(1), "a", `x"y\z`+"\n", "b", "")
	HistogramValue(&b, "h_seconds", "A histogram.", []float64{0.1, 1}, []uint64{1, 2}, 3, 4.5)
	want := `# HELP c_total A counter.
# TYPE c_total counter
c_total 3
# HELP g A gauge.
# TYPE g gauge
g 0.25
# HELP l_total Labelled.
# TYPE l_total counter
l_total{a="x\"y\\z\n",b=""} 1
# HELP h_seconds A histogram.
# TYPE h_seconds histogram
h_seconds_bucket{le="0.1"} 1
h_seconds_bucket{le="1"} 2
h_seconds_bucket{le="+Inf"} 3
h_seconds_sum 4.5
h_seconds_count 3
`
	if got := b.String(); got != want {
		t.Errorf("got:\n%s\nwant:\n%s", got, want)
	}
}
