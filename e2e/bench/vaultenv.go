package bench

import (
	"bytes"
	"context"
	"fmt"
	"net/http"
	"net/http/httputil"
	"net/url"
	"os"
	"os/exec"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"time"
)

// VaultEnvConfig is the vault-env benchmark.
type VaultEnvConfig struct {
	VaultEnvBin, ChildBin, VaultGetBin string
	VaultBin                           string // starts a private dev server
	Dir                                string
	Reps                               int
	// TimeBin is GNU time (/usr/bin/time), used for peak RSS: see peakRSS.
	TimeBin string
	// K8s, when set, adds the kubernetes-auth case against the sandbox.
	K8s  *K8sAuthTarget
	Logf func(format string, args ...any)
}

// K8sAuthTarget is a Vault with kubernetes auth (the sandbox's).
type K8sAuthTarget struct {
	VaultAddr, RootToken string
	Role, Mount          string
	JWTFile              string
}

// vault-env's budget (issue 14), which the report checks: exec-to-child
// with 3 references over 2 paths at most the plain-GET floor of the same
// paths, measured in the same run, plus VaultEnvOverFloor; peak RSS and the
// stripped binary at most VaultEnvMaxRSS and VaultEnvMaxBinary. The floor
// is relative on purpose: absolute milliseconds follow the machine's load.
const (
	VaultEnvOverFloor       = 4 * time.Millisecond
	VaultEnvMaxRSS    int64 = 12 << 20
	VaultEnvMaxBinary int64 = 12 << 20
)

// budgetCases are the token-auth cases (refs, paths) held to
// VaultEnvOverFloor: the budget's own (3 over 2) and the smaller ones.
var budgetCases = [][2]int{{1, 1}, {3, 1}, {3, 2}}

// VaultEnvCase is one measured configuration.
type VaultEnvCase struct {
	Name        string
	Refs, Paths int
	Auth        string // "token" or "kubernetes"
	Floor       bool   // vaultget instead of vault-env
	Null        bool   // the child alone: process start-up, nothing else
	ExecToChild time.Duration
	P90         time.Duration
	MaxRSS      int64 // bytes: peak RSS of the process and what it exec'd (see peakRSS)
	Reads       int   // GETs of secret data that reached Vault (counting proxy), -1 unknown
	Requests    int   // all requests that reached Vault
	Err         string
}

// CopyFigures are the `vault-env copy` init container's figures.
type CopyFigures struct {
	Duration   time.Duration
	MaxRSS     int64
	BinarySize int64 // what lands in the in-memory emptyDir (counts against the pod's memory)
	Err        string
}

// VaultEnvResult is the whole vault-env benchmark.
type VaultEnvResult struct {
	Cases      []VaultEnvCase
	Copy       CopyFigures
	BinarySize int64
}

// vaultServer is a private Vault dev server.
type vaultServer struct {
	addr string
	cmd  *exec.Cmd
	done chan struct{}
}

const benchRootToken = "vsw-bench-root"

func startVault(ctx context.Context, bin, dir string) (*vaultServer, error) {
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	lf, err := os.Create(filepath.Join(dir, "vault.log"))
	if err != nil {
		return nil, fmt.Errorf("failed to create vault log: %w", err)
	}
	defer lf.Close()
	cmd := exec.Command(bin, "server", "-dev", "-dev-root-token-id="+benchRootToken, "-dev-listen-address="+addr)
	// HOME: the dev server writes a token helper file there; keep it ours.
	cmd.Env = []string{"HOME=" + dir, "PATH=" + os.Getenv("PATH"), "VAULT_DISABLE_MLOCK=true"}
	cmd.Stdout, cmd.Stderr = lf, lf
	if err := cmd.Start(); err != nil {
		return nil, fmt.Errorf("failed to start vault: %w", err)
	}
	v := &vaultServer{addr: "http://" + addr, cmd: cmd, done: make(chan struct{})}
	go func() { cmd.Wait(); close(v.done) }()
	c, _ := newRESTClient(v.addr, "", nil)
	deadline := time.Now().Add(60 * time.Second)
	for {
		if _, _, err := c.do(ctx, http.MethodGet, "/v1/sys/health", "", nil, nil); err == nil {
			return v, nil
		}
		select {
		case <-v.done:
			return nil, fmt.Errorf("failed to start vault: it exited (see %s)", filepath.Join(dir, "vault.log"))
		default:
		}
		if time.Now().After(deadline) {
			v.stop()
			return nil, fmt.Errorf("failed to start vault: not healthy after 60s")
		}
		time.Sleep(50 * time.Millisecond)
	}
}

