package ref

import (
	"bufio"
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite testdata/*.golden")

// TestGolden parses every value of testdata/values.txt and compares the
// result with testdata/parse.golden; -update rewrites the golden file.
func TestGolden(t *testing.T) {
	f, err := os.Open(filepath.Join("testdata", "values.txt"))
	if err != nil {
		t.Fatal(err)
	}
	defer f.Close()
	var out bytes.Buffer
	sc := bufio.NewScanner(f)
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "# ") || line == "#" {
			continue
		}
		if line == `\e` {
			line = ""
		}
		got := describe(line)
		b, err := json.Marshal(got)
		if err != nil {
			t.Fatal(err)
		}
		out.Write(b)
		out.WriteByte('\n')
		checkInvariants(t, line)
	}
	if err := sc.Err(); err != nil {
		t.Fatal(err)
	}
	golden := filepath.Join("testdata", "parse.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatalf("%v (run go test -update to create it)", err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Errorf("parse results differ from %s (run go test -update after checking the diff):\n%s", golden, diffLines(string(want), out.String()))
	}
}

type described struct {
	Value    string `json:"value"`
	Contains bool   `json:"contains"`
	Error    string `json:"error,omitempty"`
	Parts    []any  `json:"parts,omitempty"`
}

func describe(v string) described {
	d := described{Value: v, Contains: Contains(v)}
	p, err := Parse(v)
	if err != nil {
		d.Error = err.Error()
		return d
	}
	for _, part := range p.Parts {
		if part.Ref == nil {
			d.Parts = append(d.Parts, map[string]string{"literal": part.Literal})
			continue
		}
		r := part.Ref
		m := map[string]any{"kind": r.Kind.String(), "inline": part.Inline}
		switch r.Kind {
		case Transit:
			m["ciphertext"] = r.Ciphertext
		default:
			m["path"], m["key"], m["template"] = r.Path, r.Key, r.IsTemplate()
			if r.Version > 0 {
				m["version"] = r.Version
			}
			if r.Body != "" {
				m["body"] = r.Body
			}
		}
		d.Parts = append(d.Parts, m)
	}
	return d
}

// checkInvariants holds for every value: Contains is false exactly when the
// value parses to itself as a literal; a parsed value re-serializes to a
// value that parses the same.
func checkInvariants(t *testing.T, v string) {
	t.Helper()
	p, err := Parse(v)
	if !Contains(v) {
		if err != nil {
			t.Fatalf("Parse(%q) failed although Contains is false: %v", v, err)
		}
		if p.HasRefs() || p.String() != v {
			t.Fatalf("Parse(%q) changed a value without references: %q", v, p.String())
		}
		return
	}
	if err != nil {
		return
	}
	if !p.HasRefs() {
		t.Fatalf("Contains(%q) is true but Parse found no reference", v)
	}
	again, err := Parse(p.String())
	if err != nil {
		t.Fatalf("Parse(String()) of %q failed: %v", v, err)
	}
	if again.String() != p.String() || len(again.Parts) != len(p.Parts) {
		t.Fatalf("Parse(String()) of %q = %q, want %q", v, again.String(), p.String())
	}
}

func diffLines(want, got string) string {
	w, g := strings.Split(want, "\n"), strings.Split(got, "\n")
	var b strings.Builder
	for i := 0; i < max(len(w), len(g)); i++ {
		var a, c string
		if i < len(w) {
			a = w[i]
		}
		if i < len(g) {
			c = g[i]
		}
		if a != c {
			b.WriteString("- " + a + "\n+ " + c + "\n")
		}
	}
	return b.String()
}

func TestParse(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Ref
		wantErr bool
	}{
		{name: "kv2", in: "vault:secret/data/a#k", want: Ref{Kind: Read, Path: "secret/data/a", Key: "k"}},
		{name: "version", in: "vault:secret/data/a#k#12", want: Ref{Kind: Read, Path: "secret/data/a", Key: "k", Version: 12}},
		{name: "key with hash", in: "vault:s/a#k#x", want: Ref{Kind: Read, Path: "s/a", Key: "k#x"}},
		{name: "template", in: "vault:s/a#${.a}#${.b}", want: Ref{Kind: Read, Path: "s/a", Key: "${.a}#${.b}"}},
		{name: "write", in: `>>vault:pki/issue/r#certificate#{"common_name":"x"}`, want: Ref{Kind: Write, Path: "pki/issue/r", Key: "certificate", Body: `{"common_name":"x"}`}},
		{name: "write no body", in: ">>vault:sys/tools/random#random_bytes", want: Ref{Kind: Write, Path: "sys/tools/random", Key: "random_bytes"}},
		{name: "transit", in: "vault:v1:abc=", want: Ref{Kind: Transit, Ciphertext: "vault:v1:abc="}},
		{name: "no key", in: "vault:secret/a", wantErr: true},
		{name: "empty key", in: "vault:secret/a#", wantErr: true},
		{name: "empty path", in: "vault:#k", wantErr: true},
		{name: "zero version", in: "vault:secret/a#k#0", wantErr: true},
		{name: "bad body", in: ">>vault:p#k#{", wantErr: true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			v, err := Parse(tt.in)
			if tt.wantErr {
				if err == nil {
					t.Fatalf("Parse(%q) = %+v, want error", tt.in, v)
				}
				if strings.Contains(err.Error(), tt.in) {
					t.Errorf("error %q quotes the value", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if len(v.Parts) != 1 || v.Parts[0].Ref == nil || *v.Parts[0].Ref != tt.want {
				t.Fatalf("Parse(%q) = %+v, want %+v", tt.in, v.Parts, tt.want)
			}
		})
	}
}

func FuzzParse(f *testing.F) {
	for _, s := range []string{"", "x", "vault:a#b", "vault:a#b#1", ">>vault:a#b#{}", "vault:v1:x", "a${vault:a#b}c", "${>>vault:a#b#{\"x\":\"}\"}}"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, v string) {
		checkInvariants(t, v)
	})
}
