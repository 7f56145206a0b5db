package registry_test

// Integration tests against the real docker-registry; see testregistry_test.go.

import (
	"context"
	"errors"
	"slices"
	"strings"
	"sync"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

func TestRegistryPlainHTTP(t *testing.T) {
	reg := startRegistry(t, regOptions{})
	docker := reg.pushImage(t, "team/app", "v1", regImage{Entrypoint: []string{"/bin/app"}, Cmd: []string{"serve", "--port=80"}})
	oci := reg.pushImage(t, "team/oci", "v2", regImage{Entrypoint: []string{"/oci"}, Cmd: []string{"run"}, OCI: true})
	reg.pushImage(t, "team/nocmd", "v1", regImage{Cmd: []string{"sh"}})
	c := registry.New(registry.Options{Timeout: 5 * time.Second})

	tests := []struct {
		name           string
		image          string
		wantEntrypoint []string
		wantCmd        []string
		wantDigest     string
		wantErr        error
	}{
		{"docker schema 2 by tag", reg.addr + "/team/app:v1", []string{"/bin/app"}, []string{"serve", "--port=80"}, docker.Digest, nil},
		{"oci manifest by tag", reg.addr + "/team/oci:v2", []string{"/oci"}, []string{"run"}, oci.Digest, nil},
		{"digest reference", reg.addr + "/team/app@" + docker.Digest, []string{"/bin/app"}, []string{"serve", "--port=80"}, docker.Digest, nil},
		{"tag and digest: the digest wins", reg.addr + "/team/app:nonexistent@" + docker.Digest, []string{"/bin/app"}, []string{"serve", "--port=80"}, docker.Digest, nil},
		{"digest of another repository", reg.addr + "/team/app@" + oci.Digest, nil, nil, "", registry.ErrNotFound},
		{"tag and matching digest", reg.addr + "/team/oci:whatever@" + oci.Digest, []string{"/oci"}, []string{"run"}, oci.Digest, nil},
		{"cmd only", reg.addr + "/team/nocmd:v1", nil, []string{"sh"}, "", nil},
		{"missing tag", reg.addr + "/team/app:missing", nil, nil, "", registry.ErrNotFound},
		{"missing repository", reg.addr + "/nobody/here", nil, nil, "", registry.ErrNotFound},
		{"missing digest", reg.addr + "/team/app@sha256:" + strings.Repeat("0", 64), nil, nil, "", registry.ErrNotFound},
		{"malformed reference", reg.addr + "/Team/App", nil, nil, "", registry.ErrInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ImageConfig(regCtx(t), registry.Request{Image: tt.image})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				var e *registry.Error
				if !errors.As(err, &e) || !strings.Contains(err.Error(), tt.image) {
					t.Fatalf("error %q is not an *Error naming the image", err)
				}
				if tt.wantErr != registry.ErrInvalid && !strings.Contains(err.Error(), reg.addr) {
					t.Fatalf("error %q does not name the registry", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Entrypoint, tt.wantEntrypoint) || !slices.Equal(got.Cmd, tt.wantCmd) {
				t.Fatalf("got entrypoint %q cmd %q, want %q %q", got.Entrypoint, got.Cmd, tt.wantEntrypoint, tt.wantCmd)
			}
			if tt.wantDigest != "" && got.Digest != tt.wantDigest {
				t.Fatalf("digest %s, want %s", got.Digest, tt.wantDigest)
			}
			if len(got.Warnings) != 0 {
				t.Fatalf("unexpected warnings %q", got.Warnings)
			}
		})
	}
}

func TestRegistryTLSPrivateCA(t *testing.T) {
	pki := newRegPKI(t)
	reg := startRegistry(t, regOptions{tls: &pki})
	reg.pushImage(t, "secure/app", "v1", regImage{Entrypoint: []string{"/secure"}})
	image := reg.addr + "/secure/app:v1"

	tests := []struct {
		name    string
		opts    registry.Options
		skip    bool
		wantErr error
	}{
		{"operator CA bundle", registry.Options{CABundle: pki.caPEM}, false, nil},
		{"system roots only", registry.Options{}, false, registry.ErrUnavailable},
		{"skip-verify annotation", registry.Options{}, true, nil},
		{"skip-verify default", registry.Options{InsecureSkipVerify: true}, false, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := registry.New(tt.opts)
			got, err := c.ImageConfig(regCtx(t), registry.Request{Image: image, InsecureSkipVerify: tt.skip})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "certificate") {
					t.Fatalf("err = %v, want %v about the certificate", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Entrypoint, []string{"/secure"}) {
				t.Fatalf("entrypoint %q", got.Entrypoint)
			}
		})
	}

	t.Run("skip-verify lookups do not share the cache with verified ones", func(t *testing.T) {
		c := registry.New(registry.Options{})
		if _, err := c.ImageConfig(regCtx(t), registry.Request{Image: image, InsecureSkipVerify: true}); err != nil {
			t.Fatal(err)
		}
		if _, err := c.ImageConfig(regCtx(t), registry.Request{Image: image}); !errors.Is(err, registry.ErrUnavailable) {
			t.Fatalf("verified lookup after a skip-verify one: err = %v, want a certificate error", err)
		}
	})
}

