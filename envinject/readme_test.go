package envinject

import (
	"os"
	"strings"
	"testing"
)

// TestREADMEAnnotations: README's annotation table has one row per entry of
// Annotations, in the same order, each naming the same webhook environment
// variable.
func TestREADMEAnnotations(t *testing.T) {
	readme, err := os.ReadFile("../README.md")
	if err != nil {
		t.Fatal(err)
	}
	_, section, ok := strings.Cut(string(readme), "\n## Annotations\n")
	if !ok {
		t.Fatal("README.md has no section \"Annotations\"")
	}
	section, _, _ = strings.Cut(section, "\n## ")
	_, table, ok := strings.Cut(section, "| Annotation | Default | Webhook env | Effect |\n|---|---|---|---|\n")
	if !ok {
		t.Fatal("README.md's Annotations section has no table with the columns Annotation, Default, Webhook env, Effect")
	}
	var rows [][2]string // annotation, env
	for _, line := range strings.Split(table, "\n") {
		if !strings.HasPrefix(line, "| ") {
			break
		}
		cells := strings.Split(line, "|") // "", annotation, default, env, effect, ""
		if len(cells) < 6 {
			t.Fatalf("README.md annotation row with %d cells: %s", len(cells)-2, line)
		}
		cell := func(i int) string { return strings.Trim(strings.TrimSpace(cells[i]), "`") }
		rows = append(rows, [2]string{cell(1), cell(3)})
	}
	for i, a := range Annotations {
		if i >= len(rows) {
			t.Errorf("README.md's table lacks %s and the %d annotations after it", a.Name, len(Annotations)-i-1)
			break
		}
		if rows[i][0] != a.Name || rows[i][1] != a.DefaultEnv {
			t.Errorf("README.md row %d is %s (env %q), want %s (env %q)", i+1, rows[i][0], rows[i][1], a.Name, a.DefaultEnv)
		}
	}
	for _, r := range rows[min(len(rows), len(Annotations)):] {
		t.Errorf("README.md lists %s, which Annotations does not", r[0])
	}
}
