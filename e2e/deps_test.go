package e2e

// The dependency audit from `go test` (no sandbox needed): the modules linked
// into each binary must equal the committed list in scripts/deps.d/, and the
// architecture's two import bans hold. scripts/deps does the same from the
// shell and `scripts/deps update` rewrites the lists.

import (
	"bufio"
	"bytes"
	"context"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strings"
	"testing"
	"time"
)

// shipModules lists the modules (path version) linked into pkg, the way
// scripts/deps does: linux/amd64, CGO_ENABLED=0, the main module left out.
func shipModules(t *testing.T, root, pkg string) []string {
	t.Helper()
	ctx, cancel := context.WithTimeout(context.Background(), 3*time.Minute)
	defer cancel()
	cmd := exec.CommandContext(ctx, "go", "list", "-deps",
		"-f", "{{with .Module}}{{if not .Main}}{{.Path}} {{.Version}}{{end}}{{end}}", pkg)
	cmd.Dir = root
	cmd.Env = append(os.Environ(), "GOOS=linux", "GOARCH=amd64", "CGO_ENABLED=0", "GOFLAGS=-mod=readonly")
	var stderr bytes.Buffer
	cmd.Stderr = &stderr
	out, err := cmd.Output()
	if err != nil {
		t.Fatalf("failed to list the dependencies of %s: %v: %s", pkg, err, stderr.String())
	}
	return shipLines(out)
}

// shipLines returns the sorted, distinct, non-empty, non-comment lines.
func shipLines(b []byte) []string {
	var lines []string
	sc := bufio.NewScanner(bytes.NewReader(b))
	for sc.Scan() {
		l := strings.TrimSpace(sc.Text())
		if l == "" || strings.HasPrefix(l, "#") {
			continue
		}
		lines = append(lines, l)
	}
	slices.Sort(lines)
	return slices.Compact(lines)
}

func TestShipDependencyAllowList(t *testing.T) {
	if testing.Short() {
		t.Skip("go list of both binaries: skipped in -short mode")
	}
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	tests := []struct {
		binary    string
		pkg       string
		forbidden string // module path prefix that must never be linked
	}{
		{"vault-secrets-webhook", "./cmd/vault-secrets-webhook", "github.com/hashicorp/vault"},
		{"vault-env", "./cmd/vault-env", "k8s.io/"},
	}
	for _, tc := range tests {
		t.Run(tc.binary, func(t *testing.T) {
			got := shipModules(t, root, tc.pkg)
			for _, m := range got {
				if strings.HasPrefix(m, tc.forbidden) {
					t.Errorf("%s links %s: forbidden (%s*) by ARCHITECTURE.md", tc.binary, m, tc.forbidden)
				}
			}
			committed, err := os.ReadFile(filepath.Join(root, "scripts", "deps.d", tc.binary+".txt"))
			if err != nil {
				t.Fatalf("failed to read the committed list: %v (run scripts/deps update and commit it)", err)
			}
			want := shipLines(committed)
			for _, m := range got {
				if !slices.Contains(want, m) {
					t.Errorf("%s now links %s, not in scripts/deps.d/%s.txt (review it, then scripts/deps update)", tc.binary, m, tc.binary)
				}
			}
			for _, m := range want {
				if !slices.Contains(got, m) {
					t.Errorf("%s no longer links %s, still in scripts/deps.d/%s.txt (scripts/deps update)", tc.binary, m, tc.binary)
				}
			}
		})
	}
}