func TestRegistryBasicAuth(t *testing.T) {
	const user, pass = "alice", "s3cret-Pa55"
	reg := startRegistry(t, regOptions{htpasswd: map[string]string{user: pass}})
	reg.pushImage(t, "private/app", "v1", regImage{Entrypoint: []string{"/private"}, Cmd: []string{"--flag"}})
	image := reg.addr + "/private/app:v1"
	good := registry.PullSecret{Type: registry.SecretTypeDockerConfigJSON, Data: regDockerConfigJSON(reg.addr, user, pass)}
	legacy := registry.PullSecret{Type: registry.SecretTypeDockercfg, Data: regDockercfg("https://"+reg.addr+"/v1/", user, pass)}
	wrong := registry.PullSecret{Type: registry.SecretTypeDockerConfigJSON, Data: regDockerConfigJSON(reg.addr, user, "wrong-password")}
	other := registry.PullSecret{Type: registry.SecretTypeDockerConfigJSON, Data: regDockerConfigJSON("other.example.com", user, pass)}

	c := registry.New(registry.Options{})
	tests := []struct {
		name    string
		secrets []registry.PullSecret
		wantErr error
	}{
		{"no pull secret", nil, registry.ErrUnauthorized},
		{"secret for another registry", []registry.PullSecret{other}, registry.ErrUnauthorized},
		{"wrong password", []registry.PullSecret{wrong}, registry.ErrUnauthorized},
		{"dockerconfigjson", []registry.PullSecret{good}, nil},
		{"legacy dockercfg with scheme and /v1/", []registry.PullSecret{legacy}, nil},
		{"wrong then right: the next credential is tried", []registry.PullSecret{wrong, good}, nil},
		{"no secret after a successful lookup: not served from the cache", nil, registry.ErrUnauthorized},
		{"wrong password after a successful lookup", []registry.PullSecret{wrong}, registry.ErrUnauthorized},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := c.ImageConfig(regCtx(t), registry.Request{Image: image, PullSecrets: tt.secrets})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) {
					t.Fatalf("err = %v, want %v", err, tt.wantErr)
				}
				if strings.Contains(err.Error(), pass) || strings.Contains(err.Error(), "wrong-password") {
					t.Fatalf("error leaks a password: %q", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Entrypoint, []string{"/private"}) || !slices.Equal(got.Cmd, []string{"--flag"}) {
				t.Fatalf("got %q %q", got.Entrypoint, got.Cmd)
			}
		})
	}
}

func TestRegistryBearerAuth(t *testing.T) {
	const user, pass = "bob", "t0ken-Pa55"
	ts := startTokenServer(t, user, pass)
	reg := startRegistry(t, regOptions{token: ts})
	reg.pushImage(t, "tokened/app", "v1", regImage{Entrypoint: []string{"/tokened"}, Cmd: []string{"a"}})
	reg.pushImage(t, "tokened/app", "v2", regImage{Entrypoint: []string{"/tokened"}, Cmd: []string{"b"}})
	good := registry.PullSecret{Type: registry.SecretTypeDockerConfigJSON, Data: regDockerConfigJSON(reg.addr, user, pass)}
	wrong := registry.PullSecret{Type: registry.SecretTypeDockerConfigJSON, Data: regDockerConfigJSON(reg.addr, user, "nope")}
	// The token server is a plain-HTTP realm on loopback: it must be listed.
	c := registry.New(registry.Options{InsecureHosts: []string{strings.TrimPrefix(ts.url, "http://")}})

	tests := []struct {
		name       string
		tag        string
		secrets    []registry.PullSecret
		wantCmd    []string
		wantErr    error
		wantTokens int64 // token requests made by this lookup
	}{
		{"anonymous is refused by the token server", "v1", nil, nil, registry.ErrUnauthorized, 1},
		{"wrong password", "v1", []registry.PullSecret{wrong}, nil, registry.ErrUnauthorized, 1},
		{"token flow", "v1", []registry.PullSecret{good}, []string{"a"}, nil, 1},
		{"same repository again: the cached token is reused", "v2", []registry.PullSecret{good}, []string{"b"}, nil, 0},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			before := ts.requests.Load()
			got, err := c.ImageConfig(regCtx(t), registry.Request{Image: reg.addr + "/tokened/app:" + tt.tag, PullSecrets: tt.secrets})
			if n := ts.requests.Load() - before; n != tt.wantTokens {
				t.Errorf("token requests = %d, want %d", n, tt.wantTokens)
			}
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || strings.Contains(err.Error(), pass) {
					t.Fatalf("err = %v, want %v (without the password)", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Entrypoint, []string{"/tokened"}) || !slices.Equal(got.Cmd, tt.wantCmd) {
				t.Fatalf("got %q %q", got.Entrypoint, got.Cmd)
			}
		})
	}
}

