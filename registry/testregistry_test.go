package registry_test

// Test plumbing: the real Debian docker-registry (distribution 2.8) started
// on a free loopback port, a pusher that uploads images with plain HTTP
// calls, a bearer token server, a counting proxy and a stalling listener.

import (
	"archive/tar"
	"bytes"
	"compress/gzip"
	"context"
	"crypto/ecdsa"
	"crypto/elliptic"
	"crypto/rand"
	"crypto/sha256"
	"crypto/x509"
	"crypto/x509/pkix"
	"encoding/base64"
	"encoding/hex"
	"encoding/json"
	"encoding/pem"
	"fmt"
	"io"
	"math/big"
	"net"
	"net/http"
	"net/http/httptest"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"strings"
	"sync"
	"sync/atomic"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/testcert"
)

// regBinary finds a tool; it skips the test when the tool is absent, unless
// VSW_E2E_REQUIRED=1 (then a missing tool fails the test).
func regBinary(t testing.TB, name string) string {
	t.Helper()
	p, err := exec.LookPath(name)
	if err != nil {
		if os.Getenv("VSW_E2E_REQUIRED") == "1" {
			t.Fatalf("%s not found and VSW_E2E_REQUIRED=1: %v", name, err)
		}
		t.Skipf("%s not installed: %v", name, err)
	}
	return p
}

// regPKI is a private CA and a serving certificate for 127.0.0.1.
type regPKI struct {
	caPEM             []byte
	certFile, keyFile string
}

func newRegPKI(t testing.TB) regPKI {
	t.Helper()
	dir := t.TempDir()
	ca, err := testcert.NewCA("registry test CA")
	if err != nil {
		t.Fatal(err)
	}
	leaf, err := ca.Issue(testcert.Leaf{CommonName: "127.0.0.1", IPs: []net.IP{net.IPv4(127, 0, 0, 1)}})
	if err != nil {
		t.Fatal(err)
	}
	p := regPKI{
		caPEM:    ca.PEM,
		certFile: filepath.Join(dir, "tls.crt"),
		keyFile:  filepath.Join(dir, "tls.key"),
	}
	regWrite(t, p.certFile, leaf.CertPEM)
	regWrite(t, p.keyFile, leaf.KeyPEM)
	return p
}

func regWrite(t testing.TB, path string, data []byte) {
	t.Helper()
	if err := os.WriteFile(path, data, 0o600); err != nil {
		t.Fatal(err)
	}
}

// regOptions choose how a test registry is protected.
type regOptions struct {
	tls      *regPKI
	htpasswd map[string]string // user -> password
	token    *regTokenServer
}

// regServer is one running docker-registry.
type regServer struct {
	addr    string // 127.0.0.1:PORT
	baseURL string // http(s)://127.0.0.1:PORT
	client  *http.Client
	// authorize adds push credentials to a request.
	authorize func(req *http.Request, repo string)
}

