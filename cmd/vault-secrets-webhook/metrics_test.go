package main

import (
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

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
	script, _ := filepath.Abs(filepath.Join("..", "..", "scripts", "tools.sh"))
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

// sampleValue returns the value of the sample line that starts with name
// followed by a space.
func sampleValue(t *testing.T, exposition, name string) float64 {
	t.Helper()
	for _, line := range strings.Split(exposition, "\n") {
		if v, ok := strings.CutPrefix(line, name+" "); ok {
			f, err := strconv.ParseFloat(v, 64)
			if err != nil {
				t.Fatalf("%s: %v", line, err)
			}
			return f
		}
	}
	t.Fatalf("exposition lacks %s:\n%s", name, exposition)
	return 0
}

func TestMetricsExposition(t *testing.T) {
	tool := promtool(t)
	snap := registry.MetricsSnapshot{
		Lookups:       map[registry.Result]uint64{registry.ResultOK: 5, registry.ResultTimeout: 1},
		CacheHits:     3,
		CacheMisses:   3,
		Coalesced:     1,
		CacheEntries:  2,
		DurationCount: 6,
		DurationSum:   1.25,
	}
	for i := range snap.DurationCounts {
		snap.DurationCounts[i] = min(uint64(i), 6)
	}
	m := admission.NewMetrics()
	m.ObserveLookup("image", "found")
	start := time.Now()
	m.Collect(newProcessMetrics(start).write)
	m.Collect(registryMetrics(func() registry.MetricsSnapshot { return snap }))
	var buf bytes.Buffer
	if err := m.Write(&buf); err != nil {
		t.Fatal(err)
	}
	out := buf.String()
	cmd := exec.Command(tool, "check", "metrics")
	cmd.Stdin = bytes.NewReader(buf.Bytes())
	if o, err := cmd.CombinedOutput(); err != nil {
		t.Fatalf("promtool check metrics: %v\n%s\n--- exposition:\n%s", err, o, out)
	}

	tests := []struct {
		name     string
		min, max float64
	}{
		{name: "go_goroutines", min: 1, max: 1e6},
		{name: "process_resident_memory_bytes", min: 1 << 20, max: 1 << 40},
		{name: "process_virtual_memory_bytes", min: 1 << 20, max: 1 << 50},
		{name: "process_cpu_seconds_total", min: 0, max: 1e6},
		// Started before this test, not in the future, not days ago.
		{name: "process_start_time_seconds", min: float64(start.Add(-24 * time.Hour).Unix()), max: float64(start.Unix() + 1)},
		{name: `vsw_registry_lookups_total{result="ok"}`, min: 5, max: 5},
		{name: `vsw_registry_lookups_total{result="invalid"}`, min: 0, max: 0},
		{name: "vsw_registry_cache_hits_total", min: 3, max: 3},
		{name: "vsw_registry_coalesced_total", min: 1, max: 1},
		{name: "vsw_registry_cache_entries", min: 2, max: 2},
		{name: `vsw_registry_lookup_duration_seconds_bucket{le="+Inf"}`, min: 6, max: 6},
		{name: "vsw_registry_lookup_duration_seconds_sum", min: 1.25, max: 1.25},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			v := sampleValue(t, out, tc.name)
			if v < tc.min || v > tc.max {
				t.Errorf("%s = %v, want within [%v, %v]", tc.name, v, tc.min, tc.max)
			}
		})
	}
}
