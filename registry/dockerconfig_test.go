package registry

import (
	"errors"
	"reflect"
	"strings"
	"testing"
)

func TestParsePullSecrets(t *testing.T) {
	tests := []struct {
		name    string
		parse   func([]byte) (map[string]credential, error)
		data    string
		want    map[string]credential
		wantErr bool
	}{
		{"dockerconfigjson auth field", parseDockerConfigJSON, `{"auths":{"reg.example":{"auth":"dXNlcjpwYXNz"}}}`,
			map[string]credential{"reg.example": {Username: "user", Password: "pass"}}, false},
		{"dockerconfigjson username/password", parseDockerConfigJSON, `{"auths":{"reg.example":{"username":"u","password":"p","email":"e"}}}`,
			map[string]credential{"reg.example": {Username: "u", Password: "p"}}, false},
		{"auth wins over username/password", parseDockerConfigJSON, `{"auths":{"r":{"username":"u","password":"p","auth":"dXNlcjpwYXNz"}}}`,
			map[string]credential{"r": {Username: "user", Password: "pass"}}, false},
		{"password with colons", parseDockerConfigJSON, `{"auths":{"r":{"auth":"dTpwOnE6cg=="}}}`,
			map[string]credential{"r": {Username: "u", Password: "p:q:r"}}, false},
		{"no auths", parseDockerConfigJSON, `{}`, map[string]credential{}, false},
		{"auth not base64", parseDockerConfigJSON, `{"auths":{"r":{"auth":"!!!"}}}`, nil, true},
		{"auth without colon", parseDockerConfigJSON, `{"auths":{"r":{"auth":"dXNlcg=="}}}`, nil, true},
		{"not JSON", parseDockerConfigJSON, `{"auths":`, nil, true},
		{"wrong type", parseDockerConfigJSON, `{"auths":[]}`, nil, true},
		{"dockercfg", parseDockercfg, `{"https://index.docker.io/v1/":{"auth":"dXNlcjpwYXNz","email":"e"}}`,
			map[string]credential{"https://index.docker.io/v1/": {Username: "user", Password: "pass"}}, false},
		{"dockercfg not an object", parseDockercfg, `"x"`, nil, true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := tt.parse([]byte(tt.data))
			if tt.wantErr {
				if !errors.Is(err, ErrInvalidPullSecret) {
					t.Fatalf("err = %v, want ErrInvalidPullSecret", err)
				}
				if strings.Contains(err.Error(), "dXNlcg") || strings.Contains(err.Error(), "!!!") {
					t.Fatalf("error quotes the secret: %v", err)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("got %#v, want %#v", got, tt.want)
			}
		})
	}
}

// TestKeyringLookup follows the kubelet's credentialprovider keyring cases.
func TestKeyringLookup(t *testing.T) {
	a, b, c := credential{Username: "a", Password: "1"}, credential{Username: "b", Password: "2"}, credential{Username: "c", Password: "3"}
	tests := []struct {
		name  string
		keys  map[string]credential
		image string // as the kubelet passes it: host/repository
		want  []credential
	}{
		{"exact host", map[string]credential{"quay.io": a}, "quay.io/coreos/etcd", []credential{a}},
		{"other host", map[string]credential{"quay.io": a}, "gcr.io/coreos/etcd", nil},
		{"scheme and /v2/ ignored", map[string]credential{"https://quay.io/v2/": a}, "quay.io/x", []credential{a}},
		{"http scheme", map[string]credential{"http://reg.local:5000": a}, "reg.local:5000/x", []credential{a}},
		{"port must match", map[string]credential{"reg.local:5000": a}, "reg.local:5001/x", nil},
		{"port missing in key", map[string]credential{"reg.local": a}, "reg.local:5000/x", nil},
		{"path prefix", map[string]credential{"quay.io/coreos": a}, "quay.io/coreos/etcd", []credential{a}},
		{"path mismatch", map[string]credential{"quay.io/coreos": a}, "quay.io/other/etcd", nil},
		{"more specific first", map[string]credential{"quay.io": a, "quay.io/coreos": b}, "quay.io/coreos/etcd", []credential{b, a}},
		{"glob label", map[string]credential{"*.azurecr.io": a}, "team.azurecr.io/app", []credential{a}},
		{"glob needs same label count", map[string]credential{"*.azurecr.io": a}, "azurecr.io/app", nil},
		{"glob does not cross labels", map[string]credential{"*.example.com": a}, "a.b.example.com/app", nil},
		{"glob in middle", map[string]credential{"us-*.pkg.dev": a}, "us-west1.pkg.dev/p/r", []credential{a}},
		{"docker hub via index.docker.io/v1/", map[string]credential{"https://index.docker.io/v1/": a}, "docker.io/library/redis", []credential{a}},
		{"docker hub via index.docker.io", map[string]credential{"index.docker.io": a}, "docker.io/bitnami/redis", []credential{a}},
		{"docker hub via docker.io", map[string]credential{"docker.io": a}, "docker.io/library/redis", []credential{a}},
		{"hub credentials not for other hosts", map[string]credential{"https://index.docker.io/v1/": a}, "quay.io/x", nil},
		{"exact match beats the hub fallback", map[string]credential{"index.docker.io": a, "docker.io": c}, "docker.io/library/redis", []credential{c}},
		{"registry-1 key does not match docker.io images", map[string]credential{"registry-1.docker.io": a}, "docker.io/library/redis", nil},
		{"loopback with port", map[string]credential{"127.0.0.1:5000": a}, "127.0.0.1:5000/team/app", []credential{a}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := matching(tt.keys, tt.image)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("lookup(%q) = %v, want %v", tt.image, names(got), names(tt.want))
			}
		})
	}
}