// startRegistry runs docker-registry with a config built from opts and
// stops it (by PID) when the test ends.
func startRegistry(t testing.TB, opts regOptions) *regServer {
	t.Helper()
	bin := regBinary(t, "docker-registry")
	dir := t.TempDir()
	var auth string
	s := &regServer{client: &http.Client{Timeout: 10 * time.Second}, authorize: func(*http.Request, string) {}}
	switch {
	case opts.htpasswd != nil:
		htpasswd := regBinary(t, "htpasswd")
		var lines []byte
		for user, pass := range opts.htpasswd {
			out, err := exec.Command(htpasswd, "-Bbn", user, pass).Output()
			if err != nil {
				t.Fatalf("htpasswd: %v", err)
			}
			lines = append(lines, bytes.TrimSpace(out)...)
			lines = append(lines, '\n')
		}
		regWrite(t, filepath.Join(dir, "htpasswd"), lines)
		auth = fmt.Sprintf("auth:\n  htpasswd:\n    realm: test\n    path: %s\n", filepath.Join(dir, "htpasswd"))
		var user, pass string
		for user, pass = range opts.htpasswd {
			break
		}
		s.authorize = func(req *http.Request, _ string) { req.SetBasicAuth(user, pass) }
	case opts.token != nil:
		auth = fmt.Sprintf("auth:\n  token:\n    realm: %s/token\n    service: %s\n    issuer: %s\n    rootcertbundle: %s\n",
			opts.token.url, opts.token.service, opts.token.issuer, opts.token.certFile)
		s.authorize = func(req *http.Request, repo string) {
			req.Header.Set("Authorization", "Bearer "+opts.token.mint(t, "pusher", repo, "pull", "push"))
		}
	}
	scheme := "http"
	var tlsCfg string
	if opts.tls != nil {
		scheme = "https"
		tlsCfg = fmt.Sprintf("  tls:\n    certificate: %s\n    key: %s\n", opts.tls.certFile, opts.tls.keyFile)
		pool := x509.NewCertPool()
		pool.AppendCertsFromPEM(opts.tls.caPEM)
		tr := http.DefaultTransport.(*http.Transport).Clone()
		tr.TLSClientConfig.RootCAs = pool
		s.client.Transport = tr
	}

	for attempt := 0; ; attempt++ {
		s.addr = regFreeAddr(t)
		s.baseURL = scheme + "://" + s.addr
		cfg := fmt.Sprintf("version: 0.1\nlog:\n  level: warn\n  accesslog:\n    disabled: true\nstorage:\n  filesystem:\n    rootdirectory: %s\n  delete:\n    enabled: true\nhttp:\n  addr: %s\n%s%s",
			filepath.Join(dir, "data"), s.addr, tlsCfg, auth)
		cfgFile := filepath.Join(dir, "config.yml")
		regWrite(t, cfgFile, []byte(cfg))
		logFile, err := os.Create(filepath.Join(dir, fmt.Sprintf("registry-%d.log", attempt)))
		if err != nil {
			t.Fatal(err)
		}
		cmd := exec.Command(bin, "serve", cfgFile)
		cmd.Stdout, cmd.Stderr = logFile, logFile
		if err := cmd.Start(); err != nil {
			t.Fatalf("failed to start docker-registry: %v", err)
		}
		exited := make(chan struct{})
		go func() { cmd.Wait(); close(exited) }()
		stop := func() {
			cmd.Process.Kill()
			<-exited
			logFile.Close()
		}
		if regWaitReady(s, exited) {
			t.Cleanup(stop)
			return s
		}
		stop()
		log, _ := os.ReadFile(logFile.Name())
		if attempt == 2 {
			t.Fatalf("docker-registry did not become ready on %s:\n%s", s.addr, log)
		}
	}
}

// regFreeAddr asks the OS for a free loopback port. docker-registry cannot
// take a listener, so there is a small window for a race; startRegistry
// retries when the registry does not come up.
func regFreeAddr(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	addr := l.Addr().String()
	l.Close()
	return addr
}

// regWaitReady polls GET /v2/ until the registry answers (200 or 401).
func regWaitReady(s *regServer, exited <-chan struct{}) bool {
	deadline := time.Now().Add(20 * time.Second)
	for time.Now().Before(deadline) {
		select {
		case <-exited:
			return false
		default:
		}
		resp, err := s.client.Get(s.baseURL + "/v2/")
		if err == nil {
			resp.Body.Close()
			if resp.StatusCode == http.StatusOK || resp.StatusCode == http.StatusUnauthorized {
				return true
			}
		}
		time.Sleep(50 * time.Millisecond)
	}
	return false
}

// regImage describes an image to push.
type regImage struct {
	Entrypoint, Cmd []string
	OS, Arch        string // default linux/amd64
	Variant         string
	OCI             bool // OCI media types instead of Docker schema 2
}

// regPushed is a pushed manifest.
type regPushed struct {
	Digest    string
	Size      int
	MediaType string
	Platform  map[string]string
}

func regDigest(b []byte) string {
	sum := sha256.Sum256(b)
	return "sha256:" + hex.EncodeToString(sum[:])
}

