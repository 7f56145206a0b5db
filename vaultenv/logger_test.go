package vaultenv

import (
	"bytes"
	"encoding/json"
	"strings"
	"testing"
	"time"
)

// TestNewLoggerUTC: log times are written in UTC (no local zone lookup).
func TestNewLoggerUTC(t *testing.T) {
	for _, tt := range []struct {
		name    string
		environ []string
	}{
		{name: "text", environ: nil},
		{name: "json", environ: []string{"VAULT_JSON_LOG=true"}},
	} {
		t.Run(tt.name, func(t *testing.T) {
			c, err := ParseConfig(tt.environ)
			if err != nil {
				t.Fatal(err)
			}
			var buf bytes.Buffer
			c.NewLogger(&buf).Info("hello", "k", "v")
			line := strings.TrimSpace(buf.String())
			var ts string
			if c.JSONLog {
				var m map[string]any
				if err := json.Unmarshal([]byte(line), &m); err != nil {
					t.Fatalf("not JSON: %q", line)
				}
				ts, _ = m["time"].(string)
			} else {
				f := strings.Fields(line)
				if len(f) == 0 {
					t.Fatalf("empty log line")
				}
				ts, _ = strings.CutPrefix(f[0], "time=")
			}
			when, err := time.Parse(time.RFC3339Nano, ts)
			if err != nil || !strings.HasSuffix(ts, "Z") {
				t.Fatalf("time %q is not RFC 3339 UTC (line %q)", ts, line)
			}
			if d := time.Since(when); d < -time.Minute || d > time.Minute {
				t.Fatalf("time %q is %v away from now", ts, d)
			}
			if !strings.Contains(line, "hello") {
				t.Fatalf("message missing: %q", line)
			}
		})
	}
}