func names(cs []credential) []string {
	var out []string
	for _, c := range cs {
		out = append(out, c.Username)
	}
	return out
}

func TestCredentialsFor(t *testing.T) {
	ref, _ := ParseReference("reg.example:5000/team/app:v1")
	js := func(host, auth string) PullSecret {
		return PullSecret{Type: SecretTypeDockerConfigJSON, Data: []byte(`{"auths":{"` + host + `":{"auth":"` + auth + `"}}}`)}
	}
	podSecret := js("reg.example:5000", "cG9kOnAx")     // pod:p1
	saSecret := js("reg.example:5000/team", "c2E6cDI=") // sa:p2
	defaultSecret := js("reg.example:5000", "ZGVmOnAz") // def:p3
	dupe := js("reg.example:5000", "cG9kOnAx")          // pod:p1 again
	broken := PullSecret{Type: SecretTypeDockerConfigJSON, Data: []byte("{")}
	opaque := PullSecret{Type: "Opaque", Data: []byte("{}")}
	tests := []struct {
		name        string
		secrets     []PullSecret
		want        []string
		wantSkipped int
	}{
		{"none", nil, nil, 0},
		{"priority order across secrets", []PullSecret{podSecret, saSecret, defaultSecret}, []string{"pod", "sa", "def"}, 0},
		{"duplicates dropped", []PullSecret{podSecret, dupe}, []string{"pod"}, 0},
		{"unparsable and wrong-type secrets skipped", []PullSecret{broken, opaque, saSecret}, []string{"sa"}, 2},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, skipped := credentialsFor(ref, tt.secrets)
			if !reflect.DeepEqual(names(got), tt.want) || skipped != tt.wantSkipped {
				t.Fatalf("got %v (skipped %d), want %v (skipped %d)", names(got), skipped, tt.want, tt.wantSkipped)
			}
		})
	}
}

func TestIdentity(t *testing.T) {
	key := []byte("k")
	a := []credential{{Username: "u", Password: "p"}}
	tests := []struct {
		name string
		x, y []credential
		same bool
	}{
		{"same credentials", a, []credential{{Username: "u", Password: "p"}}, true},
		{"other password", a, []credential{{Username: "u", Password: "q"}}, false},
		{"ambiguous concatenation", []credential{{Username: "ab", Password: "c"}}, []credential{{Username: "a", Password: "bc"}}, false},
		{"anonymous vs credentials", nil, a, false},
		{"order matters", []credential{{Username: "u", Password: "p"}, {Username: "v", Password: "q"}}, []credential{{Username: "v", Password: "q"}, {Username: "u", Password: "p"}}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := identity(key, tt.x) == identity(key, tt.y); got != tt.same {
				t.Fatalf("identity equal = %v, want %v", got, tt.same)
			}
		})
	}
}

func TestSecretsDoNotPrint(t *testing.T) {
	c := credential{Username: "user", Password: "hunter2"}
	s := PullSecret{Type: SecretTypeDockerConfigJSON, Data: []byte("hunter2")}
	for _, out := range []string{c.String(), c.GoString(), s.String(), s.GoString()} {
		if strings.Contains(out, "hunter2") {
			t.Fatalf("%q prints the secret", out)
		}
	}
}