func (v *vaultServer) stop() {
	v.cmd.Process.Signal(syscall.SIGTERM)
	select {
	case <-v.done:
	case <-time.After(10 * time.Second):
		v.cmd.Process.Kill()
		<-v.done
	}
}

// writeSecrets stores the benchmark's secrets in KV v2 at secret/: one path
// with 100 keys (bench/one) and ten paths with 10 keys each (bench/ten/pN).
func writeSecrets(ctx context.Context, addr, token, prefix string) error {
	c, err := newRESTClient(addr, "", http.Header{"X-Vault-Token": {token}})
	if err != nil {
		return err
	}
	put := func(path string, n int) error {
		data := map[string]string{}
		for k := 0; k < n; k++ {
			data[fmt.Sprintf("k%02d", k)] = fmt.Sprintf("value-%s-%02d-0123456789abcdef", strings.ReplaceAll(path, "/", "-"), k)
		}
		_, _, err := c.do(ctx, http.MethodPost, "/v1/secret/data/"+prefix+path, "application/json", map[string]any{"data": data}, nil)
		return err
	}
	if err := put("one", 100); err != nil {
		return fmt.Errorf("failed to write benchmark secrets: %w", err)
	}
	for p := 0; p < 10; p++ {
		if err := put(fmt.Sprintf("ten/p%d", p), 10); err != nil {
			return fmt.Errorf("failed to write benchmark secrets: %w", err)
		}
	}
	return nil
}

// refEnv returns refs SECRET_i variables spread over paths paths.
func refEnv(prefix string, refs, paths int) []string {
	var env []string
	for i := 0; i < refs; i++ {
		var ref string
		if paths <= 1 {
			ref = fmt.Sprintf("vault:secret/data/%sone#k%02d", prefix, i)
		} else {
			ref = fmt.Sprintf("vault:secret/data/%sten/p%d#k%02d", prefix, i%paths, i/paths)
		}
		env = append(env, fmt.Sprintf("SECRET_%d=%s", i, ref))
	}
	return env
}

// floorPaths are the paths vaultget reads for a case.
func floorPaths(prefix string, paths int) []string {
	if paths <= 1 {
		return []string{"secret/data/" + prefix + "one"}
	}
	var ps []string
	for p := 0; p < paths; p++ {
		ps = append(ps, fmt.Sprintf("secret/data/%sten/p%d", prefix, p))
	}
	return ps
}

// plainEnv is what a container's environment looks like besides references.
var plainEnv = []string{
	"PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
	"HOSTNAME=shop-api-6c8f9d7b5d-x2k4p", "HOME=/root",
	"LOG_LEVEL=info", "HTTP_PORT=8080", "METRICS_PORT=9090", "DB_HOST=postgres.shop.svc.cluster.local",
	"DB_NAME=shop", "REDIS_URL=redis://redis.shop.svc.cluster.local:6379/0", "FEATURE_FLAGS=checkout-v2,fast-search",
	"KUBERNETES_SERVICE_HOST=10.96.0.1", "KUBERNETES_SERVICE_PORT=443",
}

