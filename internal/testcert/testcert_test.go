package testcert

import (
	"crypto/x509"
	"testing"
)

func TestIssueVerifies(t *testing.T) {
	ca, err := NewCA("test CA")
	if err != nil {
		t.Fatal(err)
	}
	for _, tc := range []struct {
		name  string
		leaf  Leaf
		host  string
		usage x509.ExtKeyUsage
	}{
		{"loopback server", Loopback(), "127.0.0.1", x509.ExtKeyUsageServerAuth},
		{"named server", Leaf{CommonName: "vault.test", DNSNames: []string{"vault.test"}}, "vault.test", x509.ExtKeyUsageServerAuth},
		{"client", Leaf{CommonName: "vault-env", Client: true}, "", x509.ExtKeyUsageClientAuth},
	} {
		t.Run(tc.name, func(t *testing.T) {
			issued, err := ca.Issue(tc.leaf)
			if err != nil {
				t.Fatal(err)
			}
			pair, err := issued.TLS()
			if err != nil {
				t.Fatal(err)
			}
			cert, err := x509.ParseCertificate(pair.Certificate[0])
			if err != nil {
				t.Fatal(err)
			}
			if _, err := cert.Verify(x509.VerifyOptions{Roots: ca.Pool, DNSName: tc.host, KeyUsages: []x509.ExtKeyUsage{tc.usage}}); err != nil {
				t.Fatalf("leaf does not verify: %v", err)
			}
		})
	}
	a, _ := ca.Issue(Loopback())
	b, _ := ca.Issue(Loopback())
	if a.Serial == b.Serial {
		t.Errorf("two leaves share serial %d", a.Serial)
	}
}
