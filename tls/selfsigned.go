package tls

import (
	"bytes"
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
	mrand "math/rand/v2"
	"net"
	"net/http"
	"net/url"
	"slices"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// SelfSigned is a freshly generated CA and a serving certificate it signed.
// The CA key is discarded after signing: nothing else can be issued by it.
type SelfSigned struct {
	CAPEM  []byte // the CA certificate, for the caBundle
	Source *Source
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
	ca, err := sign("CA", &x509.Certificate{
		Subject:               pkix.Name{CommonName: "vault-secrets-webhook-ca"},
		KeyUsage:              x509.KeyUsageCertSign | x509.KeyUsageCRLSign,
		BasicConstraintsValid: true,
		IsCA:                  true,
		MaxPathLenZero:        true,
	}, nil, caKey, caKey, now, validity)
	if err != nil {
		return nil, err
	}
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		return nil, fmt.Errorf("failed to generate serving key: %w", err)
	}
	tmpl := &x509.Certificate{
		Subject:     pkix.Name{CommonName: hosts[0]},
		KeyUsage:    x509.KeyUsageDigitalSignature,
		ExtKeyUsage: []x509.ExtKeyUsage{x509.ExtKeyUsageServerAuth},
	}
	for _, h := range hosts {
		if ip := net.ParseIP(h); ip != nil {
			tmpl.IPAddresses = append(tmpl.IPAddresses, ip)
		} else {
			tmpl.DNSNames = append(tmpl.DNSNames, h)
		}
	}
	leaf, err := sign("serving", tmpl, ca, key, caKey, now, validity)
	if err != nil {
		return nil, err
	}
	ss := &SelfSigned{CAPEM: pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: ca.Raw}), Source: &Source{}}
	ss.Source.cert.Store(&ctls.Certificate{Certificate: [][]byte{leaf.Raw}, PrivateKey: key, Leaf: leaf})
	return ss, nil
}

// sign issues tmpl (self-signed when parent is nil) with a random serial,
// valid from now-1h for validity.
func sign(what string, tmpl, parent *x509.Certificate, key, signer *ecdsa.PrivateKey, now time.Time, validity time.Duration) (*x509.Certificate, error) {
	serial, err := rand.Int(rand.Reader, new(big.Int).Lsh(big.NewInt(1), 127))
	if err != nil {
		return nil, fmt.Errorf("failed to create %s certificate: %w", what, err)
	}
	tmpl.SerialNumber, tmpl.NotBefore, tmpl.NotAfter = serial, now.Add(-time.Hour), now.Add(validity)
	if parent == nil {
		parent = tmpl
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, parent, &key.PublicKey, signer)
	if err != nil {
		return nil, fmt.Errorf("failed to create %s certificate: %w", what, err)
	}
	cert, err := x509.ParseCertificate(der)
	if err != nil {
		return nil, fmt.Errorf("failed to parse %s certificate: %w", what, err)
	}
	return cert, nil
}

// APIClient is the part of the Kubernetes REST client publishing needs
// (kube.Client satisfies it).
type APIClient interface {
	Get(ctx context.Context, path string, out any) error
	Patch(ctx context.Context, path, patchType string, patch []byte, out any) error
}

// MaxCABundleCerts caps the certificates PublishCABundle leaves in one
// caBundle: replicas that restart add a CA each, and the oldest beyond the
// cap are dropped.
const MaxCABundleCerts = 10

// publishAttempts bounds the read-merge-write rounds PublishCABundle makes
// when other writers (the other replicas) change the configuration between
// its read and its write.
const publishAttempts = 8

// webhookConfig is the part of a MutatingWebhookConfiguration we read.
type webhookConfig struct {
	Metadata struct {
		ResourceVersion string `json:"resourceVersion"`
	} `json:"metadata"`
	Webhooks []struct {
		Name         string `json:"name"`
		ClientConfig struct {
			CABundle []byte `json:"caBundle"`
		} `json:"clientConfig"`
	} `json:"webhooks"`
}