// emptyLayer is a gzipped tar archive with no entries.
func emptyLayer(t testing.TB) []byte {
	t.Helper()
	var buf bytes.Buffer
	zw := gzip.NewWriter(&buf)
	tw := tar.NewWriter(zw)
	if err := tw.Close(); err != nil {
		t.Fatal(err)
	}
	if err := zw.Close(); err != nil {
		t.Fatal(err)
	}
	return buf.Bytes()
}

// pushBlob uploads data with POST /blobs/uploads/ then PUT ?digest=.
func (s *regServer) pushBlob(t testing.TB, repo string, data []byte) string {
	t.Helper()
	digest := regDigest(data)
	req, _ := http.NewRequest(http.MethodPost, s.baseURL+"/v2/"+repo+"/blobs/uploads/", nil)
	s.authorize(req, repo)
	resp := s.do(t, req, http.StatusAccepted)
	loc, err := url.Parse(resp.Header.Get("Location"))
	if err != nil {
		t.Fatal(err)
	}
	base, _ := url.Parse(s.baseURL)
	u := base.ResolveReference(loc)
	q := u.Query()
	q.Set("digest", digest)
	u.RawQuery = q.Encode()
	req, _ = http.NewRequest(http.MethodPut, u.String(), bytes.NewReader(data))
	req.Header.Set("Content-Type", "application/octet-stream")
	s.authorize(req, repo)
	s.do(t, req, http.StatusCreated)
	return digest
}

// pushManifest PUTs a manifest under ref (a tag or its digest).
func (s *regServer) pushManifest(t testing.TB, repo, ref, mediaType string, body []byte) regPushed {
	t.Helper()
	req, _ := http.NewRequest(http.MethodPut, s.baseURL+"/v2/"+repo+"/manifests/"+ref, bytes.NewReader(body))
	req.Header.Set("Content-Type", mediaType)
	s.authorize(req, repo)
	s.do(t, req, http.StatusCreated)
	return regPushed{Digest: regDigest(body), Size: len(body), MediaType: mediaType}
}

// pushImage pushes a config blob, an empty layer and a manifest; tag may be
// empty (pushed by digest only).
func (s *regServer) pushImage(t testing.TB, repo, tag string, img regImage) regPushed {
	t.Helper()
	if img.OS == "" {
		img.OS, img.Arch = "linux", "amd64"
	}
	layer := emptyLayer(t)
	config, err := json.Marshal(map[string]any{
		"architecture": img.Arch,
		"os":           img.OS,
		"variant":      img.Variant,
		"config":       map[string]any{"Entrypoint": img.Entrypoint, "Cmd": img.Cmd, "Env": []string{"PATH=/usr/bin:/bin"}},
		"rootfs":       map[string]any{"type": "layers", "diff_ids": []string{regDigest(make([]byte, 1024))}},
	})
	if err != nil {
		t.Fatal(err)
	}
	mt, cmt, lmt := "application/vnd.docker.distribution.manifest.v2+json", "application/vnd.docker.container.image.v1+json", "application/vnd.docker.image.rootfs.diff.tar.gzip"
	if img.OCI {
		mt, cmt, lmt = "application/vnd.oci.image.manifest.v1+json", "application/vnd.oci.image.config.v1+json", "application/vnd.oci.image.layer.v1.tar+gzip"
	}
	manifest, _ := json.Marshal(map[string]any{
		"schemaVersion": 2,
		"mediaType":     mt,
		"config":        map[string]any{"mediaType": cmt, "size": len(config), "digest": s.pushBlob(t, repo, config)},
		"layers":        []any{map[string]any{"mediaType": lmt, "size": len(layer), "digest": s.pushBlob(t, repo, layer)}},
	})
	ref := tag
	if ref == "" {
		ref = regDigest(manifest)
	}
	p := s.pushManifest(t, repo, ref, mt, manifest)
	p.Platform = map[string]string{"os": img.OS, "architecture": img.Arch}
	if img.Variant != "" {
		p.Platform["variant"] = img.Variant
	}
	return p
}

