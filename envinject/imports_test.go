package envinject

import (
	"go/parser"
	"go/token"
	"os"
	"path/filepath"
	"strconv"
	"strings"
	"testing"
)

// TestImports keeps the decision pure: no package that does I/O, logs or
// speaks HTTP (net/url and net/netip only parse), and no sync.Pool (buffers belong to the transport). Lookups
// reach the decision through its interfaces.
func TestImports(t *testing.T) {
	forbidden := map[string]bool{
		"net": true, "net/http": true, "mime": true, "log": true, "log/slog": true,
		"os": true, "os/exec": true, "io/fs": true, "io/ioutil": true, "path/filepath": true,
		"syscall": true, "unsafe": true,
	}
	files, err := filepath.Glob("*.go")
	if err != nil {
		t.Fatal(err)
	}
	checked := 0
	for _, name := range files {
		if strings.HasSuffix(name, "_test.go") {
			continue
		}
		src, err := os.ReadFile(name)
		if err != nil {
			t.Fatal(err)
		}
		f, err := parser.ParseFile(token.NewFileSet(), name, src, parser.ImportsOnly)
		if err != nil {
			t.Fatal(err)
		}
		for _, imp := range f.Imports {
			path, _ := strconv.Unquote(imp.Path.Value)
			if forbidden[path] || strings.HasPrefix(path, "net/http") {
				t.Errorf("%s imports %s: the injection decision does no I/O (lookups go through Lookups and ImageConfigs)", name, path)
			}
		}
		if strings.Contains(string(src), "sync.Pool") {
			t.Errorf("%s uses sync.Pool: pooled buffers belong to the transport (package admission)", name)
		}
		checked++
	}
	if checked < 5 {
		t.Fatalf("only %d files checked", checked)
	}
}
