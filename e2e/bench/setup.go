package bench

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/sha256"
	"crypto/tls"
	"crypto/x509"
	"encoding/hex"
	"encoding/json"
	"fmt"
	"io"
	"maps"
	"net/http"
	"net/url"
	"os"
	"slices"
	"strings"
	"time"
)

// restClient is the few authenticated JSON calls the benchmark setup makes to
// the sandbox apiserver, Vault and registry. It is not the product's kube
// client on purpose: the benchmark must not break when that package changes.
type restClient struct {
	base   string
	header http.Header
	hc     *http.Client
}

func newRESTClient(base, caFile string, header http.Header) (*restClient, error) {
	tr := &http.Transport{}
	if caFile != "" {
		b, err := os.ReadFile(caFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read CA file: %w", err)
		}
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(b)
		tr.TLSClientConfig = &tls.Config{RootCAs: pool, MinVersion: tls.VersionTLS12}
	}
	return &restClient{base: strings.TrimSuffix(base, "/"), header: header, hc: &http.Client{Transport: tr, Timeout: 30 * time.Second}}, nil
}

// do sends body (JSON-encoded unless it is []byte) and decodes a 2xx answer
// into out; allowed lists extra statuses that are not errors (e.g. 409).
func (c *restClient) do(ctx context.Context, method, path, ctype string, body any, out any, allowed ...int) (int, http.Header, error) {
	var rd io.Reader
	switch b := body.(type) {
	case nil:
	case []byte:
		rd = bytes.NewReader(b)
	default:
		j, err := json.Marshal(b)
		if err != nil {
			return 0, nil, fmt.Errorf("failed to encode request: %w", err)
		}
		rd = bytes.NewReader(j)
	}
	u := path
	if !strings.HasPrefix(path, "http") {
		u = c.base + path
	}
	req, err := http.NewRequestWithContext(ctx, method, u, rd)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to build request: %w", err)
	}
	maps.Copy(req.Header, c.header)
	if ctype != "" {
		req.Header.Set("Content-Type", ctype)
	}
	resp, err := c.hc.Do(req)
	if err != nil {
		return 0, nil, fmt.Errorf("failed to %s %s: %w", method, path, err)
	}
	defer resp.Body.Close()
	rb, _ := io.ReadAll(io.LimitReader(resp.Body, 4<<20))
	if resp.StatusCode/100 != 2 && !slices.Contains(allowed, resp.StatusCode) {
		return resp.StatusCode, resp.Header, fmt.Errorf("failed to %s %s: HTTP %d: %.300s", method, path, resp.StatusCode, rb)
	}
	if out != nil && resp.StatusCode/100 == 2 && len(rb) > 0 {
		if err := json.Unmarshal(rb, out); err != nil {
			return resp.StatusCode, resp.Header, fmt.Errorf("failed to decode answer of %s %s: %w", method, path, err)
		}
	}
	return resp.StatusCode, resp.Header, nil
}

// KubeSetup creates the namespace of the scenarios and the Secret and
// ConfigMap whose values the envfrom scenario finds references in.
func KubeSetup(ctx context.Context, server, caFile, tokenFile, ns string) error {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return fmt.Errorf("failed to read kube token file: %w", err)
	}
	c, err := newRESTClient(server, caFile, http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}})
	if err != nil {
		return err
	}
	objs := []struct {
		path string
		obj  map[string]any
	}{
		{"/api/v1/namespaces", map[string]any{"apiVersion": "v1", "kind": "Namespace", "metadata": map[string]any{"name": ns}}},
		{"/api/v1/namespaces/" + ns + "/secrets", map[string]any{
			"apiVersion": "v1", "kind": "Secret", "metadata": map[string]any{"name": EnvFromSecret}, "type": "Opaque",
			"stringData": map[string]string{
				EnvFromKey:   "vault:secret/data/shop/postgres#password",
				"API_TOKEN":  "vault:secret/data/shop/stripe#api_key",
				"PLAIN_SALT": "not-a-reference",
			},
		}},
		{"/api/v1/namespaces/" + ns + "/configmaps", map[string]any{
			"apiVersion": "v1", "kind": "ConfigMap", "metadata": map[string]any{"name": EnvFromConfigMap},
			"data": map[string]string{
				"AWS_SECRET_ACCESS_KEY": "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY",
				"LOG_FORMAT":            "json",
				"CACHE_TTL":             "30s",
			},
		}},
	}
	for _, o := range objs {
		if _, _, err := c.do(ctx, http.MethodPost, o.path, "application/json", o.obj, nil, http.StatusConflict); err != nil {
			return fmt.Errorf("failed to create benchmark objects: %w", err)
		}
	}
	// The controller-manager creates the namespace's default ServiceAccount
	// within seconds; the webhook may read it (imagePullSecrets).
	deadline := time.Now().Add(30 * time.Second)
	for {
		code, _, err := c.do(ctx, http.MethodGet, "/api/v1/namespaces/"+ns+"/serviceaccounts/default", "", nil, nil, http.StatusNotFound)
		if err != nil {
			return fmt.Errorf("failed to read default ServiceAccount: %w", err)
		}
		if code == http.StatusOK {
			return nil
		}
		if time.Now().After(deadline) {
			return fmt.Errorf("failed to find ServiceAccount %s/default after 30s", ns)
		}
		time.Sleep(200 * time.Millisecond)
	}
}

