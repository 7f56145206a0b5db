package envinject

import (
	"net/url"
	"strings"
	"testing"
)

// FuzzVaultAddr checks that an accepted vault-addr is an http(s) URL without
// userinfo whose host is no metadata address, whatever the allow-list.
func FuzzVaultAddr(f *testing.F) {
	for _, s := range []string{"https://vault:8200", "http://169.254.169.254/", "http://[fd00:ec2::254]/", "http://metadata.google.internal/",
		"http://0xa9fea9fe/", "http://[::ffff:169.254.169.254]/", "https://u:p@vault/", "HTTP://Vault:80", "http://169.254.169.254.nip.io/"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, raw string) {
		got, err := checkVaultAddr(raw, "https://vault:8200", []string{"*"})
		if err != nil {
			return
		}
		u, err := url.Parse(got)
		if err != nil {
			t.Fatalf("accepted %q canonicalised to unparsable %q", raw, got)
		}
		if u.Scheme != "http" && u.Scheme != "https" || u.User != nil {
			t.Fatalf("accepted %q", raw)
		}
		h := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
		if h == "169.254.169.254" || h == "fd00:ec2::254" || h == "metadata.google.internal" {
			t.Fatalf("accepted metadata address %q", raw)
		}
	})
}
