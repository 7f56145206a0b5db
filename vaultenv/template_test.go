package vaultenv

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"strings"
	"testing"
)

var templateData = map[string]any{
	"user":     "app",
	"password": "s3cr3t ",
	"pw":       "p@ss/w rd&",
	"enc":      base64.StdEncoding.EncodeToString([]byte("decoded\n")),
	"port":     json.Number("5432"),
	"zero":     json.Number("0"),
	"empty":    "",
	"key-dash": "dashed",
	"nested":   map[string]any{"inner": "deep"},
	"list":     []any{"a", json.Number("1")},
}

func TestKeyTemplate(t *testing.T) {
	tests := []struct{ src, want string }{
		{"${.user}", "app"},
		{"${.user}:${.password}", "app:s3cr3t "},
		{"prefix ${ .user } suffix", "prefix app suffix"},
		{"${.password | trim}", "s3cr3t"},
		{"${.password | trim | upper}", "S3CR3T"},
		{"${upper .user}", "APP"},
		{"${lower (upper .user)}", "app"},
		{"${.enc | b64dec}", "decoded\n"},
		{"${.enc | b64dec | trim | b64enc}", "ZGVjb2RlZA=="},
		{`${index . "key-dash"}`, "dashed"},
		{`${index . "nested" "inner"}`, "deep"},
		{"${.nested.inner}", "deep"},
		{"${.port}", "5432"},
		{"${toString .port}", "5432"},
		{`${"lit" | upper}`, "LIT"},
		{"${`raw` | lower}", "raw"},
		{"${.user | toJson}", `"app"`},
		{"${.nested | toJson}", `{"inner":"deep"}`},
		{"${.list | toJson}", `["a",1]`},
		{"${.user | quote}", `"app"`},
		{"${squote .user .user}", `'app' 'app'`},
		{`${.pw | urlquery}`, "p%40ss%2Fw+rd%26"},
		{`${printf "%s-%s" .user .port}`, "app-5432"},
		{`${len .user}`, "3"},
		{`${if eq .user "app"}yes${else}no${end}`, "yes"},
		{`${and .user .port}`, "5432"},
		{`${or .empty "fallback"}`, "fallback"},
		{`${.empty | default "d"}`, "d"},
		{`${.zero | default "d"}`, "d"},
		{`${.user | default "d"}`, "app"},
		{`${replace "p" "P" .user}`, "aPP"},
		{`${trimPrefix "a" .user}`, "pp"},
		{`${trimSuffix "p" .user}`, "ap"},
		{`${contains "pp" .user}`, "true"},
		{`${hasPrefix "ap" .user}`, "true"},
		{`${range .list}[${.}]${end}`, "[a][1]"},
		{`${with .nested}${.inner}${end}`, "deep"},
		{"no actions at all", "no actions at all"},
	}
	for _, tt := range tests {
		t.Run(tt.src, func(t *testing.T) {
			tmpl, err := parseTemplate(tt.src)
			if err != nil {
				t.Fatal(err)
			}
			got, err := tmpl.execute(templateData)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("got %q, want %q", got, tt.want)
			}
		})
	}
}

func TestKeyTemplateErrors(t *testing.T) {
	secret := "s3cr3t-value"
	data := map[string]any{"password": secret, "n": json.Number("2"), "list": []any{"a"}}
	tests := []struct {
		name, src  string
		parseError bool
		missing    string
	}{
		{name: "unknown function", src: "${nope .password}", parseError: true},
		{name: "unclosed action", src: "${.password", parseError: true},
		{name: "missing key", src: "${.user}", missing: "user"},
		{name: "missing key in a pipeline", src: "${.password | printf \"%s%s\" .other}", missing: "other"},
		{name: "index with the secret as key", src: "${index . .password | upper | printf \"%d\" | len | index .password}"},
		{name: "secret as a field of a string", src: "${.password.x}"},
		{name: "secret not base64", src: "${.password | b64dec}"},
		{name: "secret as index of a string", src: "${index .password .password}"},
		{name: "secret compared", src: "${lt .password 1}"},
		{name: "secret called", src: "${call .password}"},
		{name: "secret's length as an index", src: "${index .list (len .password)}"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			tmpl, err := parseTemplate(tt.src)
			if tt.parseError {
				if err == nil {
					t.Fatal("parse succeeded, want an error")
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			_, err = tmpl.execute(data)
			if err == nil {
				t.Fatal("execute succeeded, want an error")
			}
			if strings.Contains(err.Error(), secret) || strings.Contains(err.Error(), "s3cr3t") {
				t.Fatalf("error holds the secret: %v", err)
			}
			var miss *MissingError
			switch {
			case tt.missing != "":
				if !errors.As(err, &miss) || miss.Key != tt.missing {
					t.Fatalf("got %v, want missing key %q", err, tt.missing)
				}
			case !errors.Is(err, ErrTemplateFailed):
				t.Fatalf("got %v, want ErrTemplateFailed", err)
			}
		})
	}
}

// TestKeyTemplateErrorWithheld shows why execution errors are withheld:
// text/template's own message carries what it failed on (here the secret's
// length, 12); ours does not.
func TestKeyTemplateErrorWithheld(t *testing.T) {
	tmpl, err := parseTemplate("${index .list (len .password)}")
	if err != nil {
		t.Fatal(err)
	}
	data := map[string]any{"password": "s3cr3t-value", "list": []any{"a"}}
	var b strings.Builder
	raw := tmpl.t.Execute(&b, data)
	if raw == nil || !strings.Contains(raw.Error(), "12") {
		t.Fatalf("text/template error %v does not show the value; pick another case", raw)
	}
	_, err = tmpl.execute(data)
	if err == nil || strings.Contains(err.Error(), "12") {
		t.Fatalf("execute error %v holds the value", err)
	}
}
