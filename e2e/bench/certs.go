package bench

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"os"
	"path/filepath"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/testcert"
)

// CertFiles are the PEM files of a throwaway serving certificate.
type CertFiles struct {
	CA, Cert, Key string
}

// WriteServingCert generates a CA and a serving certificate for 127.0.0.1 and
// localhost (ECDSA P-256, valid for a day) and writes them into dir. Both the
// webhook and the floor serve the same certificate, so the TLS cost is equal.
func WriteServingCert(dir string) (CertFiles, error) {
	ca, err := testcert.NewCA("vsw-bench-ca")
	if err != nil {
		return CertFiles{}, err
	}
	leaf, err := ca.Issue(testcert.Loopback())
	if err != nil {
		return CertFiles{}, err
	}
	f := CertFiles{
		CA:   filepath.Join(dir, "ca.crt"),
		Cert: filepath.Join(dir, "tls.crt"),
		Key:  filepath.Join(dir, "tls.key"),
	}
	for _, w := range []struct {
		path string
		data []byte
		mode os.FileMode
	}{
		{f.CA, ca.PEM, 0o644},
		{f.Cert, leaf.CertPEM, 0o644},
		{f.Key, leaf.KeyPEM, 0o600},
	} {
		if err := os.WriteFile(w.path, w.data, w.mode); err != nil {
			return CertFiles{}, fmt.Errorf("failed to write %s: %w", w.path, err)
		}
	}
	return f, nil
}

// ClientTLS returns a client TLS configuration trusting the CA in caFile,
// offering only HTTP/1.1 (no ALPN "h2").
func ClientTLS(caFile string) (*tls.Config, error) {
	b, err := os.ReadFile(caFile)
	if err != nil {
		return nil, fmt.Errorf("failed to read CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(b) {
		return nil, fmt.Errorf("failed to parse CA file %s: no certificate", caFile)
	}
	return &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12, NextProtos: []string{"http/1.1"}}, nil
}
