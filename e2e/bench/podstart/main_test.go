package main

import (
	"strings"
	"testing"
	"time"

	"k8s.io/apimachinery/pkg/api/resource"
)

// TestMarkdown: the table's statistics (nearest-rank p90, even-count median)
// and the difference row, and the peak line against the limit.
func TestMarkdown(t *testing.T) {
	limit := resource.MustParse("64Mi")
	var wrapped, unwrapped []sample
	for i := 1; i <= 10; i++ {
		wrapped = append(wrapped, sample{start: time.Duration(i) * 100 * time.Millisecond, peak: int64(i) << 20, limit: limit})
		unwrapped = append(unwrapped, sample{start: time.Duration(i) * 50 * time.Millisecond, peak: 3 << 20})
	}
	got := markdown(wrapped, unwrapped, "1 2 3")
	for _, want := range []string{
		"| wrapped | 10 | 0.55 s | 0.90 s | 0.10 s | 1.00 s |\n",
		"| unwrapped | 10 | 0.28 s | 0.45 s | 0.05 s | 0.50 s |\n",
		"| wrapped − unwrapped | | +0.28 s | +0.45 s | +0.05 s | +0.50 s |\n",
		"1.0 MiB–10.0 MiB (median 5.5 MiB) of its 64Mi limit, n=10.",
		"the unwrapped pod's cgroup peaks at 3.0 MiB",
	} {
		if !strings.Contains(got, want) {
			t.Errorf("markdown lacks %q:\n%s", want, got)
		}
	}
}

// TestWalkthroughPod: only the wrapped pod names the Vault secret; the
// unwrapped one carries the label the webhook configuration skips.
func TestWalkthroughPod(t *testing.T) {
	w, u := walkthroughPod("w", true), walkthroughPod("u", false)
	if v := w.Spec.Containers[0].Env[0].Value; !strings.HasPrefix(v, "vault:") || len(w.Labels) != 0 {
		t.Errorf("wrapped pod: value %q, labels %v", v, w.Labels)
	}
	if v := u.Spec.Containers[0].Env[0].Value; v != secret || u.Labels["security.banzaicloud.io/mutate"] != "skip" {
		t.Errorf("unwrapped pod: value is the secret %t, labels %v", v == secret, u.Labels)
	}
}
