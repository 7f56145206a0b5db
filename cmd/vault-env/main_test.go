package main

import (
	"bufio"
	"bytes"
	"encoding/json"
	"fmt"
	"io"
	"os"
	"os/exec"
	"os/signal"
	"path/filepath"
	"slices"
	"strconv"
	"strings"
	"sync"
	"syscall"
	"testing"
	"time"

	"github.com/hashicorp/vault/api"
)

// The test binary doubles as vault-env (VSW_TEST_AS_VAULT_ENV=1) and as the
// application it starts (argv[1] == "testapp"), so the process model is
// tested with real processes, execve and signals.
func TestMain(m *testing.M) {
	if len(os.Args) > 2 && os.Args[1] == "testapp" {
		os.Exit(testapp(os.Args[2]))
	}
	if os.Getenv("VSW_TEST_AS_VAULT_ENV") == "1" {
		main()
		return
	}
	os.Exit(m.Run())
}

// testapp is the application under vault-env:
//
//	env     print argv and the sorted environment, exit VSW_TESTAPP_EXIT (0)
//	wait    print "READY <pid>", report signals; SIGTERM exits 42 (or is
//	        ignored with VSW_TESTAPP_IGNORE_TERM=1)
//	orphan  like wait, but first leave an orphan that exits at once
func testapp(mode string) int {
	switch mode {
	case "env":
		fmt.Printf("ARGV=%q\n", os.Args)
		env := os.Environ()
		slices.Sort(env)
		for _, kv := range env {
			fmt.Println(kv)
		}
		code, _ := strconv.Atoi(os.Getenv("VSW_TESTAPP_EXIT"))
		return code
	case "vaultread":
		// An application that uses what vault-env gave it (VAULT_TOKEN=
		// vault:login): vault/api configured from its own environment.
		c, err := api.NewClient(api.DefaultConfig())
		if err != nil {
			fmt.Println("ERROR", err)
			return 3
		}
		s, err := c.Logical().Read(os.Args[3])
		if err != nil || s == nil {
			fmt.Println("ERROR", err)
			return 3
		}
		data, _ := s.Data["data"].(map[string]any)
		fmt.Printf("VAULTREAD=%v\n", data[os.Args[4]])
		return 0
	case "wait", "orphan":
		sigs := make(chan os.Signal, 8)
		signal.Notify(sigs, syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGUSR2, syscall.SIGTERM, syscall.SIGINT)
		if mode == "orphan" {
			// sh exits at once; its background sleep is re-parented to PID 1.
			if err := exec.Command("/bin/sh", "-c", "sleep 0.2 &").Run(); err != nil {
				fmt.Println("ERROR", err)
			}
		}
		fmt.Printf("READY %d\n", os.Getpid())
		for s := range sigs {
			fmt.Printf("SIGNAL %s\n", s)
			if s == syscall.SIGTERM && os.Getenv("VSW_TESTAPP_IGNORE_TERM") != "1" {
				return 42
			}
		}
	}
	return 2
}

// proc is a running vault-env under test with its output lines.
type proc struct {
	cmd   *exec.Cmd
	mu    sync.Mutex
	lines []string
	done  chan struct{}
	err   error
}

// vaultEnv is the environment that makes the test binary act as vault-env,
// plus PATH.
func vaultEnvBase() []string {
	// A generous per-request timeout: the shared test machine can be very
	// loaded, and these tests are about behaviour, not latency. Later
	// definitions of the same variable lose (the first one wins).
	return []string{"VSW_TEST_AS_VAULT_ENV=1", "PATH=/usr/local/bin:/usr/bin:/bin", "VAULT_CLIENT_TIMEOUT=60s"}
}

func self(t *testing.T) string {
	t.Helper()
	p, err := os.Executable()
	if err != nil {
		t.Fatal(err)
	}
	return p
}

// start runs vault-env with args and env; stdout and stderr are collected.
func start(t *testing.T, env []string, args ...string) *proc {
	t.Helper()
	return startWith(t, nil, env, args...)
}

