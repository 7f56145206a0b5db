package main

import (
	"bytes"
	"context"
	"path/filepath"
	"strings"
	"testing"
)

func TestFlagErrors(t *testing.T) {
	noEnv := func(string) string { return "" }
	emptySandbox := t.TempDir()
	tests := []struct {
		name     string
		args     []string
		getenv   func(string) string
		wantCode int
		wantErr  string
	}{
		{"no pod", []string{"--sandbox", "x"}, noEnv, 2, "--pod is required"},
		{"no sandbox", []string{"--pod", "p"}, noEnv, 2, "--sandbox is required"},
		{"stray argument", []string{"--pod", "p", "extra"}, noEnv, 2, `unexpected "extra"`},
		{"negative timeout", []string{"--pod", "p", "--sandbox", "x", "--timeout", "-1s"}, noEnv, 2, "--timeout"},
		{"unknown flag", []string{"--nope"}, noEnv, 2, ""},
		{"sandbox without env.json", []string{"--pod", "p", "--sandbox", emptySandbox}, noEnv, 125, "failed to read sandbox description"},
		{"sandbox from VSW_SANDBOX", []string{"--pod", "p"}, func(k string) string {
			if k == "VSW_SANDBOX" {
				return filepath.Join(emptySandbox, "nope")
			}
			return ""
		}, 125, "failed to read sandbox description"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var stdout, stderr bytes.Buffer
			code, err := run(context.Background(), append([]string{"kubelet-standin"}, tt.args...), tt.getenv, &stdout, &stderr)
			if code != tt.wantCode {
				t.Errorf("code = %d, want %d (err %v)", code, tt.wantCode, err)
			}
			if tt.wantErr != "" && (err == nil || !strings.Contains(err.Error(), tt.wantErr)) {
				t.Errorf("err = %v, want %q", err, tt.wantErr)
			}
		})
	}
}
