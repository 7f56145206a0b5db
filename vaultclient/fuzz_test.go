package vaultclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

func TestUnquote(t *testing.T) {
	tests := []struct {
		name, in string
		want     string
		ok       bool
	}{
		{name: "empty", in: `""`, want: "", ok: true},
		{name: "plain", in: `"hvs.abc"`, want: "hvs.abc", ok: true},
		{name: "escapes", in: `"\"\\\/\b\f\n\r\t"`, want: "\"\\/\b\f\n\r\t", ok: true},
		{name: "unicode", in: `"\u00e9\u20AC"`, want: "é€", ok: true},
		{name: "surrogate pair", in: `"\ud83d\ude00"`, want: "😀", ok: true},
		{name: "lone high surrogate", in: `"\ud83dx"`, want: "\ufffdx", ok: true},
		{name: "high surrogate then non-low escape", in: `"\ud83d\u0041"`, want: "\ufffdA", ok: true},
		{name: "lone low surrogate", in: `"\ude00"`, want: "\ufffd", ok: true},
		{name: "raw UTF-8", in: `"héllo"`, want: "héllo", ok: true},
		{name: "invalid UTF-8", in: "\"a\xffb\"", want: "a\ufffdb", ok: true},
		{name: "DEL is allowed", in: "\"\x7f\"", want: "\x7f", ok: true},
		{name: "control character", in: "\"a\nb\"", ok: false},
		{name: "unescaped quote", in: `"a"b"`, ok: false},
		{name: "bad escape", in: `"\x"`, ok: false},
		{name: "single quote escape", in: `"\'"`, ok: false},
		{name: "short unicode escape", in: `"\u12"`, ok: false},
		{name: "bad hex", in: `"\u12g4"`, ok: false},
		{name: "trailing backslash", in: `"a\"`, ok: false},
		{name: "no quotes", in: `abc`, ok: false},
		{name: "one quote", in: `"`, ok: false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := unquote([]byte(tt.in))
			if ok != tt.ok || (ok && string(got) != tt.want) {
				t.Fatalf("unquote(%q) = %q, %v; want %q, %v", tt.in, got, ok, tt.want, tt.ok)
			}
		})
	}
}

// FuzzUnquote: unquote agrees with encoding/json on every input that is a
// string literal with nothing around it.
func FuzzUnquote(f *testing.F) {
	for _, s := range []string{`"hvs.abc"`, `"\ud83d\ude00"`, `"\ud83d\u0041"`, "\"a\xffb\"", `"\u12"`} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, in []byte) {
		got, ok := unquote(in)
		var want string
		err := json.Unmarshal(in, &want)
		literal := len(in) >= 2 && in[0] == '"' && in[len(in)-1] == '"'
		switch {
		case ok && err != nil:
			t.Fatalf("unquote accepts %q, encoding/json does not: %v", in, err)
		case ok && string(got) != want:
			t.Fatalf("unquote(%q) = %q, encoding/json %q", in, got, want)
		case !ok && err == nil && literal:
			t.Fatalf("unquote rejects %q, encoding/json gives %q", in, want)
		}
	})
}

// FuzzParseSecret: parseSecret agrees with vault/api's ParseSecret (through
// the old adapter's conversion) on every body that is one JSON value, and
// errs whenever it errs. (On a valid value followed by more bytes vault/api
// reads the first value and ignores the rest; parseSecret rejects it.)
func FuzzParseSecret(f *testing.F) {
	for _, s := range []string{
		``, ` `, `null`, `{}`, `[]`, `"x"`,
		`{"data":{"a":"b","n":1.5},"lease_duration":30,"renewable":true,"lease_id":"l","warnings":["w"]}`,
		`{"auth":{"client_token":"hvs.x","accessor":"a","lease_duration":60,"renewable":true,"policies":["p"]}}`,
		`{"keys":["a"]}`, `{"errors":["e"]}`, `{"errors":["e"],"x":1}`, `{"errors":[1],"x":1}`,
		`{"data":{"a":1},"data":{"b":2}}`, `{"data":{"a":1},"data":null}`, `{"wrap_info":{"ttl":"x"}}`,
		`{"request_id":""}`, `{"warnings":[]}`, `{"auth":{"mfa_requirement":{"mfa_constraints":{"x":{"any":[{"type":1}]}}}}}`,
	} {
		f.Add([]byte(s))
	}
	f.Fuzz(func(t *testing.T, body []byte) {
		got, gerr := parseSecret(bytes.Clone(body))
		ws, werr := api.ParseSecret(bytes.NewReader(body))
		want := apiConvert(ws)
		if errors.Is(gerr, errEmptyBody) {
			gerr = nil // vault/api's io.EOF; compared below
		}
		if werr != nil && werr.Error() == "EOF" && len(bytes.TrimSpace(body)) == 0 {
			werr = nil
		}
		switch {
		case gerr != nil && werr == nil && !json.Valid(body) && len(bytes.TrimSpace(body)) > 0:
			// vault/api read a first value and ignored trailing bytes.
		case (gerr != nil) != (werr != nil):
			t.Fatalf("body %q: ours %v, vault/api %v", body, gerr, werr)
		case gerr == nil:
			if d := diffSecrets(got, want); d != "" {
				t.Fatalf("body %q: %s", body, d)
			}
		}
	})
}

// TestParseSecretDurations: lease durations are seconds.
func TestParseSecretDurations(t *testing.T) {
	s, err := parseSecret([]byte(`{"lease_duration":90,"auth":{"client_token":"t","lease_duration":3600}}`))
	if err != nil || s.LeaseDuration != 90*time.Second || s.Auth.LeaseDuration != time.Hour {
		t.Fatalf("got %+v, %v", s, err)
	}
}
