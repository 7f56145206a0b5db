package registry

import (
	"reflect"
	"testing"
)

func TestParseChallenges(t *testing.T) {
	tests := []struct {
		name    string
		headers []string
		want    []challenge
	}{
		{"distribution bearer", []string{`Bearer realm="https://auth.example/token",service="registry.example",scope="repository:team/app:pull"`},
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.example/token", "service": "registry.example", "scope": "repository:team/app:pull"}}}},
		{"basic", []string{`Basic realm="test"`}, []challenge{{"basic", map[string]string{"realm": "test"}}}},
		{"case and spaces", []string{`BEARER  Realm = "r" ,  Service=s`}, []challenge{{"bearer", map[string]string{"realm": "r", "service": "s"}}}},
		{"unquoted url realm", []string{`Bearer realm=https://auth.example/token,service=reg`},
			[]challenge{{"bearer", map[string]string{"realm": "https://auth.example/token", "service": "reg"}}}},
		{"escaped quote", []string{`Bearer realm="a\"b",error="invalid_token"`}, []challenge{{"bearer", map[string]string{"realm": `a"b`, "error": "invalid_token"}}}},
		{"comma inside quotes", []string{`Bearer scope="repository:a:pull,push",realm="r"`}, []challenge{{"bearer", map[string]string{"scope": "repository:a:pull,push", "realm": "r"}}}},
		{"two challenges in one header", []string{`Basic realm="b", Bearer realm="r",service="s"`},
			[]challenge{{"basic", map[string]string{"realm": "b"}}, {"bearer", map[string]string{"realm": "r", "service": "s"}}}},
		{"two headers", []string{`Basic realm="b"`, `Bearer realm="r"`},
			[]challenge{{"basic", map[string]string{"realm": "b"}}, {"bearer", map[string]string{"realm": "r"}}}},
		{"scheme without parameters", []string{`Negotiate`}, []challenge{{"negotiate", map[string]string{}}}},
		{"unterminated quote", []string{`Bearer realm="https://x`}, []challenge{{"bearer", map[string]string{"realm": "https://x"}}}},
		{"empty", []string{""}, nil},
		{"garbage", []string{`"quoted"`}, nil},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := parseChallenges(tt.headers)
			if !reflect.DeepEqual(got, tt.want) {
				t.Fatalf("parseChallenges(%q) =\n%#v\nwant\n%#v", tt.headers, got, tt.want)
			}
		})
	}
}