// CreateSAToken asks the apiserver for a token of ServiceAccount ns/sa (a
// TokenRequest, valid for an hour), for vault-env's kubernetes auth.
func CreateSAToken(ctx context.Context, server, caFile, tokenFile, ns, sa string) (string, error) {
	tok, err := os.ReadFile(tokenFile)
	if err != nil {
		return "", fmt.Errorf("failed to read kube token file: %w", err)
	}
	c, err := newRESTClient(server, caFile, http.Header{"Authorization": {"Bearer " + strings.TrimSpace(string(tok))}})
	if err != nil {
		return "", err
	}
	var out struct {
		Status struct {
			Token string `json:"token"`
		} `json:"status"`
	}
	req := map[string]any{"apiVersion": "authentication.k8s.io/v1", "kind": "TokenRequest", "spec": map[string]any{"expirationSeconds": 3600}}
	if _, _, err := c.do(ctx, http.MethodPost, "/api/v1/namespaces/"+ns+"/serviceaccounts/"+sa+"/token", "application/json", req, &out); err != nil {
		return "", fmt.Errorf("failed to create ServiceAccount token: %w", err)
	}
	return out.Status.Token, nil
}

// PushImage uploads a one-layer image to a plain-HTTP registry at
// regAddr (host:port) as repo:tag, with the given entrypoint and cmd, and
// returns its reference "regAddr/repo:tag".
func PushImage(ctx context.Context, regAddr, repo, tag string, entrypoint, cmd []string) (string, error) {
	c, err := newRESTClient("http://"+regAddr, "", nil)
	if err != nil {
		return "", err
	}
	layer, diffID, err := tinyLayer()
	if err != nil {
		return "", err
	}
	cfg, _ := json.Marshal(map[string]any{
		"architecture": "amd64", "os": "linux",
		"config": map[string]any{"Entrypoint": entrypoint, "Cmd": cmd, "Env": []string{"PATH=/usr/local/bin:/usr/bin:/bin"}},
		"rootfs": map[string]any{"type": "layers", "diff_ids": []string{diffID}},
	})
	var descs []map[string]any
	for _, b := range []struct {
		data  []byte
		media string
	}{{cfg, "application/vnd.oci.image.config.v1+json"}, {layer, "application/vnd.oci.image.layer.v1.tar+gzip"}} {
		dg := digest(b.data)
		_, h, err := c.do(ctx, http.MethodPost, "/v2/"+repo+"/blobs/uploads/", "", nil, nil)
		if err != nil {
			return "", fmt.Errorf("failed to start blob upload: %w", err)
		}
		loc, err := url.Parse(h.Get("Location"))
		if err != nil {
			return "", fmt.Errorf("failed to parse upload location: %w", err)
		}
		if !loc.IsAbs() {
			loc = (&url.URL{Scheme: "http", Host: regAddr}).ResolveReference(loc)
		}
		q := loc.Query()
		q.Set("digest", dg)
		loc.RawQuery = q.Encode()
		if _, _, err := c.do(ctx, http.MethodPut, loc.String(), "application/octet-stream", b.data, nil); err != nil {
			return "", fmt.Errorf("failed to upload blob: %w", err)
		}
		descs = append(descs, map[string]any{"mediaType": b.media, "digest": dg, "size": len(b.data)})
	}
	man, _ := json.Marshal(map[string]any{
		"schemaVersion": 2, "mediaType": "application/vnd.oci.image.manifest.v1+json",
		"config": descs[0], "layers": descs[1:],
	})
	if _, _, err := c.do(ctx, http.MethodPut, "/v2/"+repo+"/manifests/"+tag, "application/vnd.oci.image.manifest.v1+json", man, nil); err != nil {
		return "", fmt.Errorf("failed to push manifest: %w", err)
	}
	return regAddr + "/" + repo + ":" + tag, nil
}

func digest(b []byte) string {
	s := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(s[:])
}

// tinyLayer returns a gzipped tar with one small file, and its diff ID (the
// digest of the uncompressed tar).
func tinyLayer() ([]byte, string, error) {
	var t bytes.Buffer
	tw := tar.NewWriter(&t)
	data := []byte("#!/bin/sh\necho shop\n")
	if err := tw.WriteHeader(&tar.Header{Name: "usr/local/bin/shop", Mode: 0o755, Size: int64(len(data)), ModTime: time.Unix(0, 0)}); err != nil {
		return nil, "", fmt.Errorf("failed to build layer: %w", err)
	}
	tw.Write(data)
	tw.Close()
	var z bytes.Buffer
	zw := gzip.NewWriter(&z)
	zw.Write(t.Bytes())
	zw.Close()
	return z.Bytes(), digest(t.Bytes()), nil
}