func startWith(t *testing.T, attr *syscall.SysProcAttr, env []string, args ...string) *proc {
	t.Helper()
	cmd := exec.Command(self(t), args...)
	cmd.Env = env
	cmd.SysProcAttr = attr
	r, w := io.Pipe()
	cmd.Stdout, cmd.Stderr = w, w
	p := &proc{cmd: cmd, done: make(chan struct{})}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	read := make(chan struct{})
	go func() {
		defer close(read)
		sc := bufio.NewScanner(r)
		for sc.Scan() {
			p.mu.Lock()
			p.lines = append(p.lines, sc.Text())
			p.mu.Unlock()
		}
		_, _ = io.Copy(io.Discard, r) // past a line too long for the scanner
	}()
	go func() {
		p.err = cmd.Wait()
		w.Close()
		<-read // every line is in p.lines before done
		close(p.done)
	}()
	t.Cleanup(func() {
		select {
		case <-p.done:
		default:
			_ = cmd.Process.Kill()
			<-p.done
		}
	})
	return p
}

// waitLine polls for an output line with prefix and returns it.
func (p *proc) waitLine(t *testing.T, prefix string, timeout time.Duration) string {
	t.Helper()
	deadline := time.Now().Add(timeout)
	for time.Now().Before(deadline) {
		p.mu.Lock()
		for _, l := range p.lines {
			if strings.HasPrefix(l, prefix) {
				p.mu.Unlock()
				return l
			}
		}
		p.mu.Unlock()
		time.Sleep(10 * time.Millisecond)
	}
	t.Fatalf("no line %q within %s; output:\n%s", prefix, timeout, p.output())
	return ""
}

// wait waits for the process to exit and returns its exit code.
func (p *proc) wait(t *testing.T, timeout time.Duration) int {
	t.Helper()
	select {
	case <-p.done:
	case <-time.After(timeout):
		t.Fatalf("vault-env did not exit within %s; output:\n%s", timeout, p.output())
	}
	return p.cmd.ProcessState.ExitCode()
}

func (p *proc) output() string {
	p.mu.Lock()
	defer p.mu.Unlock()
	return strings.Join(p.lines, "\n")
}

func TestCopy(t *testing.T) {
	dir := t.TempDir()
	p := start(t, vaultEnvBase(), "copy", dir)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.output())
	}
	st, err := os.Stat(filepath.Join(dir, "vault-env"))
	if err != nil {
		t.Fatal(err)
	}
	if st.Mode().Perm() != 0o555 {
		t.Errorf("mode %v, want 0555", st.Mode().Perm())
	}
	want, _ := os.ReadFile(self(t))
	got, _ := os.ReadFile(filepath.Join(dir, "vault-env"))
	if !bytes.Equal(got, want) {
		t.Error("copy differs from the executable")
	}
	entries, _ := os.ReadDir(dir)
	if len(entries) != 1 {
		t.Errorf("dir holds %d entries, want only vault-env", len(entries))
	}
	// Copying again over a read-only file works (rename replaces it).
	p = start(t, vaultEnvBase(), "copy", dir)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("second copy: exit %d: %s", code, p.output())
	}
}

func TestCopyDirs(t *testing.T) {
	dir := t.TempDir()
	p := start(t, append(vaultEnvBase(), CopyDirsEnv+"=tls, token,secrets/app"), "copy", dir)
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.output())
	}
	for _, d := range []string{"tls", "token", "secrets/app"} {
		if st, err := os.Stat(filepath.Join(dir, d)); err != nil || !st.IsDir() {
			t.Errorf("no directory %s: %v", d, err)
		}
	}
	for _, bad := range []string{"../escape", "/abs"} {
		p := start(t, append(vaultEnvBase(), CopyDirsEnv+"="+bad), "copy", t.TempDir())
		if code := p.wait(t, 30*time.Second); code == 0 {
			t.Errorf("%s=%s: exit 0, want a refusal", CopyDirsEnv, bad)
		}
	}
	if _, err := os.Stat(filepath.Join(filepath.Dir(dir), "escape")); err == nil {
		t.Error("a directory was created outside the copy directory")
	}
}

