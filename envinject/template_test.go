package envinject

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
	"text/template"
)

// oracleFuncs are the template functions for text/template, the oracle the
// key-template evaluator is checked against.
func oracleFuncs() template.FuncMap {
	call := func(name string) func(args ...any) (any, error) {
		return func(args ...any) (any, error) { return tmplFunc(name)(args) }
	}
	m := template.FuncMap{}
	for name := range tmplFuncs() {
		if name == "index" {
			continue // text/template has its own index
		}
		m[name] = call(name)
	}
	return m
}

var templateData = map[string]any{
	"user":     "app",
	"password": "s3cr3t ",
	"enc":      base64.StdEncoding.EncodeToString([]byte("decoded\n")),
	"port":     json.Number("5432"),
	"key-dash": "dashed",
	"nested":   map[string]any{"inner": "deep"},
}

func TestKeyTemplateMatchesTextTemplate(t *testing.T) {
	tests := []string{
		"${.user}",
		"${.user}:${.password}",
		"prefix ${ .user } suffix",
		"${.password | trim}",
		"${.password | trim | upper}",
		"${upper .user}",
		"${.enc | b64dec}",
		"${.enc | b64dec | trim | b64enc}",
		"${b64enc (upper .user)}",
		`${index . "key-dash"}`,
		`${index . "nested" "inner"}`,
		"${.nested.inner}",
		"${.port}",
		"${toString .port}",
		`${"lit" | upper}`,
		"${`raw` | lower}",
		"${.user | json}",
		"no actions at all",
	}
	for _, src := range tests {
		t.Run(src, func(t *testing.T) {
			want := execOracle(t, src)
			kt, err := parseTemplate(src)
			if err != nil {
				t.Fatalf("parseTemplate: %v", err)
			}
			got, err := kt.execute(templateData)
			if err != nil {
				t.Fatalf("execute: %v", err)
			}
			if got != want {
				t.Fatalf("got %q, text/template gives %q", got, want)
			}
		})
	}
}

func execOracle(t *testing.T, src string) string {
	t.Helper()
	tt, err := template.New("k").Delims("${", "}").Option("missingkey=error").Funcs(oracleFuncs()).Parse(src)
	if err != nil {
		t.Fatalf("text/template rejects %q: %v", src, err)
	}
	var b strings.Builder
	if err := tt.Execute(&b, templateData); err != nil {
		t.Fatalf("text/template fails on %q: %v", src, err)
	}
	return b.String()
}

func TestKeyTemplateErrors(t *testing.T) {
	tests := []struct {
		name, src   string
		parseErr    bool
		wantMissing string
	}{
		{name: "unclosed", src: "${.user", parseErr: true},
		{name: "unknown function", src: "${nope .user}", parseErr: true},
		{name: "value after pipe", src: "${.user | .password}", parseErr: true},
		{name: "two values", src: "${.user .password}", parseErr: true},
		{name: "empty action", src: "${}", parseErr: true},
		{name: "unterminated string", src: `${"abc}`, parseErr: true},
		{name: "missing key", src: "${.nope}", wantMissing: "nope"},
		{name: "missing nested", src: "${.nested.nope}", wantMissing: "nope"},
		{name: "missing via index", src: `${index . "nope"}`, wantMissing: "nope"},
		{name: "bad base64", src: "${.password | b64dec}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			kt, err := parseTemplate(tt.src)
			if tt.parseErr {
				if err == nil {
					t.Fatal("parse succeeded, want error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = kt.execute(templateData)
			if err == nil {
				t.Fatal("execute succeeded, want error")
			}
			var mk *missingKeyError
			if tt.wantMissing != "" && (!errors.As(err, &mk) || mk.key != tt.wantMissing) {
				t.Fatalf("error %v, want missing key %q", err, tt.wantMissing)
			}
			for _, v := range []string{"app", "s3cr3t", "dashed", "deep"} {
				if strings.Contains(err.Error(), v) {
					t.Fatalf("error %q leaks a secret value", err)
				}
			}
		})
	}
}

// FuzzKeyTemplate: the evaluator never panics, and when both it and
// text/template accept a template, they agree.
func FuzzKeyTemplate(f *testing.F) {
	for _, s := range []string{"${.user}", "${.enc | b64dec | trim}", `${index . "key-dash"}`, "${(upper .user)}", "a${.x}b"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, src string) {
		kt, err := parseTemplate(src)
		if err != nil {
			return
		}
		got, err := kt.execute(templateData)
		if err != nil {
			return
		}
		tt, err := template.New("k").Delims("${", "}").Option("missingkey=error").Funcs(oracleFuncs()).Parse(src)
		if err != nil {
			return // we accept a little more than text/template (e.g. "${.a.b}" spacing)
		}
		var b strings.Builder
		if tt.Execute(&b, templateData) != nil {
			return
		}
		if strings.Contains(b.String(), "map[") {
			return // documented difference: maps render as JSON
		}
		if b.String() != got {
			t.Fatalf("template %q: got %q, text/template %q", src, got, b.String())
		}
	})
}
