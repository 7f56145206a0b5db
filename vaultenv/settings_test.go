package vaultenv

import (
	"os"
	"strings"
	"testing"
)

// settingsTable renders the README's vault-env table from Settings.
func settingsTable() string {
	var b strings.Builder
	b.WriteString("| Variable | Default | Meaning |\n|---|---|---|\n")
	for _, s := range Settings() {
		name := "`" + s.Name + "`"
		if s.Login {
			name += " ¹"
		}
		b.WriteString("| " + name + " | " + s.Default + " | " + s.Meaning + " |\n")
	}
	return b.String()
}

const (
	tableBegin = "<!-- vault-env-settings:begin (generated from vaultenv.Settings; checked by TestREADMESettings) -->\n"
	tableEnd   = "<!-- vault-env-settings:end -->"
)

// TestREADMESettings: the README's table is Settings, row for row.
func TestREADMESettings(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, rest, ok := strings.Cut(string(readme), tableBegin)
	table, _, ok2 := strings.Cut(rest, tableEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %q ... %q section", tableBegin, tableEnd)
	}
	if want := settingsTable(); table != want {
		t.Errorf("README.md's vault-env table is stale; it should read:\n%s", want)
	}
}

// TestSpecVars: with VAULT_ENV_SPEC_VARS, a setting or proxy variable it
// does not name is not used (and reported), one it names is; without it,
// everything is used.
func TestSpecVars(t *testing.T) {
	environ := []string{
		"VAULT_ENV_SPEC_VARS=VAULT_ROLE,HTTPS_PROXY",
		"VAULT_ADDR=https://evil.example:8200", // from envFrom
		"VAULT_SKIP_VERIFY=true",               // from envFrom
		"HTTP_PROXY=http://127.0.0.1:9",        // from envFrom
		"HTTPS_PROXY=http://127.0.0.1:3128",    // from env
		"VAULT_ROLE=app",
		"VAULT_TOKEN=s.from-envfrom",
		"APP=plain",
	}
	c, err := ParseConfig(environ)
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != DefaultAddr || c.SkipVerify || c.Role != "app" || len(c.Token) != 0 {
		t.Fatalf("config used an untrusted setting: %v skip=%t role=%s token=%d", c.Addr, c.SkipVerify, c.Role, len(c.Token))
	}
	want := []string{"HTTP_PROXY", "VAULT_ADDR", "VAULT_SKIP_VERIFY", "VAULT_TOKEN"}
	if strings.Join(c.Ignored, ",") != strings.Join(want, ",") {
		t.Fatalf("Ignored = %v, want %v", c.Ignored, want)
	}
	got := strings.Join(c.ClientEnv(), " ")
	if got != "VAULT_CLIENT_TIMEOUT=10s HTTPS_PROXY=http://127.0.0.1:3128" {
		t.Fatalf("ClientEnv = %q", got)
	}
	p, err := NewPlan(c, environ)
	if err != nil {
		t.Fatal(err)
	}
	res, err := Resolve(t.Context(), newFakeVault(), p, nil, discardLog())
	if err != nil {
		t.Fatal(err)
	}
	// The app keeps its proxy variables and loses every VAULT_* setting.
	if g := strings.Join(res.Env, " "); g != "HTTP_PROXY=http://127.0.0.1:9 HTTPS_PROXY=http://127.0.0.1:3128 APP=plain" {
		t.Fatalf("child env = %q", g)
	}

	c, err = ParseConfig(environ[1:])
	if err != nil {
		t.Fatal(err)
	}
	if c.Addr != "https://evil.example:8200" || !c.SkipVerify || c.Ignored != nil {
		t.Fatalf("without VAULT_ENV_SPEC_VARS every setting applies: %v", c)
	}
}