func TestExecWithoutReferences(t *testing.T) {
	env := append(vaultEnvBase(), "PLAIN=a=b", "VAULT_ADDR=http://127.0.0.1:1", "VAULT_ROLE=r", "VAULT_OTHER=x")
	p := start(t, env, self(t), "testapp", "env")
	if code := p.wait(t, 30*time.Second); code != 0 {
		t.Fatalf("exit %d: %s", code, p.output())
	}
	out := p.output()
	for _, want := range []string{"PLAIN=a=b", "VAULT_OTHER=x", `"testapp" "env"`} {
		if !strings.Contains(out, want) {
			t.Errorf("output lacks %q:\n%s", want, out)
		}
	}
	for _, not := range []string{"VAULT_ADDR=", "VAULT_ROLE="} {
		if strings.Contains(out, not) {
			t.Errorf("output has consumed setting %q:\n%s", not, out)
		}
	}
}

func TestExecRefusesWorkingDirectoryMatch(t *testing.T) {
	dir := t.TempDir()
	app := filepath.Join(dir, "myapp")
	if err := os.WriteFile(app, []byte("#!/bin/sh\necho STARTED\n"), 0o755); err != nil {
		t.Fatal(err)
	}
	cmd := exec.Command(self(t), "myapp")
	cmd.Dir = dir
	cmd.Env = []string{"VSW_TEST_AS_VAULT_ENV=1", "PATH=."}
	out, err := cmd.CombinedOutput()
	if err == nil || strings.Contains(string(out), "STARTED") {
		t.Fatalf("started ./myapp through PATH=.: %s", out)
	}
	if !strings.Contains(string(out), "working directory") {
		t.Fatalf("error does not explain: %s", out)
	}
}

func TestErrorsBeforeNetwork(t *testing.T) {
	tests := []struct {
		name string
		env  []string
		want string
	}{
		{name: "bad setting", env: []string{"VAULT_SKIP_VERIFY=maybe", "A=vault:secret/data/a#b"}, want: "VAULT_SKIP_VERIFY"},
		{name: "bad reference", env: []string{"SECRET_X=vault:secret/data/a"}, want: "SECRET_X"},
		{name: "missing command", env: []string{"A=vault:secret/data/a#b"}, want: "no-such-command"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			// Vault at a port nobody listens on: reaching it would fail
			// differently (and slowly, after retries).
			env := append(vaultEnvBase(), "VAULT_ADDR=http://127.0.0.1:9", "VAULT_TOKEN=hvs.x")
			env = append(env, tt.env...)
			argv := []string{self(t), "testapp", "env"}
			if tt.name == "missing command" {
				argv = []string{"no-such-command"}
			}
			began := time.Now()
			p := start(t, env, argv...)
			if code := p.wait(t, 10*time.Second); code != 1 {
				t.Fatalf("exit %d, want 1: %s", code, p.output())
			}
			out := p.output()
			if !strings.Contains(out, tt.want) || strings.Contains(out, "ARGV=") {
				t.Fatalf("output %q: want an error naming %s and no app start", out, tt.want)
			}
			if time.Since(began) > 5*time.Second {
				t.Fatalf("took %s: did it wait for Vault?", time.Since(began))
			}
		})
	}
}

