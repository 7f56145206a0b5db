package e2e

// The README's Helm values table against the chart's values.yaml, the one
// source of the chart's values: the Value and Default columns are generated
// from values.yaml, the Meaning column is written by hand and must not be
// empty. Needs no sandbox.

import (
	"fmt"
	"os"
	"path/filepath"
	"regexp"
	"strings"
	"testing"
)

const (
	helmValuesFile  = "manifests/helm/vault-secrets-webhook/values.yaml"
	helmValuesBegin = "<!-- helm-values:begin (Value and Default generated from manifests/helm/vault-secrets-webhook/values.yaml; checked by TestREADMEHelmValues) -->\n"
	helmValuesEnd   = "<!-- helm-values:end -->"
	helmValuesHead  = "| Value | Default | Meaning |\n|---|---|---|\n"
)

// helmValue is one documented value: its dotted path and its default as
// written in values.yaml.
type helmValue struct{ path, def string }

// helmIdent is a key that is part of a value's path. A mapping whose keys are
// all such names is the chart's structure (image.tag, policies.guard.enabled);
// a mapping with any other key (label names such as
// security.banzaicloud.io/mutate) is data, one value.
var helmIdent = regexp.MustCompile(`^[a-z][A-Za-z0-9]*$`)

// yamlLine is a key line of values.yaml.
type yamlLine struct {
	indent int
	key    string
	value  string // flow value after "key:", "" for a block mapping
	line   int
}

// parseHelmValues reads the subset of YAML values.yaml is written in: block
// mappings indented by spaces whose leaves are flow scalars, flow sequences
// or flow mappings on one line; comments. Anything else (block sequences,
// multi-line scalars, anchors) is an error naming the line, so the parser is
// extended rather than silently wrong.
func parseHelmValues(src string) ([]helmValue, error) {
	var lines []yamlLine
	for i, raw := range strings.Split(src, "\n") {
		text := strings.TrimRight(raw, " \t\r")
		trimmed := strings.TrimLeft(text, " ")
		if trimmed == "" || strings.HasPrefix(trimmed, "#") {
			continue
		}
		if strings.Contains(text[:len(text)-len(trimmed)], "\t") {
			return nil, fmt.Errorf("line %d: tab in indentation", i+1)
		}
		if strings.HasPrefix(trimmed, "- ") || trimmed == "-" {
			return nil, fmt.Errorf("line %d: block sequence (write it as a flow sequence [...] or extend parseHelmValues)", i+1)
		}
		key, value, ok := strings.Cut(trimmed, ":")
		if !ok || (value != "" && value[0] != ' ') {
			return nil, fmt.Errorf("line %d: not a \"key: value\" line: %q", i+1, trimmed)
		}
		value = stripYAMLComment(strings.TrimSpace(value))
		if strings.ContainsAny(value[:min(len(value), 1)], "|>&*!") {
			return nil, fmt.Errorf("line %d: block scalar, anchor, alias or tag %q (extend parseHelmValues)", i+1, value)
		}
		lines = append(lines, yamlLine{indent: len(text) - len(trimmed), key: key, value: value, line: i + 1})
	}
	var out []helmValue
	var walk func(lines []yamlLine, prefix string) error
	walk = func(lines []yamlLine, prefix string) error {
		for i := 0; i < len(lines); {
			l := lines[i]
			j := i + 1
			for j < len(lines) && lines[j].indent > l.indent {
				j++
			}
			children := lines[i+1 : j]
			path := prefix + l.key
			switch {
			case l.value != "" && len(children) > 0:
				return fmt.Errorf("line %d: %s has a value and an indented block", l.line, path)
			case l.value == "" && len(children) == 0:
				return fmt.Errorf("line %d: %s has no value (write \"\", {} or [] for an empty one)", l.line, path)
			case l.value != "":
				out = append(out, helmValue{path, l.value})
			default:
				for _, c := range children {
					if c.indent < children[0].indent {
						return fmt.Errorf("line %d: indentation of %s", c.line, c.key)
					}
				}
				structure := true
				for _, c := range children {
					if c.indent == children[0].indent && !helmIdent.MatchString(c.key) {
						structure = false
					}
				}
				if structure {
					if err := walk(children, path+"."); err != nil {
						return err
					}
				} else {
					out = append(out, helmValue{path, flowMapping(children)})
				}
			}
			i = j
		}
		return nil
	}
	if err := walk(lines, ""); err != nil {
		return nil, err
	}
	return out, nil
}

// stripYAMLComment drops a " #..." comment outside quotes.
func stripYAMLComment(v string) string {
	var quote byte
	for i := 0; i < len(v); i++ {
		switch c := v[i]; {
		case quote != 0:
			if c == quote {
				quote = 0
			}
		case c == '"' || c == '\'':
			quote = c
		case c == '#' && (i == 0 || v[i-1] == ' '):
			return strings.TrimSpace(v[:i])
		}
	}
	return v
}

// flowMapping writes a block mapping as a one-line flow mapping.
func flowMapping(lines []yamlLine) string {
	var parts []string
	for i := 0; i < len(lines); {
		l := lines[i]
		j := i + 1
		for j < len(lines) && lines[j].indent > l.indent {
			j++
		}
		v := l.value
		if v == "" {
			v = flowMapping(lines[i+1 : j])
		}
		parts = append(parts, l.key+": "+v)
		i = j
	}
	return "{" + strings.Join(parts, ", ") + "}"
}

