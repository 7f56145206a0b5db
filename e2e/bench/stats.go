package bench

import (
	"math"
	"slices"
	"time"
)

// Percentile returns the q-quantile (0 ≤ q ≤ 1) of sorted by the
// nearest-rank method: the smallest sample such that at least q of all
// samples are ≤ it. sorted must be in ascending order; an empty slice gives 0.
func Percentile(sorted []time.Duration, q float64) time.Duration {
	n := len(sorted)
	if n == 0 {
		return 0
	}
	if q <= 0 {
		return sorted[0]
	}
	if q >= 1 {
		return sorted[n-1]
	}
	r := max(int(math.Ceil(q*float64(n))), 1) // the rank, 1-based
	return sorted[r-1]
}

// Median returns the median of xs (the mean of the two middle values for an
// even count) without modifying xs. An empty slice gives 0.
func Median(xs []float64) float64 {
	if len(xs) == 0 {
		return 0
	}
	s := slices.Clone(xs)
	slices.Sort(s)
	m := len(s) / 2
	if len(s)%2 == 1 {
		return s[m]
	}
	return (s[m-1] + s[m]) / 2
}

// MedianDuration is [Median] for durations.
func MedianDuration(ds []time.Duration) time.Duration {
	xs := make([]float64, len(ds))
	for i, d := range ds {
		xs[i] = float64(d)
	}
	return time.Duration(Median(xs))
}

// Ratio returns a/b, or 0 when b is 0 (a missing floor never divides by zero).
func Ratio(a, b float64) float64 {
	if b == 0 {
		return 0
	}
	return a / b
}
