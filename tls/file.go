// Package tls provides the webhook's serving certificate: loaded from files
// and reloaded when they change (a Secret-mounted certificate is rotated
// under the running pod), or generated at start (a CA plus a serving
// certificate) with the CA published into the MutatingWebhookConfiguration.
//
// Self-signed mode and replicas: every replica generates its own CA, and
// the apiserver may call any of them, so the caBundle must trust them all:
// PublishCABundle merges instead of replacing (MergeCABundle), and the
// webhook calls it at start and then every minute, so a CA that was dropped
// (the cap, or a re-applied manifest that reset caBundle) comes back. A CA
// of a replica that is gone stays trusted until it expires or is capped
// out; its key existed only in that replica's memory.
package tls

import (
	"bytes"
	"context"
	ctls "crypto/tls"
	"crypto/x509"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"sync/atomic"
	"time"
)

// MinVersion is the lowest TLS version the webhook serves. The kube-apiserver
// (a Go client) speaks TLS 1.3.
const MinVersion = ctls.VersionTLS12

// ServerConfig returns the serving TLS configuration of src. Cipher suites
// are Go's defaults.
func ServerConfig(src *Source) *ctls.Config {
	return &ctls.Config{
		MinVersion:     MinVersion,
		GetCertificate: src.GetCertificate,
		NextProtos:     []string{"h2", "http/1.1"},
	}
}

// Source hands out the current serving certificate.
type Source struct {
	cert atomic.Pointer[ctls.Certificate]
}

// GetCertificate is the tls.Config's GetCertificate.
func (s *Source) GetCertificate(*ctls.ClientHelloInfo) (*ctls.Certificate, error) {
	c := s.cert.Load()
	if c == nil {
		return nil, errors.New("no serving certificate loaded")
	}
	return c, nil
}

// Ready reports an error unless a certificate is loaded and currently valid.
func (s *Source) Ready() error {
	c := s.cert.Load()
	if c == nil || c.Leaf == nil {
		return errors.New("no serving certificate loaded")
	}
	now := time.Now()
	if now.Before(c.Leaf.NotBefore) || now.After(c.Leaf.NotAfter) {
		return fmt.Errorf("serving certificate is not valid now (valid %s to %s)", c.Leaf.NotBefore.Format(time.RFC3339), c.Leaf.NotAfter.Format(time.RFC3339))
	}
	return nil
}

// NotAfter is the expiry of the current certificate.
func (s *Source) NotAfter() time.Time {
	if c := s.cert.Load(); c != nil && c.Leaf != nil {
		return c.Leaf.NotAfter
	}
	return time.Time{}
}

// FileSource serves the certificate in a PEM certificate (chain) file and a
// PEM key file, and reloads them when their content changes.
type FileSource struct {
	Source
	certFile, keyFile string
	log               *slog.Logger
	lastCert, lastKey []byte
}

// NewFileSource loads the pair once; a bad pair fails at start.
func NewFileSource(certFile, keyFile string, log *slog.Logger) (*FileSource, error) {
	if log == nil {
		log = slog.New(slog.DiscardHandler)
	}
	s := &FileSource{certFile: certFile, keyFile: keyFile, log: log}
	if _, err := s.reload(); err != nil {
		return nil, err
	}
	return s, nil
}

// reload reads both files and swaps the certificate when they changed and
// form a valid pair. It reports whether a new certificate was loaded.
func (s *FileSource) reload() (bool, error) {
	certPEM, err := os.ReadFile(s.certFile)
	if err != nil {
		return false, fmt.Errorf("failed to read certificate file: %w", err)
	}
	keyPEM, err := os.ReadFile(s.keyFile)
	if err != nil {
		return false, fmt.Errorf("failed to read key file: %w", err)
	}
	if bytes.Equal(certPEM, s.lastCert) && bytes.Equal(keyPEM, s.lastKey) {
		return false, nil
	}
	pair, err := ctls.X509KeyPair(certPEM, keyPEM)
	if err != nil {
		// During a rotation the two files may be written one after the
		// other: keep serving the old pair and try again next poll.
		return false, fmt.Errorf("failed to load key pair %s: %w", s.certFile, err)
	}
	leaf, err := x509.ParseCertificate(pair.Certificate[0])
	if err != nil {
		return false, fmt.Errorf("failed to parse certificate %s: %w", s.certFile, err)
	}
	pair.Leaf = leaf
	s.cert.Store(&pair)
	s.lastCert, s.lastKey = certPEM, keyPEM
	return true, nil
}

// Run polls the files every interval until ctx is done.
func (s *FileSource) Run(ctx context.Context, interval time.Duration) {
	t := time.NewTicker(interval)
	defer t.Stop()
	for {
		select {
		case <-ctx.Done():
			return
		case <-t.C:
			changed, err := s.reload()
			switch {
			case err != nil:
				s.log.Warn("serving certificate not reloaded", "error", err.Error())
			case changed:
				leaf := s.cert.Load().Leaf
				s.log.Info("serving certificate reloaded", "subject", leaf.Subject.CommonName, "notAfter", leaf.NotAfter)
			}
		}
	}
}