// runOnce starts argv with env, reads the child's clock line, and returns the
// time from just before the start to the child's clock and the numbers the
// child reported (SECRET_* variables, unresolved references).
func runOnce(argv, env []string) (time.Duration, [2]int, error) {
	var out, errb bytes.Buffer
	cmd := exec.Command(argv[0], argv[1:]...)
	cmd.Env = env
	cmd.Stdout, cmd.Stderr = &out, &errb
	t0 := time.Now()
	err := cmd.Run()
	if err != nil {
		return 0, [2]int{}, fmt.Errorf("failed to run %s: %w: %.300s", filepath.Base(argv[0]), err, errb.String())
	}
	f := strings.Fields(out.String())
	if len(f) < 1 {
		return 0, [2]int{}, fmt.Errorf("failed to run %s: no clock line: %.300s", filepath.Base(argv[0]), errb.String())
	}
	ns, err := strconv.ParseInt(f[0], 10, 64)
	if err != nil {
		return 0, [2]int{}, fmt.Errorf("failed to parse clock line %q: %w", out.String(), err)
	}
	var n [2]int
	if len(f) >= 3 {
		n[0], _ = strconv.Atoi(f[1])
		n[1], _ = strconv.Atoi(f[2])
	}
	return time.Duration(ns - t0.UnixNano()), n, nil
}

// peakRSS runs argv under GNU time and returns the peak RSS it reports
// (ru_maxrss of its child). Why not our own wait4: Go starts children with
// vfork semantics (CLONE_VM), and Linux carries the forking process's RSS
// high-water mark across execve into the child's ru_maxrss, so a child of
// this (large) Go process would report at least our own RSS. GNU time is a
// small C program: what it forks carries ~1-2 MiB at most. The high-water mark
// also survives vault-env's own execve of the application, so the figure is
// max(vault-env, application); the application here is tiny.
func peakRSS(timeBin string, argv, env []string) (int64, error) {
	f, err := os.CreateTemp("", "vsw-bench-time-")
	if err != nil {
		return 0, fmt.Errorf("failed to create time output: %w", err)
	}
	f.Close()
	defer os.Remove(f.Name())
	var errb bytes.Buffer
	cmd := exec.Command(timeBin, append([]string{"-f", "%M", "-o", f.Name()}, argv...)...)
	cmd.Env = env
	cmd.Stderr = &errb
	if err := cmd.Run(); err != nil {
		return 0, fmt.Errorf("failed to run %s under time: %w: %.300s", filepath.Base(argv[0]), err, errb.String())
	}
	b, err := os.ReadFile(f.Name())
	if err != nil {
		return 0, fmt.Errorf("failed to read time output: %w", err)
	}
	lines := strings.Fields(string(b))
	if len(lines) == 0 {
		return 0, fmt.Errorf("failed to parse time output %q", b)
	}
	kb, err := strconv.ParseInt(lines[len(lines)-1], 10, 64)
	if err != nil {
		return 0, fmt.Errorf("failed to parse time output %q: %w", b, err)
	}
	return kb << 10, nil
}

// countingProxy forwards to Vault and counts the requests it forwarded.
type countingProxy struct {
	srv   *http.Server
	addr  string
	mu    sync.Mutex
	reads int
	all   int
}

func startCountingProxy(target string) (*countingProxy, error) {
	u, err := url.Parse(target)
	if err != nil {
		return nil, fmt.Errorf("failed to parse vault address: %w", err)
	}
	addr, err := FreeAddr()
	if err != nil {
		return nil, err
	}
	p := &countingProxy{addr: "http://" + addr}
	rp := httputil.NewSingleHostReverseProxy(u)
	p.srv = &http.Server{Addr: addr, ReadHeaderTimeout: 5 * time.Second, Handler: http.HandlerFunc(func(w http.ResponseWriter, r *http.Request) {
		p.mu.Lock()
		p.all++
		if r.Method == http.MethodGet && strings.HasPrefix(r.URL.Path, "/v1/secret/data/") {
			p.reads++
		}
		p.mu.Unlock()
		rp.ServeHTTP(w, r)
	})}
	ln, err := netListen(addr)
	if err != nil {
		return nil, err
	}
	go p.srv.Serve(ln)
	return p, nil
}

func (p *countingProxy) take() (reads, all int) {
	p.mu.Lock()
	defer p.mu.Unlock()
	reads, all = p.reads, p.all
	p.reads, p.all = 0, 0
	return reads, all
}

// vaultEnvCase is a case's definition before measurement.
type vaultEnvCase struct {
	VaultEnvCase
	argv []string
	env  []string
}