func TestRegistryMultiArch(t *testing.T) {
	reg := startRegistry(t, regOptions{})
	amd := reg.pushImage(t, "multi/app", "", regImage{Entrypoint: []string{"/amd64-entry"}, OS: "linux", Arch: "amd64", OCI: true})
	arm := reg.pushImage(t, "multi/app", "", regImage{Entrypoint: []string{"/arm64-entry"}, OS: "linux", Arch: "arm64", Variant: "v8", OCI: true})
	reg.pushIndex(t, "multi/app", "v1", true, amd, arm)
	same1 := reg.pushImage(t, "multi/same", "", regImage{Entrypoint: []string{"/same"}, OS: "linux", Arch: "amd64"})
	same2 := reg.pushImage(t, "multi/same", "", regImage{Entrypoint: []string{"/same"}, OS: "linux", Arch: "arm64"})
	reg.pushIndex(t, "multi/same", "v1", false, same1, same2)

	tests := []struct {
		name        string
		image       string
		platform    registry.Platform
		defaultPlat registry.Platform
		want        string
		wantWarning bool
		wantErr     error
	}{
		{"defaulted platform: amd64 and a warning", reg.addr + "/multi/app:v1", registry.Platform{}, registry.Platform{}, "/amd64-entry", true, nil},
		{"pod selects arm64", reg.addr + "/multi/app:v1", registry.Platform{OS: "linux", Architecture: "arm64"}, registry.Platform{}, "/arm64-entry", false, nil},
		{"pod selects arm64/v8", reg.addr + "/multi/app:v1", registry.Platform{OS: "linux", Architecture: "arm64", Variant: "v8"}, registry.Platform{}, "/arm64-entry", false, nil},
		{"pod selects amd64", reg.addr + "/multi/app:v1", registry.Platform{OS: "linux", Architecture: "amd64"}, registry.Platform{}, "/amd64-entry", false, nil},
		{"operator default arm64", reg.addr + "/multi/app:v1", registry.Platform{}, registry.Platform{OS: "linux", Architecture: "arm64"}, "/arm64-entry", true, nil},
		{"platforms agree: no warning (docker manifest list)", reg.addr + "/multi/same:v1", registry.Platform{}, registry.Platform{}, "/same", false, nil},
		{"platform not in the index", reg.addr + "/multi/app:v1", registry.Platform{OS: "windows", Architecture: "amd64"}, registry.Platform{}, "", false, registry.ErrNoPlatform},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := registry.New(registry.Options{DefaultPlatform: tt.defaultPlat})
			got, err := c.ImageConfig(regCtx(t), registry.Request{Image: tt.image, Platform: tt.platform})
			if tt.wantErr != nil {
				if !errors.Is(err, tt.wantErr) || !strings.Contains(err.Error(), "linux/arm64") {
					t.Fatalf("err = %v, want %v listing the image's platforms", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !slices.Equal(got.Entrypoint, []string{tt.want}) {
				t.Fatalf("entrypoint %q, want %q", got.Entrypoint, tt.want)
			}
			if (len(got.Warnings) > 0) != tt.wantWarning {
				t.Fatalf("warnings %q, want warning: %v", got.Warnings, tt.wantWarning)
			}
			if tt.wantWarning && !strings.Contains(got.Warnings[0], "disagree") {
				t.Fatalf("warning %q does not say the platforms disagree", got.Warnings[0])
			}
		})
	}
}

func TestRegistryStalls(t *testing.T) {
	addr := startStall(t)
	image := addr + "/stalled/app:v1"
	tests := []struct {
		name    string
		timeout time.Duration // Options.Timeout
		ctxTime time.Duration // caller's deadline
	}{
		{"client timeout", 300 * time.Millisecond, 30 * time.Second},
		{"caller deadline shorter", 30 * time.Second, 300 * time.Millisecond},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			c := registry.New(registry.Options{Timeout: tt.timeout})
			ctx, cancel := context.WithTimeout(t.Context(), tt.ctxTime)
			defer cancel()
			start := time.Now()
			_, err := c.ImageConfig(ctx, registry.Request{Image: image})
			elapsed := time.Since(start)
			if !errors.Is(err, registry.ErrTimeout) {
				t.Fatalf("err = %v, want ErrTimeout", err)
			}
			if elapsed > 2*time.Second {
				t.Fatalf("lookup took %v, want about 300ms", elapsed)
			}
			if !strings.Contains(err.Error(), image) || !strings.Contains(err.Error(), addr) {
				t.Fatalf("error %q does not name the image and registry", err)
			}
			if got := c.Snapshot().Lookups[registry.ResultTimeout]; got != 1 {
				t.Fatalf("timeout lookups = %d, want 1", got)
			}
		})
	}
}

