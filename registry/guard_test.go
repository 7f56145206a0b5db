package registry

import (
	"strings"
	"testing"
)

func TestMayGetCredentials(t *testing.T) {
	tests := []struct {
		realm, registry string
		want            bool
	}{
		{"registry.example:5000", "registry.example:5000", true},
		{"registry.example:5001", "registry.example:5000", true},
		{"auth.docker.io", "registry-1.docker.io", true},
		{"gitlab.com", "registry.gitlab.com", true},
		{"AUTH.Example.com.", "registry.example.com", true},
		{"auth.example.com", "example.com", false}, // com is no one's parent
		{"attacker.example", "registry.example.com", false},
		{"example.com.attacker.example", "registry.example.com", false},
		{"127.0.0.1:9000", "127.0.0.1:5000", true},
		{"127.0.0.2:9000", "127.0.0.1:5000", false},
		{"localhost:9000", "127.0.0.1:5000", false},
		{"[::1]:9000", "[::1]:5000", true},
		{"169.254.169.254", "registry.example.com", false},
	}
	for _, tt := range tests {
		if got := mayGetCredentials(tt.realm, tt.registry); got != tt.want {
			t.Errorf("mayGetCredentials(%q, %q) = %t, want %t", tt.realm, tt.registry, got, tt.want)
		}
	}
}

func TestSameHostPort(t *testing.T) {
	tests := []struct {
		addr, registry string
		want           bool
	}{
		{"127.0.0.1:5000", "127.0.0.1:5000", true},
		{"127.0.0.1:5001", "127.0.0.1:5000", false},
		{"localhost:443", "localhost", true},
		{"localhost:80", "LOCALHOST", true},
		{"localhost:8080", "localhost", false},
		{"[::1]:5000", "[::1]:5000", true},
		{"127.0.0.1:5000", "", false},
	}
	for _, tt := range tests {
		if got := sameHostPort(tt.addr, tt.registry); got != tt.want {
			t.Errorf("sameHostPort(%q, %q) = %t, want %t", tt.addr, tt.registry, got, tt.want)
		}
	}
}

func TestParseToken(t *testing.T) {
	tests := []struct {
		name, body, want string
		wantErr          bool
	}{
		{"token", `{"token":"a"}`, "a", false},
		{"access_token", `{"access_token":"b"}`, "b", false},
		{"token wins", `{"access_token":"b","token":"a"}`, "a", false},
		{"empty token falls back", `{"token":"","access_token":"b"}`, "b", false},
		{"case differs: metadata's Token", `{"Token":"meta","AccessToken":"x"}`, "", true},
		{"upper case", `{"TOKEN":"meta","ACCESS_TOKEN":"meta"}`, "", true},
		{"not a string", `{"token":1}`, "", true},
		{"not an object", `"x"`, "", true},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, _, err := parseToken(strings.NewReader(tt.body))
			if (err != nil) != tt.wantErr || got != tt.want {
				t.Fatalf("parseToken(%s) = %q, %v; want %q, error %t", tt.body, got, err, tt.want, tt.wantErr)
			}
		})
	}
}