// RunVaultEnv measures vault-env against a private Vault dev server (token
// auth, so kubernetes auth stays out of the number) and, with cfg.K8s, the
// kubernetes-auth case against the sandbox Vault.
func RunVaultEnv(ctx context.Context, cfg VaultEnvConfig) (*VaultEnvResult, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	res := &VaultEnvResult{}
	if st, err := os.Stat(cfg.VaultEnvBin); err == nil {
		res.BinarySize = st.Size()
	}
	v, err := startVault(ctx, cfg.VaultBin, cfg.Dir)
	if err != nil {
		return nil, err
	}
	defer v.stop()
	const prefix = "bench/"
	if err := writeSecrets(ctx, v.addr, benchRootToken, prefix); err != nil {
		return nil, err
	}
	tokenEnv := func(addr string) []string {
		return slices.Concat(plainEnv, []string{"VAULT_ADDR=" + addr, "VAULT_TOKEN=" + benchRootToken})
	}
	var cases []*vaultEnvCase
	add := func(c VaultEnvCase, argv, env []string) {
		cases = append(cases, &vaultEnvCase{VaultEnvCase: c, argv: argv, env: env})
	}
	add(VaultEnvCase{Name: "child alone (process start-up)", Null: true, Reads: -1}, []string{cfg.ChildBin}, plainEnv)
	for _, rp := range [][2]int{{0, 0}, {1, 1}, {3, 1}, {3, 2}, {10, 1}, {100, 1}, {10, 10}, {100, 10}} {
		name := fmt.Sprintf("vault-env, %d refs over %d path(s)", rp[0], rp[1])
		if rp[0] == 0 {
			name = "vault-env, no refs"
		}
		add(VaultEnvCase{Name: name, Refs: rp[0], Paths: rp[1], Auth: "token"},
			[]string{cfg.VaultEnvBin, cfg.ChildBin}, slices.Concat(tokenEnv(v.addr), refEnv(prefix, rp[0], rp[1])))
	}
	for _, n := range []int{1, 2, 10} {
		add(VaultEnvCase{Name: fmt.Sprintf("floor: plain GET of %d path(s)", n), Paths: n, Auth: "token", Floor: true},
			append([]string{cfg.VaultGetBin}, floorPaths(prefix, n)...), tokenEnv(v.addr))
	}
	if k := cfg.K8s; k != nil {
		if err := writeSecrets(ctx, k.VaultAddr, k.RootToken, "vsw-bench/"); err != nil {
			return nil, err
		}
		kenv := slices.Concat(plainEnv, []string{"VAULT_ADDR=" + k.VaultAddr, "VAULT_ROLE=" + k.Role, "VAULT_PATH=" + k.Mount,
			"VAULT_AUTH_METHOD=kubernetes", "KUBERNETES_SERVICE_ACCOUNT_TOKEN=" + k.JWTFile})
		add(VaultEnvCase{Name: "vault-env, 3 refs over 1 path, kubernetes auth (sandbox Vault)", Refs: 3, Paths: 1, Auth: "kubernetes"},
			[]string{cfg.VaultEnvBin, cfg.ChildBin}, slices.Concat(kenv, refEnv("vsw-bench/", 3, 1)))
		add(VaultEnvCase{Name: "floor: kubernetes login + GET of 1 path (sandbox Vault)", Paths: 1, Auth: "kubernetes", Floor: true},
			append([]string{cfg.VaultGetBin}, floorPaths("vsw-bench/", 1)...), slices.Concat(kenv, []string{"VAULTGET_K8S_ROLE=" + k.Role}))
	}
	// Read counts: each vault-env case once through a counting proxy.
	for _, c := range cases {
		if c.Null {
			continue
		}
		target := v.addr
		if c.Auth == "kubernetes" {
			target = cfg.K8s.VaultAddr
		}
		p, err := startCountingProxy(target)
		if err != nil {
			return nil, err
		}
		env := append([]string{}, c.env...)
		for i, kv := range env {
			if strings.HasPrefix(kv, "VAULT_ADDR=") {
				env[i] = "VAULT_ADDR=" + p.addr
			}
		}
		_, _, err = runOnce(c.argv, env)
		p.srv.Close()
		c.Reads, c.Requests = p.take()
		if err != nil {
			c.Err = err.Error()
			cfg.Logf("%s: %v", c.Name, err)
		}
	}
	// Peak RSS: three runs per case under GNU time.
	rss := make([][]float64, len(cases))
	for rep := 0; rep < 3 && cfg.TimeBin != ""; rep++ {
		for i, c := range cases {
			if c.Err != "" {
				continue
			}
			r, err := peakRSS(cfg.TimeBin, c.argv, c.env)
			if err != nil {
				c.Err = err.Error()
				continue
			}
			rss[i] = append(rss[i], float64(r))
		}
	}
	// Timing: repetitions interleave the cases so drifting load hits all.
	times := make([][]time.Duration, len(cases))
	for rep := 0; rep < cfg.Reps; rep++ {
		for i, c := range cases {
			if c.Err != "" {
				continue
			}
			d, n, err := runOnce(c.argv, c.env)
			if err == nil && !c.Floor && !c.Null && (n[0] != c.Refs || n[1] != 0) {
				err = fmt.Errorf("child got %d SECRET_* variables and %d unresolved references, want %d and 0", n[0], n[1], c.Refs)
			}
			if err != nil {
				c.Err = err.Error()
				cfg.Logf("%s: %v", c.Name, err)
				continue
			}
			times[i] = append(times[i], d)
		}
	}
	for i, c := range cases {
		if len(times[i]) > 0 {
			c.ExecToChild = MedianDuration(times[i])
			s := append([]time.Duration{}, times[i]...)
			slices.Sort(s)
			c.P90 = Percentile(s, 0.9)
		}
		c.MaxRSS = int64(Median(rss[i]))
		cfg.Logf("%s: %s (p90 %s), peak RSS %.1f MiB, %d secret reads, %d requests", c.Name, c.ExecToChild, c.P90, float64(c.MaxRSS)/(1<<20), c.Reads, c.Requests)
		res.Cases = append(res.Cases, c.VaultEnvCase)
	}
	res.Copy = measureCopy(cfg)
	return res, nil
}

