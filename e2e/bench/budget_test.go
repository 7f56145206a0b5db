package bench

import (
	"strings"
	"testing"
	"time"
)

// TestWebhookBudgetRows: the report's issue 17 rows compare with the floor of
// the same run and say missed when a ratio is over its budget.
func TestWebhookBudgetRows(t *testing.T) {
	level := func(cpu, p99 time.Duration) []LevelFigures {
		return []LevelFigures{{Concurrency: 1}, {Concurrency: 8, CPUPerReview: cpu, P99: p99}}
	}
	for _, tc := range []struct {
		name      string
		cpu, p99  time.Duration
		peak      int64
		wantLines []string
	}{
		{"all met", 50 * time.Microsecond, 2 * time.Millisecond, 20 << 20, []string{
			"| CPU per review at c=8 ≤ 2.5× the floor's | 0.050 ms = 2.5× the floor's 0.020 ms | met |",
			"| p99 at c=8 ≤ 3× the floor's | 2.000 ms = 2.0× the floor's 1.000 ms | met |",
			"| peak RSS ≤ 32 MiB (all scenarios) | 20.0 MiB | met |"}},
		{"cpu and rss over", 60 * time.Microsecond, 4 * time.Millisecond, 40 << 20, []string{
			"0.060 ms = 3.0× the floor's 0.020 ms | **missed** |",
			"4.000 ms = 4.0× the floor's 1.000 ms | **missed** |",
			"| peak RSS ≤ 32 MiB (all scenarios) | 40.0 MiB | **missed** |"}},
	} {
		t.Run(tc.name, func(t *testing.T) {
			r := &Report{Webhook: &WebhookResult{Scenarios: []ScenarioResult{{
				Name:  ScenarioRefs,
				Ours:  ServerFigures{Levels: level(tc.cpu, tc.p99), PeakRSS: tc.peak},
				Floor: ServerFigures{Levels: level(20*time.Microsecond, time.Millisecond)},
			}}}}
			md := r.Markdown()
			for _, want := range tc.wantLines {
				if !strings.Contains(md, want) {
					t.Errorf("report lacks %q:\n%s", want, md)
				}
			}
		})
	}
}