func TestDaemonSignalsAndExitCodes(t *testing.T) {
	env := append(vaultEnvBase(), "VAULT_ENV_DAEMON=true")
	p := start(t, env, self(t), "testapp", "wait")
	ready := p.waitLine(t, "READY ", 30*time.Second)
	childPid, _ := strconv.Atoi(strings.TrimPrefix(ready, "READY "))
	if childPid == p.cmd.Process.Pid {
		t.Fatal("daemon mode exec'd instead of starting a child")
	}
	for _, s := range []syscall.Signal{syscall.SIGHUP, syscall.SIGUSR1, syscall.SIGINT} {
		if err := p.cmd.Process.Signal(s); err != nil {
			t.Fatal(err)
		}
		p.waitLine(t, "SIGNAL "+s.String(), 10*time.Second)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 42 {
		t.Fatalf("exit %d, want the child's 42:\n%s", code, p.output())
	}

	// A child killed by a signal: 128+N.
	p = start(t, env, self(t), "testapp", "wait")
	ready = p.waitLine(t, "READY ", 30*time.Second)
	childPid, _ = strconv.Atoi(strings.TrimPrefix(ready, "READY "))
	if err := syscall.Kill(childPid, syscall.SIGKILL); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 128+9 {
		t.Fatalf("exit %d, want 137", code)
	}

	// Plain exit codes pass through.
	p = start(t, append(env, "VSW_TESTAPP_EXIT=3"), self(t), "testapp", "env")
	if code := p.wait(t, 30*time.Second); code != 3 {
		t.Fatalf("exit %d, want 3", code)
	}
}

// TestDaemonReapsOrphansAsPID1 runs vault-env as PID 1 of a new PID
// namespace (needs root) and checks that an orphan re-parented to it does not
// stay a zombie.
func TestDaemonReapsOrphansAsPID1(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root for a PID namespace")
	}
	env := append(vaultEnvBase(), "VAULT_ENV_DAEMON=true")
	p := startWith(t, &syscall.SysProcAttr{Cloneflags: syscall.CLONE_NEWPID}, env, self(t), "testapp", "orphan")
	p.waitLine(t, "READY ", 30*time.Second)
	pid := p.cmd.Process.Pid
	// The orphan (sleep 0.2) exits shortly; poll until no zombie child of
	// vault-env remains and at least one orphan was seen re-parented.
	began := time.Now()
	deadline := began.Add(10 * time.Second)
	for {
		kids := childrenOf(t, pid)
		zombies := 0
		for _, k := range kids {
			if k.state == "Z" {
				zombies++
			}
		}
		// After 500 ms the orphan (sleep 0.2) has exited: it must be gone,
		// not a zombie.
		if zombies == 0 && len(kids) == 1 && time.Since(began) > 500*time.Millisecond {
			break
		}
		if time.Now().After(deadline) {
			t.Fatalf("children of vault-env (PID 1): %+v", kids)
		}
		time.Sleep(20 * time.Millisecond)
	}
	if err := p.cmd.Process.Signal(syscall.SIGTERM); err != nil {
		t.Fatal(err)
	}
	if code := p.wait(t, 10*time.Second); code != 42 {
		t.Fatalf("exit %d, want 42:\n%s", code, p.output())
	}
}

type procInfo struct {
	pid         int
	comm, state string
}

// childrenOf lists processes whose parent is pid, from /proc/*/stat.
func childrenOf(t *testing.T, pid int) []procInfo {
	t.Helper()
	ents, err := os.ReadDir("/proc")
	if err != nil {
		t.Fatal(err)
	}
	var out []procInfo
	for _, e := range ents {
		n, err := strconv.Atoi(e.Name())
		if err != nil {
			continue
		}
		b, err := os.ReadFile(filepath.Join("/proc", e.Name(), "stat"))
		if err != nil {
			continue
		}
		s := string(b)
		open, close := strings.IndexByte(s, '('), strings.LastIndexByte(s, ')')
		if open < 0 || close < 0 {
			continue
		}
		f := strings.Fields(s[close+1:])
		if len(f) < 2 {
			continue
		}
		if ppid, _ := strconv.Atoi(f[1]); ppid == pid {
			out = append(out, procInfo{pid: n, comm: s[open+1 : close], state: f[0]})
		}
	}
	return out
}