// measureCopy runs the init container's command, `vault-env copy DIR`.
func measureCopy(cfg VaultEnvConfig) CopyFigures {
	var f CopyFigures
	var ds []time.Duration
	var rs []float64
	for rep := 0; rep < cfg.Reps; rep++ {
		dir, err := os.MkdirTemp(cfg.Dir, "copy-")
		if err != nil {
			f.Err = err.Error()
			return f
		}
		var errb bytes.Buffer
		cmd := exec.Command(cfg.VaultEnvBin, "copy", dir+"/")
		cmd.Env = []string{"PATH=/usr/bin:/bin"}
		cmd.Stderr = &errb
		t0 := time.Now()
		err = cmd.Run()
		d := time.Since(t0)
		if err != nil {
			f.Err = fmt.Sprintf("vault-env copy: %v: %.300s", err, errb.String())
			return f
		}
		if cfg.TimeBin != "" {
			dir2, err := os.MkdirTemp(cfg.Dir, "copy-")
			if err != nil {
				f.Err = err.Error()
				return f
			}
			r, err := peakRSS(cfg.TimeBin, []string{cfg.VaultEnvBin, "copy", dir2 + "/"}, cmd.Env)
			os.RemoveAll(dir2)
			if err != nil {
				f.Err = err.Error()
				return f
			}
			rs = append(rs, float64(r))
		}
		st, err := os.Stat(filepath.Join(dir, "vault-env"))
		if err != nil {
			f.Err = fmt.Sprintf("vault-env copy left no vault-env in %s: %v", dir, err)
			return f
		}
		f.BinarySize = st.Size()
		ds = append(ds, d)
		os.RemoveAll(dir)
	}
	f.Duration = MedianDuration(ds)
	f.MaxRSS = int64(Median(rs))
	cfg.Logf("copy: %s, peak RSS %.1f MiB, %.1f MiB copied", f.Duration, float64(f.MaxRSS)/(1<<20), float64(f.BinarySize)/(1<<20))
	return f
}