// helmValuesRows renders the table's rows; meanings are looked up by path.
func helmValuesRows(values []helmValue, meaning map[string]string) string {
	var b strings.Builder
	b.WriteString(helmValuesHead)
	for _, v := range values {
		b.WriteString("| `" + v.path + "` | `" + strings.ReplaceAll(v.def, "|", `\|`) + "` | " + meaning[v.path] + " |\n")
	}
	return b.String()
}

// readmeHelmRows parses the README's table into paths (in order) and
// meanings.
func readmeHelmRows(table string) (paths []string, meaning map[string]string, err error) {
	rest, ok := strings.CutPrefix(table, helmValuesHead)
	if !ok {
		return nil, nil, fmt.Errorf("the table does not start with %q", helmValuesHead)
	}
	meaning = map[string]string{}
	for _, line := range strings.Split(strings.TrimSuffix(rest, "\n"), "\n") {
		if line == "" {
			continue
		}
		// | `path` | `default` | meaning |: the meaning may hold " | " (the
		// default cannot: defaults escape "|").
		inner, ok := strings.CutPrefix(line, "| `")
		inner, ok2 := strings.CutSuffix(strings.TrimRight(inner, " "), "|")
		cells := strings.SplitN(inner, " | ", 3)
		if !ok || !ok2 || len(cells) != 3 {
			return nil, nil, fmt.Errorf("malformed row %q", line)
		}
		path := strings.TrimSuffix(cells[0], "`")
		paths = append(paths, path)
		meaning[path] = strings.TrimSpace(cells[2])
	}
	return paths, meaning, nil
}

// TestREADMEHelmValues: README's Helm values table has one row per value of
// values.yaml, in its order, with its default, and a meaning for each (run
// with VSW_UPDATE_README=1 to rewrite the Value and Default columns; rows of
// new values then get an empty meaning, which still fails until written).
func TestREADMEHelmValues(t *testing.T) {
	root, err := filepath.Abs("..")
	if err != nil {
		t.Fatal(err)
	}
	src, err := os.ReadFile(filepath.Join(root, helmValuesFile))
	if err != nil {
		t.Fatal(err)
	}
	values, err := parseHelmValues(string(src))
	if err != nil {
		t.Fatalf("%s: %v", helmValuesFile, err)
	}
	readmePath := filepath.Join(root, "README.md")
	readme, err := os.ReadFile(readmePath)
	if err != nil {
		t.Fatal(err)
	}
	head, rest, ok := strings.Cut(string(readme), helmValuesBegin)
	table, tail, ok2 := strings.Cut(rest, helmValuesEnd)
	if !ok || !ok2 {
		t.Fatalf("README.md has no %q ... %q section", helmValuesBegin, helmValuesEnd)
	}
	paths, meaning, err := readmeHelmRows(table)
	if err != nil {
		t.Fatalf("README.md's Helm values table: %v", err)
	}
	inChart := map[string]bool{}
	for _, v := range values {
		inChart[v.path] = true
		if _, ok := meaning[v.path]; !ok {
			t.Errorf("README.md's Helm values table lacks %s (in %s)", v.path, helmValuesFile)
		} else if meaning[v.path] == "" {
			t.Errorf("README.md's Helm values table has no meaning for %s", v.path)
		}
	}
	for _, p := range paths {
		if !inChart[p] {
			t.Errorf("README.md's Helm values table lists %s, which %s does not have", p, helmValuesFile)
		}
	}
	if want := helmValuesRows(values, meaning); table != want {
		if os.Getenv("VSW_UPDATE_README") == "1" {
			if err := os.WriteFile(readmePath, []byte(head+helmValuesBegin+want+helmValuesEnd+tail), 0o644); err != nil {
				t.Fatal(err)
			}
			t.Logf("rewrote README.md's Helm values table")
		} else {
			t.Errorf("README.md's Helm values table is stale (VSW_UPDATE_README=1 rewrites it, keeping the meanings); it should read:\n%s", want)
		}
	}
}

// TestParseHelmValues: the subset parser on the shapes values.yaml uses, and
// its refusals.
func TestParseHelmValues(t *testing.T) {
	got, err := parseHelmValues(`# comment
image:
  repository: ghcr.io/x/y   # trailing comment
  digest: ""
list: ["a#b", "::/0"]
empty: {}
labels:
  example.io/k: v
  other: "w"
res:
  requests:
    cpu: 50m
`)
	if err != nil {
		t.Fatal(err)
	}
	want := []helmValue{
		{"image.repository", "ghcr.io/x/y"}, {"image.digest", `""`}, {"list", `["a#b", "::/0"]`},
		{"empty", "{}"}, {"labels", `{example.io/k: v, other: "w"}`}, {"res.requests.cpu", "50m"},
	}
	if fmt.Sprint(got) != fmt.Sprint(want) {
		t.Errorf("got %v, want %v", got, want)
	}
	for _, bad := range []string{"a:\n  - x\n", "a:\n", "a: |\n  x\n", "a: &x 1\n", "a b\n", "a: 1\n  b: 2\n"} {
		if _, err := parseHelmValues(bad); err == nil {
			t.Errorf("parseHelmValues(%q) accepted it", bad)
		}
	}
}