// pushIndex pushes an OCI index (or Docker manifest list) of pushed manifests.
func (s *regServer) pushIndex(t testing.TB, repo, tag string, oci bool, entries ...regPushed) regPushed {
	t.Helper()
	mt := "application/vnd.docker.distribution.manifest.list.v2+json"
	if oci {
		mt = "application/vnd.oci.image.index.v1+json"
	}
	var list []any
	for _, e := range entries {
		list = append(list, map[string]any{"mediaType": e.MediaType, "digest": e.Digest, "size": e.Size, "platform": e.Platform})
	}
	body, _ := json.Marshal(map[string]any{"schemaVersion": 2, "mediaType": mt, "manifests": list})
	return s.pushManifest(t, repo, tag, mt, body)
}

func (s *regServer) do(t testing.TB, req *http.Request, want int) *http.Response {
	t.Helper()
	resp, err := s.client.Do(req)
	if err != nil {
		t.Fatalf("%s %s: %v", req.Method, req.URL.Path, err)
	}
	body, _ := io.ReadAll(resp.Body)
	resp.Body.Close()
	if resp.StatusCode != want {
		t.Fatalf("%s %s: HTTP %d, want %d: %s", req.Method, req.URL.Path, resp.StatusCode, want, body)
	}
	return resp
}

// regTokenServer implements the distribution token flow for the test: it
// checks basic credentials and signs ES256 JWTs whose x5c header carries a
// certificate the registry trusts (auth.token.rootcertbundle).
type regTokenServer struct {
	url, service, issuer string
	certFile             string
	key                  *ecdsa.PrivateKey
	certDER              []byte
	user, password       string
	requests             atomic.Int64
}

func startTokenServer(t testing.TB, user, password string) *regTokenServer {
	t.Helper()
	key, err := ecdsa.GenerateKey(elliptic.P256(), rand.Reader)
	if err != nil {
		t.Fatal(err)
	}
	tmpl := &x509.Certificate{
		SerialNumber: big.NewInt(3),
		Subject:      pkix.Name{CommonName: "token signer"},
		NotBefore:    time.Now().Add(-time.Hour),
		NotAfter:     time.Now().Add(24 * time.Hour),
		KeyUsage:     x509.KeyUsageDigitalSignature,
	}
	der, err := x509.CreateCertificate(rand.Reader, tmpl, tmpl, &key.PublicKey, key)
	if err != nil {
		t.Fatal(err)
	}
	ts := &regTokenServer{
		service: "test-registry", issuer: "test-issuer",
		certFile: filepath.Join(t.TempDir(), "token-signer.crt"),
		key:      key, certDER: der, user: user, password: password,
	}
	regWrite(t, ts.certFile, pem.EncodeToMemory(&pem.Block{Type: "CERTIFICATE", Bytes: der}))
	srv := httptest.NewServer(http.HandlerFunc(ts.serveToken))
	t.Cleanup(srv.Close)
	ts.url = srv.URL
	return ts
}

func (ts *regTokenServer) serveToken(w http.ResponseWriter, r *http.Request) {
	ts.requests.Add(1)
	user, pass, ok := r.BasicAuth()
	if !ok || user != ts.user || pass != ts.password || r.URL.Query().Get("service") != ts.service {
		http.Error(w, `{"details":"access denied"}`, http.StatusUnauthorized)
		return
	}
	// scope = repository:NAME:ACTIONS
	parts := strings.Split(r.URL.Query().Get("scope"), ":")
	if len(parts) != 3 || parts[0] != "repository" {
		http.Error(w, "bad scope", http.StatusBadRequest)
		return
	}
	tok, err := ts.sign(user, parts[1], strings.Split(parts[2], ","))
	if err != nil {
		http.Error(w, err.Error(), http.StatusInternalServerError)
		return
	}
	w.Header().Set("Content-Type", "application/json")
	json.NewEncoder(w).Encode(map[string]any{"token": tok, "access_token": tok, "expires_in": 300, "issued_at": time.Now().UTC().Format(time.RFC3339)})
}

func (ts *regTokenServer) mint(t testing.TB, subject, repo string, actions ...string) string {
	t.Helper()
	tok, err := ts.sign(subject, repo, actions)
	if err != nil {
		t.Fatal(err)
	}
	return tok
}