// TestDaemonNotDumpable: in daemon mode vault-env (which keeps the token)
// is non-dumpable, so the application's uid cannot read its /proc files;
// the kernel shows that as root ownership. The app itself stays dumpable.
func TestDaemonNotDumpable(t *testing.T) {
	if os.Geteuid() != 0 {
		t.Skip("needs root to run vault-env under another uid")
	}
	dir, err := os.MkdirTemp("", "vault-env-dumpable-")
	if err != nil {
		t.Fatal(err)
	}
	t.Cleanup(func() { os.RemoveAll(dir) })
	if err := os.Chmod(dir, 0o755); err != nil {
		t.Fatal(err)
	}
	bin := filepath.Join(dir, "vault-env.test")
	b, err := os.ReadFile(self(t))
	if err != nil {
		t.Fatal(err)
	}
	if err := os.WriteFile(bin, b, 0o755); err != nil {
		t.Fatal(err)
	}
	const uid = 65534
	cmd := exec.Command(bin, bin, "testapp", "wait")
	cmd.Env = append(vaultEnvBase(), "VAULT_ENV_DAEMON=true")
	cmd.Dir = dir
	cmd.SysProcAttr = &syscall.SysProcAttr{Credential: &syscall.Credential{Uid: uid, Gid: uid}}
	out, err := cmd.StdoutPipe()
	if err != nil {
		t.Fatal(err)
	}
	if err := cmd.Start(); err != nil {
		t.Fatal(err)
	}
	var childPid int
	t.Cleanup(func() {
		// the app outlives a killed vault-env: kill it too (by the PID it
		// reported), or every run leaves one behind
		if childPid > 0 {
			_ = syscall.Kill(childPid, syscall.SIGKILL)
		}
		_ = cmd.Process.Kill()
		_ = cmd.Wait()
	})
	sc := bufio.NewScanner(out)
	for sc.Scan() {
		if s, ok := strings.CutPrefix(sc.Text(), "READY "); ok {
			childPid, _ = strconv.Atoi(s)
			break
		}
	}
	if childPid == 0 {
		t.Fatal("app did not start")
	}
	owner := func(pid int) uint32 {
		st, err := os.Stat("/proc/" + strconv.Itoa(pid) + "/environ")
		if err != nil {
			t.Fatal(err)
		}
		return st.Sys().(*syscall.Stat_t).Uid
	}
	if got := owner(cmd.Process.Pid); got != 0 {
		t.Errorf("vault-env's /proc/PID/environ is owned by uid %d: it is dumpable", got)
	}
	if got := owner(childPid); got != uid {
		t.Errorf("app's /proc/PID/environ is owned by uid %d, want %d", got, uid)
	}
	_ = cmd.Process.Signal(syscall.SIGTERM)
}

func TestJSONLogAndDelay(t *testing.T) {
	env := append(vaultEnvBase(), "VAULT_JSON_LOG=true", "VAULT_ENV_DELAY=300ms", "VAULT_TOKEN=hvs.x", "BAD=vault:secret/data/a")
	p := start(t, env, self(t), "testapp", "env")
	if code := p.wait(t, 10*time.Second); code != 1 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	line := p.waitLine(t, "{", time.Second)
	var rec map[string]any
	if err := json.Unmarshal([]byte(line), &rec); err != nil {
		t.Fatalf("not a JSON log line: %q", line)
	}
	if rec["level"] != "ERROR" || !strings.Contains(fmt.Sprint(rec["error"]), "BAD") {
		t.Fatalf("log record %v", rec)
	}

	// VAULT_ENV_DELAY holds the start of the app.
	env = append(vaultEnvBase(), "VAULT_ENV_DELAY=400ms")
	began := time.Now()
	p = start(t, env, self(t), "testapp", "env")
	if code := p.wait(t, 10*time.Second); code != 0 {
		t.Fatalf("exit %d:\n%s", code, p.output())
	}
	if el := time.Since(began); el < 400*time.Millisecond {
		t.Fatalf("app ran after %s, before VAULT_ENV_DELAY", el)
	}
}
