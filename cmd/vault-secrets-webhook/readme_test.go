package main

import (
	"os"
	"strings"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// flagsTable renders README's webhook flag table from flagSpecs.
func flagsTable() string {
	var b strings.Builder
	b.WriteString("| Flag | Variable | Default | Meaning |\n|---|---|---|---|\n")
	for _, f := range flagSpecs {
		def := "—"
		if f.def != "" {
			def = "`" + f.def + "`"
		}
		b.WriteString("| `--" + f.name + "` | `" + f.env + "` | " + def + " | " + strings.ReplaceAll(f.usage, "|", `\|`) + " |\n")
	}
	return b.String()
}

const (
	flagsBegin = "<!-- webhook-flags:begin (generated from flagSpecs in cmd/vault-secrets-webhook/config.go; checked by TestREADMEFlags) -->\n"
	flagsEnd   = "<!-- webhook-flags:end -->"
)

// TestREADMEFlags: README's flag table is flagSpecs, row for row (run with
// VSW_UPDATE_README=1 to rewrite it), and the package doc names every flag
// with its variable and every webhook-wide annotation default.
func TestREADMEFlags(t *testing.T) {
	readme, err := os.ReadFile("../../README.md")
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(readme), flagsBegin)
	table, tail, ok2 := strings.Cut(rest, flagsEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %q ... %q section", flagsBegin, flagsEnd)
	}
	if want := flagsTable(); table != want {
		if os.Getenv("VSW_UPDATE_README") == "1" {
			if err := os.WriteFile("../../README.md", []byte(head+flagsBegin+want+flagsEnd+tail), 0o644); err != nil {
				t.Fatal(err)
			}
		} else {
			t.Errorf("README.md's webhook flag table is stale (VSW_UPDATE_README=1 rewrites it); it should read:\n%s", want)
		}
	}
	doc, err := os.ReadFile("main.go")
	if err != nil {
		t.Fatal(err)
	}
	flat := strings.Join(strings.Fields(strings.ReplaceAll(string(doc), "//", " ")), " ")
	for _, f := range flagSpecs {
		if !strings.Contains(flat, "--"+f.name+" ["+f.env+"]") {
			t.Errorf("main.go's package doc does not list --%s [%s]", f.name, f.env)
		}
	}
	for _, a := range envinject.Annotations {
		if a.DefaultEnv != "" && !strings.Contains(flat, a.DefaultEnv) {
			t.Errorf("main.go's package doc does not name %s (default of annotation %s)", a.DefaultEnv, a.Name)
		}
	}
}
