package registry

import (
	"errors"
	"strings"
	"testing"
	"unicode/utf8"
)

// Seed corpora live in testdata/fuzz/<FuzzName>/; run one target with
// go test -run '^$' -fuzz '^FuzzParseReference$' -fuzztime 30s ./registry

func FuzzParseReference(f *testing.F) {
	f.Fuzz(func(t *testing.T, s string) {
		r, err := ParseReference(s)
		if err != nil {
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("error %v does not wrap ErrInvalidReference", err)
			}
			return
		}
		if r.Domain == "" || r.Repository == "" || (r.Tag == "" && r.Digest == "") {
			t.Fatalf("incomplete reference %+v from %q", r, s)
		}
		if len(r.Name()) > maxNameLength {
			t.Fatalf("name of %d bytes accepted", len(r.Name()))
		}
		again, err := ParseReference(r.String())
		if err != nil || again != r {
			t.Fatalf("%q -> %q does not round-trip: %+v, %v", s, r.String(), again, err)
		}
		if strings.ContainsAny(r.Repository+r.Tag+r.Digest, " \t\n@") {
			t.Fatalf("separator inside a component: %+v", r)
		}
	})
}

func FuzzParseChallenges(f *testing.F) {
	f.Fuzz(func(t *testing.T, h string) {
		for _, c := range parseChallenges([]string{h}) {
			if c.Scheme == "" || c.Scheme != strings.ToLower(c.Scheme) {
				t.Fatalf("bad scheme %q", c.Scheme)
			}
			for k := range c.Params {
				if k == "" || k != strings.ToLower(k) {
					t.Fatalf("bad parameter name %q", k)
				}
			}
		}
	})
}

// fuzzPullSecret checks a parser: no panic, typed errors that never quote
// the input, and matching answers lookups with normalised keys.
func fuzzPullSecret(t *testing.T, parse func([]byte) (map[string]credential, error), data []byte, image string) {
	entries, err := parse(data)
	if err != nil {
		if !errors.Is(err, ErrInvalidPullSecret) {
			t.Fatalf("error %v does not wrap ErrInvalidPullSecret", err)
		}
		if len(data) >= 8 && utf8.Valid(data) && strings.Contains(err.Error(), string(data)) {
			t.Fatalf("error quotes the secret: %v", err)
		}
		return
	}
	matching(entries, image)
	for loc := range entries {
		key, _ := keyringKey(loc)
		if strings.HasPrefix(key, "https://") || strings.HasPrefix(key, "http://") {
			t.Fatalf("key %q kept its scheme", key)
		}
	}
}

func FuzzParseDockerConfigJSON(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, image string) {
		fuzzPullSecret(t, parseDockerConfigJSON, data, image)
	})
}

func FuzzParseDockercfg(f *testing.F) {
	f.Fuzz(func(t *testing.T, data []byte, image string) {
		fuzzPullSecret(t, parseDockercfg, data, image)
	})
}

func FuzzKeyMatches(f *testing.F) {
	f.Fuzz(func(t *testing.T, key, image string) {
		if keyMatches(key, image) && !keyMatches(key, image) {
			t.Fatal("keyMatches is not deterministic")
		}
		if key == image && !strings.ContainsAny(key, "*?[\\") && key != "" {
			// A literal key always matches itself when it parses as a host/path.
			if _, err := ParseReference(image + ":t"); err == nil && !keyMatches(key, image) {
				t.Fatalf("literal key %q does not match itself", key)
			}
		}
	})
}
