package tls

import (
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	ctls "crypto/tls"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/json"
	"encoding/pem"
	"errors"
	"fmt"
	"math/big"
	"net"
	"net/url"
	"time"
)

// StaticSource serves one certificate for the life of the process.
type StaticSource struct{ cert *ctls.Certificate }

// GetCertificate implements Source.
func (s *StaticSource) GetCertificate(*ctls.ClientHelloInfo) (*ctls.Certificate, error) {
	return s.cert, nil
}

// Ready implements Source.
func (s *StaticSource) Ready() error { return validNow(s.cert) }

// NotAfter is the expiry of the certificate.
func (s *StaticSource) NotAfter() time.Time { return s.cert.Leaf.NotAfter }

// SelfSigned is a freshly generated CA and a serving certificate it signed.
// The CA key is discarded after signing: nothing else can be issued by it.
type SelfSigned struct {
	CAPEM  []byte // the CA certificate, for the caBundle
	Source *StaticSource
}

// GenerateSelfSigned makes an ECDSA P-256 CA and a serving certificate for
// hosts (DNS names or IP addresses), valid from now-1h for validity.
func GenerateSelfSigned(hosts []string, validity time.Duration, now time.Time) (*SelfSigned, error) {
	if len(hosts) == 0 {
		return nil, errors.New("failed to generate certificate: no host names")
	}
	caKey, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate CA key: %w", err)
	}
	caTmpl := &x509.Certificate{
		SerialNumber:          serial(),
		Subject:               pkix.Name{CommonName: "vault-secrets-webhook-ca"},
		NotBefore:             now.Add(-time.Hour),
		NotAfter:              now.Add(validity),
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}
	caDER, err := x509.CreateCertificate(rand.Reader, caTmpl, caTmpl, &caKey.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("failed to create CA certificate: %w", err)
	}
	ca, err := x509.ParseCertificate(caDER)
	if err != nil {
		return nil, fmt.Errorf("failed to parse CA certificate: %w", err)
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: serial(),
		Subject:      pkix.Name{CommonName: hosts[0]},
		NotBefore:    now.Add(-time.Hour),
		NotAfter:     now.Add(validity),
		KeyUsage:     x509.KeyUsageDigitalSignature,
		ExtKeyUsage:  []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, ca, &key.PublicKey, caKey)
	if err != nil {
		return nil, fmt.Errorf("failed to create serving certificate: %w", err)
	}
	leaf, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse serving certificate: %w", err)
	}
	cert := &ctls.Certificate{Certificate: [][]byte{der}, PrivateKey: key, Leaf: leaf}
	return &SelfSigned{
		CAPEM:  pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: caDER}),
		Source: &StaticSource{cert: cert},
	}, nil
}

func serial() *big.Int {
	n, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		panic(fmt.Sprintf("crypto/rand failed: %v", err))
	}
	return n
}

// APIClient is the part of the Kubernetes REST client publishing needs
// (kube.Client satisfies it).
type APIClient interface {
	Get(ctx context.Context, path string, out any) error
	Patch(ctx context.Context, path, patchType string, patch []byte, out any) error
}

// webhookConfig is the part of a MutatingWebhookConfiguration we read.
type webhookConfig struct {
	Webhooks []struct {
		Name string `json:"name"`
	} `json:"webhooks"`
}

// PublishCABundle sets caBundle of every webhook in the
// MutatingWebhookConfiguration name to caPEM, with a JSON patch that tests
// each webhook's name first (so a concurrent reorder fails instead of
// patching the wrong entry).
func PublishCABundle(ctx context.Context, c APIClient, name string, caPEM []byte) error {
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + url.PathEscape(name)
	var cfg webhookConfig
	if err := c.Get(ctx, path, &cfg); err != nil {
		return fmt.Errorf("failed to get MutatingWebhookConfiguration %s: %w", name, err)
	}
	if len(cfg.Webhooks) == 0 {
		return fmt.Errorf("failed to publish caBundle: MutatingWebhookConfiguration %s has no webhooks", name)
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	var ops []op
	bundle := base64.StdEncoding.EncodeToString(caPEM)
	for i, w := range cfg.Webhooks {
		ops = append(ops,
			op{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.Name},
			op{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: bundle},
		)
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return fmt.Errorf("failed to marshal caBundle patch: %w", err)
	}
	if err := c.Patch(ctx, path, "application/json-patch+json", b, nil); err != nil {
		return fmt.Errorf("failed to patch MutatingWebhookConfiguration %s: %w", name, err)
	}
	return nil
}