func TestRegistryRequestCounts(t *testing.T) {
	reg := startRegistry(t, regOptions{})
	reg.pushImage(t, "counted/app", "v1", regImage{Entrypoint: []string{"/one"}})
	reg.pushImage(t, "counted/app", "v2", regImage{Entrypoint: []string{"/two"}})
	counter := startCounter(t, reg)
	c := registry.New(registry.Options{})
	lookup := func(tag string) error {
		got, err := c.ImageConfig(regCtx(t), registry.Request{Image: counter.addr + "/counted/app:" + tag})
		if err == nil && len(got.Entrypoint) != 1 {
			err = errors.New("no entrypoint")
		}
		return err
	}

	if err := lookup("v1"); err != nil {
		t.Fatal(err)
	}
	if counts, _ := counter.take(); counts["manifests"] != 1 || counts["blobs"] != 1 || counts["other"] != 0 {
		t.Fatalf("cold lookup made %v, want one manifest and one blob request", counts)
	}

	if err := lookup("v1"); err != nil {
		t.Fatal(err)
	}
	if counts, conns := counter.take(); len(counts) != 0 || conns != 0 {
		t.Fatalf("warm lookup made requests %v and %d connections, want none", counts, conns)
	}

	const n = 100
	var wg sync.WaitGroup
	errs := make(chan error, n)
	for range n {
		wg.Go(func() { errs <- lookup("v2") })
	}
	wg.Wait()
	close(errs)
	for err := range errs {
		if err != nil {
			t.Fatal(err)
		}
	}
	if counts, _ := counter.take(); counts["manifests"] != 1 || counts["blobs"] != 1 || counts["other"] != 0 {
		t.Fatalf("%d concurrent lookups of a new image made %v, want one manifest and one blob request", n, counts)
	}

	s := c.Snapshot()
	if s.Lookups[registry.ResultOK] != n+2 || s.CacheHits+s.CacheMisses != n+2 || s.CacheHits < 1 {
		t.Fatalf("metrics %+v", s)
	}
	// Of the n concurrent lookups one fetched, the others either waited on
	// it (coalesced) or came after it and hit the cache; plus the warm hit.
	if s.CacheMisses != 2+s.Coalesced || s.CacheHits+s.Coalesced != n {
		t.Fatalf("hits %d, misses %d, coalesced %d do not add up", s.CacheHits, s.CacheMisses, s.Coalesced)
	}
	if s.CacheEntries != 2 || s.DurationCount != n+2 {
		t.Fatalf("metrics %+v", s)
	}
}

// BenchmarkImageConfig measures a cold lookup (new client: manifest + config
// from the real registry) and a warm one (cache hit).
func BenchmarkImageConfig(b *testing.B) {
	reg := startRegistry(b, regOptions{})
	reg.pushImage(b, "bench/app", "v1", regImage{Entrypoint: []string{"/bench"}, Cmd: []string{"x"}})
	req := registry.Request{Image: reg.addr + "/bench/app:v1"}
	b.Run("cold", func(b *testing.B) {
		for b.Loop() {
			c := registry.New(registry.Options{InsecureHosts: []string{reg.addr}})
			if _, err := c.ImageConfig(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
	b.Run("warm", func(b *testing.B) {
		c := registry.New(registry.Options{})
		if _, err := c.ImageConfig(b.Context(), req); err != nil {
			b.Fatal(err)
		}
		b.ReportAllocs()
		for b.Loop() {
			if _, err := c.ImageConfig(b.Context(), req); err != nil {
				b.Fatal(err)
			}
		}
	})
}
