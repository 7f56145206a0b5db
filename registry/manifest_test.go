package registry

import (
	"errors"
	"testing"
)

func TestChoosePlatform(t *testing.T) {
	d := func(digest, os, arch, variant string) descriptor {
		return descriptor{Digest: digest, Platform: &Platform{OS: os, Architecture: arch, Variant: variant}}
	}
	index := []descriptor{
		d("amd", "linux", "amd64", ""),
		d("armv6", "linux", "arm", "v6"),
		d("armv7", "linux", "arm", "v7"),
		d("arm64", "linux", "arm64", "v8"),
		d("win", "windows", "amd64", ""),
	}
	tests := []struct {
		name    string
		entries []descriptor
		want    Platform
		digest  string
		ok      bool
	}{
		{"exact", index, Platform{OS: "linux", Architecture: "amd64"}, "amd", true},
		{"arm64 without variant means v8", index, Platform{OS: "linux", Architecture: "arm64"}, "arm64", true},
		{"arm without variant means v7", index, Platform{OS: "linux", Architecture: "arm"}, "armv7", true},
		{"explicit variant", index, Platform{OS: "linux", Architecture: "arm", Variant: "v6"}, "armv6", true},
		{"missing variant", index, Platform{OS: "linux", Architecture: "arm", Variant: "v5"}, "", false},
		{"other os", index, Platform{OS: "windows", Architecture: "amd64"}, "win", true},
		{"absent", index, Platform{OS: "linux", Architecture: "s390x"}, "", false},
		{"only non-default variant: taken when none requested", []descriptor{d("v6", "linux", "arm", "v6")}, Platform{OS: "linux", Architecture: "arm"}, "v6", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, ok := choosePlatform(tt.entries, tt.want)
			if ok != tt.ok || got.Digest != tt.digest {
				t.Fatalf("choosePlatform(%s) = %q, %v; want %q, %v", tt.want, got.Digest, ok, tt.digest, tt.ok)
			}
		})
	}
}

func TestParseManifest(t *testing.T) {
	cfg := `"config":{"mediaType":"x","digest":"sha256:` + "0123456789abcdef0123456789abcdef0123456789abcdef0123456789abcdef" + `","size":1}`
	tests := []struct {
		name        string
		body        string
		contentType string
		wantIndex   bool
		wantErr     bool
	}{
		{"docker schema 2", `{"schemaVersion":2,"mediaType":"` + MediaTypeDockerManifest + `",` + cfg + `}`, MediaTypeDockerManifest, false, false},
		{"oci manifest without mediaType field", `{"schemaVersion":2,` + cfg + `}`, MediaTypeOCIManifest, false, false},
		{"oci index", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIIndex + `","manifests":[]}`, MediaTypeOCIIndex, true, false},
		{"docker list by content type", `{"schemaVersion":2,"manifests":[]}`, MediaTypeDockerManifestList, true, false},
		{"index by shape", `{"schemaVersion":2,"manifests":[]}`, "application/json", true, false},
		{"schema 1", `{"schemaVersion":1,"name":"x"}`, "application/vnd.docker.distribution.manifest.v1+prettyjws", false, true},
		{"image without config", `{"schemaVersion":2,"mediaType":"` + MediaTypeOCIManifest + `"}`, MediaTypeOCIManifest, false, true},
		{"not json", `<html>`, "text/html", false, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			_, index, err := parseManifest([]byte(tt.body), tt.contentType)
			if (err != nil) != tt.wantErr || (err == nil && index != tt.wantIndex) {
				t.Fatalf("parseManifest: index %v err %v; want index %v err %v", index, err, tt.wantIndex, tt.wantErr)
			}
		})
	}
}

func TestVerifyDigest(t *testing.T) {
	body := []byte("hello")
	tests := []struct {
		name   string
		digest string
		ok     bool
	}{
		{"sha256", "sha256:2cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", true},
		{"wrong", "sha256:0cf24dba5fb0a30e26e83b2ac5b9e29e1b161e5c1fa7425e73043362938b9824", false},
		{"sha512", "sha512:9b71d224bd62f3785d96d46ad3ea3d73319bfbc2890caadae2dff72519673ca72323c3d99ba5c11d7c7acc6e14b8c5da0c4663475c2e5c3adef46f73bcdec043", true},
		{"unsupported", "md5:5d41402abc4b2a76b9719d911017c592", false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if err := verifyDigest(tt.digest, body); (err == nil) != tt.ok {
				t.Fatalf("verifyDigest: %v, want ok %v", err, tt.ok)
			}
		})
	}
}

func TestErrorKinds(t *testing.T) {
	tests := []struct {
		name string
		err  error
		want Result
	}{
		{"nil", nil, ResultOK},
		{"not found", &Error{Kind: ErrNotFound}, ResultNotFound},
		{"unauthorized", &Error{Kind: ErrUnauthorized}, ResultUnauthorized},
		{"timeout", &Error{Kind: ErrTimeout}, ResultTimeout},
		{"unavailable", &Error{Kind: ErrUnavailable}, ResultUnavailable},
		{"no platform", &Error{Kind: ErrNoPlatform}, ResultNoPlatform},
		{"invalid", &Error{Kind: ErrInvalid}, ResultInvalid},
		{"other", errors.New("x"), ResultInvalid},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := resultOf(tt.err); got != tt.want {
				t.Fatalf("resultOf = %s, want %s", got, tt.want)
			}
		})
	}
	e := &Error{Image: "app:v1", Registry: "reg:5000", Kind: ErrNotFound, Err: errors.New("manifests/v1: HTTP 404")}
	if got, want := e.Error(), `failed to read image config of "app:v1" from registry reg:5000: image not found: manifests/v1: HTTP 404`; got != want {
		t.Fatalf("Error() = %q, want %q", got, want)
	}
}

func TestPodPlatform(t *testing.T) {
	def := Platform{OS: "linux", Architecture: "amd64"}
	tests := []struct {
		name        string
		os, arch    []string
		want        Platform
		wantDecided bool
	}{
		{"unconstrained", nil, nil, def, false},
		{"arch from nodeSelector", nil, []string{"arm64"}, Platform{OS: "linux", Architecture: "arm64"}, true},
		{"os and arch", []string{"windows"}, []string{"amd64"}, Platform{OS: "windows", Architecture: "amd64"}, true},
		{"several archs allowed: undecided", nil, []string{"amd64", "arm64"}, def, false},
		{"same value twice (selector and affinity)", nil, []string{"arm64", "arm64"}, Platform{OS: "linux", Architecture: "arm64"}, true},
		{"os only", []string{"windows"}, nil, Platform{OS: "windows", Architecture: "amd64"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, decided := PodPlatform(tt.os, tt.arch).complete(def)
			if got != tt.want || decided != tt.wantDecided {
				t.Fatalf("got %s decided %v, want %s decided %v", got, decided, tt.want, tt.wantDecided)
			}
		})
	}
}
