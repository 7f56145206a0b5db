package registry

import (
	"bufio"
	"bytes"
	"errors"
	"flag"
	"fmt"
	"os"
	"path/filepath"
	"strings"
	"testing"
)

var update = flag.Bool("update", false, "rewrite golden files under testdata/")

const (
	d64  = "sha256:0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef"
	d64b = "sha256:fedcba9876543210fedcba9876543210fedcba9876543210fedcba9876543210"
)

func TestParseReference(t *testing.T) {
	tests := []struct {
		name    string
		in      string
		want    Reference
		apiHost string
	}{
		{"short name", "redis", Reference{"docker.io", "library/redis", "latest", ""}, "registry-1.docker.io"},
		{"library prefix", "library/redis", Reference{"docker.io", "library/redis", "latest", ""}, "registry-1.docker.io"},
		{"docker.io host", "docker.io/redis:7", Reference{"docker.io", "library/redis", "7", ""}, "registry-1.docker.io"},
		{"legacy index host", "index.docker.io/library/redis", Reference{"docker.io", "library/redis", "latest", ""}, "registry-1.docker.io"},
		{"hub user repo", "bitnami/redis:7.2", Reference{"docker.io", "bitnami/redis", "7.2", ""}, "registry-1.docker.io"},
		{"other host", "ghcr.io/org/app:v1", Reference{"ghcr.io", "org/app", "v1", ""}, "ghcr.io"},
		{"localhost", "localhost/app", Reference{"localhost", "app", "latest", ""}, "localhost"},
		{"host and port", "localhost:5000/app:1.0", Reference{"localhost:5000", "app", "1.0", ""}, "localhost:5000"},
		{"ip, port, digest", "127.0.0.1:5000/team/app@" + d64, Reference{"127.0.0.1:5000", "team/app", "", d64}, "127.0.0.1:5000"},
		{"tag and digest", "registry.example.com:443/a/b/c:tag@" + d64, Reference{"registry.example.com:443", "a/b/c", "tag", d64}, "registry.example.com:443"},
		{"ipv6 host", "[::1]:5000/app:v1", Reference{"[::1]:5000", "app", "v1", ""}, "[::1]:5000"},
		{"upper-case first component is a host", "Example/app", Reference{"Example", "app", "latest", ""}, "Example"},
		{"separators", "quay.io/a-b/c__d.e_f:v1.0-rc_1", Reference{"quay.io", "a-b/c__d.e_f", "v1.0-rc_1", ""}, "quay.io"},
		{"port-looking tag on a hub name", "localhost:5000", Reference{"docker.io", "library/localhost", "5000", ""}, "registry-1.docker.io"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if err != nil {
				t.Fatal(err)
			}
			if got != tt.want {
				t.Fatalf("ParseReference(%q) = %+v, want %+v", tt.in, got, tt.want)
			}
			if got.APIHost() != tt.apiHost {
				t.Fatalf("APIHost = %q, want %q", got.APIHost(), tt.apiHost)
			}
			again, err := ParseReference(got.String())
			if err != nil || again != got {
				t.Fatalf("String() %q does not round-trip: %+v, %v", got.String(), again, err)
			}
		})
	}
}

func TestParseReferenceErrors(t *testing.T) {
	tests := []struct {
		name string
		in   string
	}{
		{"empty", ""},
		{"upper-case repository", "Redis"},
		{"empty tag", "redis:"},
		{"short digest", "redis@sha256:abc"},
		{"unknown digest algorithm", "redis@md5:0123456789abcdef0123456789abcdef"},
		{"upper-case hex", "redis@sha256:" + strings.ToUpper(d64[7:])},
		{"no name", ":tag"},
		{"empty port", "host:/app"},
		{"empty path component", "a//b"},
		{"leading dash", "-a/b"},
		{"tag starts with dash", "redis:-x"},
		{"port too long", "host:999999/app"},
		{"bad host label", "-host.example.com/app"},
		{"tag too long", "redis:" + strings.Repeat("a", 129)},
		{"name too long", "host.example.com/" + strings.Repeat("a", 250)},
		{"space", "red is"},
		{"double at", "redis@" + d64 + "@" + d64b},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ParseReference(tt.in)
			if !errors.Is(err, ErrInvalidReference) {
				t.Fatalf("ParseReference(%q) = %+v, %v; want ErrInvalidReference", tt.in, got, err)
			}
		})
	}
}

// TestParseReferenceGolden runs every line of testdata/references.txt
// through the parser and compares with testdata/references.golden
// (regenerate with go test -run Golden -update).
func TestParseReferenceGolden(t *testing.T) {
	in, err := os.ReadFile(filepath.Join("testdata", "references.txt"))
	if err != nil {
		t.Fatal(err)
	}
	var out bytes.Buffer
	sc := bufio.NewScanner(bytes.NewReader(in))
	for sc.Scan() {
		line := sc.Text()
		if strings.HasPrefix(line, "#") {
			continue
		}
		r, err := ParseReference(line)
		if err != nil {
			fmt.Fprintf(&out, "%q -> error: %v\n", line, err)
			continue
		}
		fmt.Fprintf(&out, "%q -> %s (api %s, repository %s, fetch %s)\n", line, r, r.APIHost(), r.Repository, r.manifestRef())
	}
	golden := filepath.Join("testdata", "references.golden")
	if *update {
		if err := os.WriteFile(golden, out.Bytes(), 0o644); err != nil {
			t.Fatal(err)
		}
	}
	want, err := os.ReadFile(golden)
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(out.Bytes(), want) {
		t.Fatalf("references.golden is stale (go test -run Golden -update); got:\n%s", out.String())
	}
}
