// Package promtext writes the Prometheus text exposition format (version
// 0.0.4): the one writer of the webhook's /metrics page (review metrics in
// package admission, registry and process metrics in
// cmd/vault-secrets-webhook).
package promtext

import (
	"fmt"
	"io"
	"strconv"
	"strings"
)

// Metric types.
const (
	Counter   = "counter"
	Gauge     = "gauge"
	Histogram = "histogram"
)

// ContentType is the exposition's Content-Type.
const ContentType = "text/plain; version=0.0.4; charset=utf-8"

// Family writes the HELP and TYPE lines of a metric family.
func Family(w io.Writer, name, typ, help string) {
	fmt.Fprintf(w, "# HELP %s %s\n# TYPE %s %s\n", name, help, name, typ)
}

// Sample writes one sample; labels are name, value pairs.
func Sample(w io.Writer, name, value string, labels ...string) {
	var b strings.Builder
	b.WriteString(name)
	for i := 0; i+1 < len(labels); i += 2 {
		if i == 0 {
			b.WriteByte('{')
		} else {
			b.WriteByte(',')
		}
		b.WriteString(labels[i])
		b.WriteByte('=')
		b.WriteString(quote(labels[i+1]))
	}
	if len(labels) > 1 {
		b.WriteByte('}')
	}
	b.WriteByte(' ')
	b.WriteString(value)
	b.WriteByte('\n')
	io.WriteString(w, b.String())
}

// GaugeValue writes a family of one gauge sample.
func GaugeValue(w io.Writer, name, help string, v float64) {
	Family(w, name, Gauge, help)
	Sample(w, name, Float(v))
}

// CounterValue writes a family of one counter sample.
func CounterValue(w io.Writer, name, help string, v uint64) {
	Family(w, name, Counter, help)
	Sample(w, name, Uint(v))
}

// HistogramValue writes a histogram family: cumulative[i] counts the
// observations at most bounds[i]; count and sum cover all of them.
func HistogramValue(w io.Writer, name, help string, bounds []float64, cumulative []uint64, count uint64, sum float64) {
	Family(w, name, Histogram, help)
	for i, ub := range bounds {
		Sample(w, name+"_bucket", Uint(cumulative[i]), "le", Float(ub))
	}
	Sample(w, name+"_bucket", Uint(count), "le", "+Inf")
	Sample(w, name+"_sum", Float(sum))
	Sample(w, name+"_count", Uint(count))
}

// Float renders a float sample value.
func Float(f float64) string { return strconv.FormatFloat(f, 'g', -1, 64) }

// Uint renders an integer sample value.
func Uint(u uint64) string { return strconv.FormatUint(u, 10) }

// Int renders a signed integer sample value.
func Int(i int64) string { return strconv.FormatInt(i, 10) }

// quote renders a label value: backslash, double quote and newline escaped.
func quote(s string) string {
	s = strings.ReplaceAll(s, `\`, `\\`)
	s = strings.ReplaceAll(s, `"`, `\"`)
	s = strings.ReplaceAll(s, "\n", `\n`)
	return `"` + s + `"`
}
