package kube

import (
	"errors"
	"fmt"
	"net"
	"os"
	"path/filepath"
	"time"
)

// ServiceAccountDir is where the kubelet mounts a pod's ServiceAccount
// credentials (token, ca.crt, namespace).
const ServiceAccountDir = "/var/run/secrets/kubernetes.io/serviceaccount"

// DefaultTimeout bounds a request when Config.Timeout is zero.
const DefaultTimeout = 30 * time.Second

// ErrNotInCluster is returned by InClusterConfig when the process does not
// run in a Kubernetes pod (KUBERNETES_SERVICE_HOST or _PORT unset).
var ErrNotInCluster = errors.New("not running in a kubernetes cluster: KUBERNETES_SERVICE_HOST and KUBERNETES_SERVICE_PORT must be set")

// Config says how to reach an API server.
type Config struct {
	// Server is the API server's base URL, e.g. https://127.0.0.1:6443.
	Server string
	// CAFile is a PEM bundle of CAs trusted for the server's certificate.
	// Empty means the system roots.
	CAFile string
	// TokenFile holds the bearer token; it is re-read when it changes.
	// Empty means no Authorization header.
	TokenFile string
	// Timeout bounds each request; zero means DefaultTimeout.
	Timeout time.Duration
}

// InClusterConfig returns the configuration of a process running in a pod:
// the API server from KUBERNETES_SERVICE_HOST/PORT, and the ServiceAccount
// token and CA that the kubelet mounts under ServiceAccountDir.
func InClusterConfig() (Config, error) {
	return inClusterConfig(os.Getenv, ServiceAccountDir)
}

func inClusterConfig(getenv func(string) string, saDir string) (Config, error) {
	host, port := getenv("KUBERNETES_SERVICE_HOST"), getenv("KUBERNETES_SERVICE_PORT")
	if host == "" || port == "" {
		return Config{}, ErrNotInCluster
	}
	cfg := Config{
		Server:    "https://" + net.JoinHostPort(host, port),
		TokenFile: filepath.Join(saDir, "token"),
		CAFile:    filepath.Join(saDir, "ca.crt"),
	}
	if _, err := os.Stat(cfg.TokenFile); err != nil {
		return Config{}, fmt.Errorf("failed to find service account token: %w", err)
	}
	if _, err := os.Stat(cfg.CAFile); err != nil {
		return Config{}, fmt.Errorf("failed to find service account CA: %w", err)
	}
	return cfg, nil
}