func (ts *regTokenServer) sign(subject, repo string, actions []string) (string, error) {
	enc := base64.RawURLEncoding
	header, _ := json.Marshal(map[string]any{"typ": "JWT", "alg": "ES256", "x5c": []string{base64.StdEncoding.EncodeToString(ts.certDER)}})
	jti := make([]byte, 12)
	rand.Read(jti)
	now := time.Now().Unix()
	claims, _ := json.Marshal(map[string]any{
		"iss": ts.issuer, "sub": subject, "aud": ts.service,
		"exp": now + 300, "nbf": now - 10, "iat": now, "jti": hex.EncodeToString(jti),
		"access": []any{map[string]any{"type": "repository", "name": repo, "actions": actions}},
	})
	signing := enc.EncodeToString(header) + "." + enc.EncodeToString(claims)
	sum := sha256.Sum256([]byte(signing))
	r, s, err := ecdsa.Sign(rand.Reader, ts.key, sum[:])
	if err != nil {
		return "", err
	}
	sig := make([]byte, 64)
	r.FillBytes(sig[:32])
	s.FillBytes(sig[32:])
	return signing + "." + enc.EncodeToString(sig), nil
}

// regCounter is a reverse proxy in front of a registry that counts what
// reaches it: requests by kind and accepted connections.
type regCounter struct {
	addr   string
	conns  atomic.Int64
	mu     sync.Mutex
	byKind map[string]int // "manifests", "blobs", "other"
}

func startCounter(t testing.TB, target *regServer) *regCounter {
	t.Helper()
	u, _ := url.Parse(target.baseURL)
	proxy := httputil.NewSingleHostReverseProxy(u)
	c := &regCounter{byKind: map[string]int{}}
	srv := httptest.NewUnstartedServer(http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		kind := "other"
		switch {
		case strings.Contains(r.URL.Path, "/manifests/"):
			kind = "manifests"
		case strings.Contains(r.URL.Path, "/blobs/"):
			kind = "blobs"
		}
		c.mu.Lock()
		c.byKind[kind]++
		c.mu.Unlock()
		proxy.ServeHTTP(w, r)
	}))
	srv.Config.ConnState = func(_ net.Conn, st http.ConnState) {
		if st == http.StateNew {
			c.conns.Add(1)
		}
	}
	srv.Start()
	t.Cleanup(srv.Close)
	c.addr = srv.Listener.Addr().String()
	return c
}

// take returns the counts so far and resets them.
func (c *regCounter) take() (counts map[string]int, conns int64) {
	c.mu.Lock()
	defer c.mu.Unlock()
	counts, c.byKind = c.byKind, map[string]int{}
	return counts, c.conns.Swap(0)
}

// startStall listens on a free port, accepts connections and never answers.
func startStall(t testing.TB) string {
	t.Helper()
	l, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	var mu sync.Mutex
	var conns []net.Conn
	done := make(chan struct{})
	go func() {
		defer close(done)
		for {
			c, err := l.Accept()
			if err != nil {
				return
			}
			mu.Lock()
			conns = append(conns, c)
			mu.Unlock()
		}
	}()
	t.Cleanup(func() {
		l.Close()
		<-done
		mu.Lock()
		defer mu.Unlock()
		for _, c := range conns {
			c.Close()
		}
	})
	return l.Addr().String()
}

// regDockerConfigJSON builds a .dockerconfigjson payload.
func regDockerConfigJSON(host, user, pass string) []byte {
	b, _ := json.Marshal(map[string]any{"auths": map[string]any{
		host: map[string]string{"auth": base64.StdEncoding.EncodeToString([]byte(user + ":" + pass))},
	}})
	return b
}

// regDockercfg builds a legacy .dockercfg payload.
func regDockercfg(host, user, pass string) []byte {
	b, _ := json.Marshal(map[string]any{host: map[string]string{"username": user, "password": pass, "email": "x@example.com"}})
	return b
}

func regCtx(t testing.TB) context.Context {
	ctx, cancel := context.WithTimeout(t.Context(), 30*time.Second)
	t.Cleanup(cancel)
	return ctx
}