// MergeCABundle returns the PEM bundle that trusts ca and every certificate
// of bundle still valid at now: expired, not-yet-parsable and duplicate
// certificates and non-certificate PEM blocks are dropped, ca is added when
// absent, and when more than MaxCABundleCerts remain the ones issued
// earliest (other than ca) go. changed reports whether the result differs
// from bundle. ca must hold exactly one certificate.
func MergeCABundle(bundle, ca []byte, now time.Time) (merged []byte, changed bool, err error) {
	block, rest := pem.Decode(ca)
	if block == nil || block.Type != "CERTIFICATE" || len(bytes.TrimSpace(rest)) != 0 {
		return nil, false, errors.New("failed to merge caBundle: the CA is not one PEM certificate")
	}
	own, err := x509.ParseCertificate(block.Bytes)
	if err != nil {
		return nil, false, fmt.Errorf("failed to parse CA certificate: %w", err)
	}
	var keep []*x509.Certificate
	hasOwn := false
	seen := map[string]bool{}
	for b := bundle; ; {
		var blk *pem.Block
		blk, b = pem.Decode(b)
		if blk == nil {
			break
		}
		if blk.Type != "CERTIFICATE" {
			continue
		}
		c, err := x509.ParseCertificate(blk.Bytes)
		if err != nil || now.After(c.NotAfter) || seen[string(c.Raw)] {
			continue
		}
		seen[string(c.Raw)] = true
		if c.Equal(own) {
			hasOwn = true
		}
		keep = append(keep, c)
	}
	if !hasOwn {
		keep = append(keep, own)
	}
	for len(keep) > MaxCABundleCerts {
		oldest := -1
		for i, c := range keep {
			if !c.Equal(own) && (oldest < 0 || c.NotBefore.Before(keep[oldest].NotBefore)) {
				oldest = i
			}
		}
		keep = slices.Delete(keep, oldest, oldest+1)
	}
	var out bytes.Buffer
	for _, c := range keep {
		_ = pem.Encode(&out, &pem.Block{Type: "CERTIFICATE", Bytes: c.Raw})
	}
	return out.Bytes(), !bytes.Equal(out.Bytes(), bundle), nil
}

// PublishCABundle makes every webhook of the MutatingWebhookConfiguration
// name trust caPEM without distrusting the other replicas: it reads each
// webhook's caBundle, merges caPEM in (MergeCABundle), and writes the
// result with a JSON patch that first tests metadata.resourceVersion and
// each webhook's name. When another replica wrote in between, the test
// fails (HTTP 422, or 409) and the read-merge-write is repeated, at most
// publishAttempts times. Nothing is written when every bundle already
// trusts caPEM and holds nothing to drop.
func PublishCABundle(ctx context.Context, c APIClient, name string, caPEM []byte) error {
	return publishCABundle(ctx, c, name, caPEM, time.Now)
}

func publishCABundle(ctx context.Context, c APIClient, name string, caPEM []byte, now func() time.Time) error {
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations/" + url.PathEscape(name)
	var lastErr error
	for attempt := range publishAttempts {
		if attempt > 0 {
			// A short, growing pause with jitter, so that replicas that
			// collided do not collide again.
			d := time.Duration(attempt)*50*time.Millisecond + time.Duration(mrand.Int64N(int64(50*time.Millisecond)))
			select {
			case <-ctx.Done():
				return fmt.Errorf("failed to patch MutatingWebhookConfiguration %s: %w", name, errors.Join(lastErr, ctx.Err()))
			case <-time.After(d):
			}
		}
		retry, err := publishOnce(ctx, c, path, name, caPEM, now())
		if err == nil || !retry {
			return err
		}
		lastErr = err
	}
	return lastErr
}

// publishOnce is one read-merge-write; retry reports a lost race.
func publishOnce(ctx context.Context, c APIClient, path, name string, caPEM []byte, now time.Time) (retry bool, err error) {
	var cfg webhookConfig
	if err := c.Get(ctx, path, &cfg); err != nil {
		return false, fmt.Errorf("failed to get MutatingWebhookConfiguration %s: %w", name, err)
	}
	if len(cfg.Webhooks) == 0 {
		return false, fmt.Errorf("failed to publish caBundle: MutatingWebhookConfiguration %s has no webhooks", name)
	}
	type op struct {
		Op    string `json:"op"`
		Path  string `json:"path"`
		Value string `json:"value"`
	}
	ops := []op{{Op: "test", Path: "/metadata/resourceVersion", Value: cfg.Metadata.ResourceVersion}}
	changed := false
	for i, w := range cfg.Webhooks {
		merged, ch, err := MergeCABundle(w.ClientConfig.CABundle, caPEM, now)
		if err != nil {
			return false, err
		}
		changed = changed || ch
		ops = append(ops,
			op{Op: "test", Path: fmt.Sprintf("/webhooks/%d/name", i), Value: w.Name},
			op{Op: "add", Path: fmt.Sprintf("/webhooks/%d/clientConfig/caBundle", i), Value: base64.StdEncoding.EncodeToString(merged)},
		)
	}
	if !changed {
		return false, nil
	}
	b, err := json.Marshal(ops)
	if err != nil {
		return false, fmt.Errorf("failed to marshal caBundle patch: %w", err)
	}
	if err := c.Patch(ctx, path, "application/json-patch+json", b, nil); err != nil {
		var se *kube.StatusError
		lost := errors.As(err, &se) && (se.Code == http.StatusConflict || se.Code == http.StatusUnprocessableEntity)
		return lost, fmt.Errorf("failed to patch MutatingWebhookConfiguration %s: %w", name, err)
	}
	return false, nil
}
