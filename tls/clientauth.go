package tls

import (
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"os"
	"slices"
)

// ErrClientNotAllowed is returned by the handshake when a client's
// certificate is valid but names none of the allowed names.
var ErrClientNotAllowed = errors.New("client certificate names no allowed client")

// RequireClientCerts makes cfg require a client certificate issued by a CA
// in caFile (PEM, read once). When names is not empty, the certificate's
// Subject CommonName or one of its DNS SANs must be one of them. The
// apiserver presents the certificate its AdmissionConfiguration's
// kubeconfig names (see SECURITY.md); a caller without it is refused
// during the handshake, before any request is read.
func RequireClientCerts(cfg *ctls.Config, caFile string, names []string) error {
	pem, err := os.ReadFile(caFile)
	if err != nil {
		return fmt.Errorf("failed to read client CA file: %w", err)
	}
	pool := x509.NewCertPool()
	if !pool.AppendCertsFromPEM(pem) {
		return fmt.Errorf("failed to load client CA file %s: no PEM certificate found", caFile)
	}
	cfg.ClientAuth = ctls.RequireAndVerifyClientCert
	cfg.ClientCAs = pool
	if len(names) > 0 {
		allowed := slices.Clone(names)
		cfg.VerifyConnection = func(cs ctls.ConnectionState) error {
			if len(cs.PeerCertificates) == 0 {
				return ErrClientNotAllowed
			}
			return checkClientName(cs.PeerCertificates[0], allowed)
		}
	}
	return nil
}

func checkClientName(cert *x509.Certificate, allowed []string) error {
	if slices.Contains(allowed, cert.Subject.CommonName) || slices.ContainsFunc(cert.DNSNames, func(n string) bool { return slices.Contains(allowed, n) }) {
		return nil
	}
	return fmt.Errorf("%w: CN %q", ErrClientNotAllowed, cert.Subject.CommonName)
}
