// Command run is the driver behind `make bench` (scripts/bench builds the
// binaries and calls it). It measures the webhook against the floor server
// and vault-env against a plain GET, then writes results.md and results.json
// into --out.
//
// Flags:
//
//	--out DIR            where results and logs go (default out/bench)
//	--webhook BIN        webhook binary (cmd/vault-secrets-webhook)
//	--floor BIN          floor binary (e2e/cmd/floor)
//	--vault-env BIN      vault-env binary (cmd/vault-env), stripped
//	--childclock BIN     e2e/bench/childclock
//	--vaultget BIN       e2e/bench/vaultget
//	--vault BIN          Vault server binary for the private dev server
//	--time BIN           GNU time, for peak RSS (default /usr/bin/time)
//	--sandbox DIR        sandbox directory (default: $VSW_SANDBOX); without
//	                     one the envfrom/registry scenarios and the
//	                     kubernetes-auth case are n/a
//	--only LIST          webhook,vaultenv (default both)
//	--levels LIST        concurrency levels (default 1,8,64)
//	--reps N             measured runs per level and server (default 5)
//	--duration D         length of one measured run (default 1.5s)
//	--warmup D           unmeasured load per level and server (default 500ms)
//	--start-reps N       process starts for start-to-first-connection (default 7)
//	--ve-reps N          runs per vault-env case (default 15)
//	--webhook-arg ARG    extra webhook flag (repeatable)
//	--webhook-env K=V    extra webhook environment variable, e.g. GOGC=200 (repeatable)
//	--scenarios LIST     webhook scenarios (default refs,norefs,envfrom,registry)
//	--micro FILE         `go test -bench` output to include
//	--from-json FILE     only re-render --out/results.md from a results.json
//	--git-describe S, --go-version S, --command S   facts for the report
//
// Environment: VSW_SANDBOX (see --sandbox).
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"os/signal"
	"path/filepath"
	"runtime"
	"strconv"
	"strings"
	"syscall"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
)

type multi []string

func (m *multi) String() string     { return strings.Join(*m, " ") }
func (m *multi) Set(s string) error { *m = append(*m, s); return nil }

func main() {
	ctx, stop := signal.NotifyContext(context.Background(), os.Interrupt, syscall.SIGTERM)
	defer stop()
	if err := run(ctx, os.Args, os.Getenv); err != nil {
		fmt.Fprintln(os.Stderr, "bench:", err)
		os.Exit(1)
	}
}

func logf(format string, args ...any) {
	fmt.Fprintf(os.Stderr, "bench %s: %s\n", time.Now().UTC().Format("15:04:05"), fmt.Sprintf(format, args...))
}

func run(ctx context.Context, args []string, getenv func(string) string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	out := fs.String("out", "out/bench", "results directory")
	webhook := fs.String("webhook", "", "webhook binary")
	floor := fs.String("floor", "", "floor binary")
	vaultEnv := fs.String("vault-env", "", "vault-env binary")
	child := fs.String("childclock", "", "childclock binary")
	vaultget := fs.String("vaultget", "", "vaultget binary")
	vault := fs.String("vault", "", "vault server binary")
	timeBin := fs.String("time", "/usr/bin/time", "GNU time, for peak RSS (apt package time)")
	sbDir := fs.String("sandbox", getenv("VSW_SANDBOX"), "sandbox directory")
	only := fs.String("only", "webhook,vaultenv", "what to measure")
	levels := fs.String("levels", "1,8,64", "concurrency levels")
	reps := fs.Int("reps", 5, "runs per level and server")
	dur := fs.Duration("duration", 1500*time.Millisecond, "measured run length")
	warm := fs.Duration("warmup", 500*time.Millisecond, "warm-up per level and server")
	startReps := fs.Int("start-reps", 7, "process starts")
	veReps := fs.Int("ve-reps", 15, "runs per vault-env case")
	micro := fs.String("micro", "", "go test -bench output")
	describe := fs.String("git-describe", "", "git describe")
	gover := fs.String("go-version", runtime.Version(), "go version")
	command := fs.String("command", "make bench", "command for the report")
	var extra, extraEnv multi
	fs.Var(&extra, "webhook-arg", "extra webhook flag")
	fs.Var(&extraEnv, "webhook-env", "extra webhook environment variable KEY=VALUE")
	scenarios := fs.String("scenarios", "refs,norefs,envfrom,registry", "webhook scenarios")
	fromJSON := fs.String("from-json", "", "re-render results.md from this results.json and exit")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *fromJSON != "" {
		return render(*fromJSON, *out)
	}
	if *reps < 1 || *veReps < 1 || *dur <= 0 || *dur > time.Minute {
		return errors.New("--reps and --ve-reps must be ≥ 1, --duration within (0, 1m]")
	}
	var ls []int
	for _, s := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 || c > 1024 {
			return fmt.Errorf("invalid --levels entry %q", s)
		}
		ls = append(ls, c)
	}
	if err := os.MkdirAll(*out, 0o755); err != nil {
		return fmt.Errorf("failed to create --out: %w", err)
	}
	began := time.Now()
	rep := &bench.Report{Command: *command, Levels: ls, Machine: machine(*describe, *gover)}
	var sb *sandbox.Env
	if *sbDir != "" {
		e, err := sandbox.Load(*sbDir)
		if err != nil {
			return err
		}
		sb = e
	}
	want := func(s string) bool { return strings.Contains(","+*only+",", ","+s+",") }
	if want("webhook") {
		if st, err := os.Stat(*webhook); err == nil {
			rep.WebhookBinSize = st.Size()
		}
		wr, err := runWebhook(ctx, *out, *webhook, *floor, sb, extra, extraEnv, strings.Split(*scenarios, ","), ls, *reps, *dur, *warm, *startReps)
		if err != nil {
			logf("webhook: %v", err)
			rep.WebhookErr = err.Error()
		}
		rep.Webhook = wr
	}
	if want("vaultenv") {
		vr, err := runVaultEnv(ctx, *out, *vaultEnv, *child, *vaultget, *vault, *timeBin, sb, *veReps)
		if err != nil {
			logf("vault-env: %v", err)
			rep.VaultEnvErr = err.Error()
		}
		rep.VaultEnv = vr
	}
	if *micro != "" {
		b, err := os.ReadFile(*micro)
		if err != nil {
			return fmt.Errorf("failed to read --micro: %w", err)
		}
		rep.MicroRaw = string(b)
		rep.Micro = bench.ParseGoBench(string(b))
	}
	rep.Machine.LoadAfter = bench.LoadAvg("?")
	rep.Duration = time.Since(began)
	if err := os.WriteFile(filepath.Join(*out, "results.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("failed to write results: %w", err)
	}
	j, _ := json.MarshalIndent(rep, "", "  ")
	if err := os.WriteFile(filepath.Join(*out, "results.json"), j, 0o644); err != nil {
		return fmt.Errorf("failed to write results: %w", err)
	}
	logf("wrote %s", filepath.Join(*out, "results.md"))
	return nil
}

func runWebhook(ctx context.Context, out, webhook, floor string, sb *sandbox.Env, extra, extraEnv, scenarios []string, ls []int, reps int, dur, warm time.Duration, startReps int) (*bench.WebhookResult, error) {
	if webhook == "" || floor == "" {
		return nil, errors.New("--webhook and --floor are required")
	}
	dir := filepath.Join(out, "webhook")
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create work dir: %w", err)
	}
	cfg := bench.WebhookConfig{
		WebhookBin: webhook, FloorBin: floor, Dir: dir,
		Setup:     bench.ScenarioSetup{Namespace: "vsw-bench"},
		Scenarios: scenarios, WebhookEnv: extraEnv,
		NA:     map[string]string{},
		Levels: ls, Reps: reps, Duration: dur, Warmup: warm, StartReps: startReps, Logf: logf,
	}
	if sb == nil {
		cfg.NA[bench.ScenarioEnvFrom] = "no sandbox (VSW_SANDBOX unset): the lookups need the sandbox apiserver"
		cfg.NA[bench.ScenarioRegistry] = "no sandbox (VSW_SANDBOX unset): the lookup needs the sandbox registry"
		// Without an apiserver the webhook only starts in least-privilege
		// mode (it reads no Secrets/ConfigMaps).
		cfg.WebhookArgs = append(cfg.WebhookArgs, "--least-privilege", "--namespace", "vsw-bench-system")
	} else {
		cfg.WebhookArgs = append(cfg.WebhookArgs,
			"--kube-server", sb.KubeServer, "--kube-ca-file", sb.KubeCAFile, "--kube-token-file", sb.KubeTokenFile,
			"--vault-addr", sb.VaultAddr, "--namespace", "vsw-bench-system")
		if err := bench.KubeSetup(ctx, sb.KubeServer, sb.KubeCAFile, sb.KubeTokenFile, cfg.Setup.Namespace); err != nil {
			cfg.NA[bench.ScenarioEnvFrom] = err.Error()
		}
		if sb.RegistryAddr == "" {
			cfg.NA[bench.ScenarioRegistry] = "the sandbox has no registry"
		} else if img, err := bench.PushImage(ctx, sb.RegistryAddr, "vsw-bench/shop-api", "1.4.2", []string{"/usr/local/bin/shop"}, []string{"serve", "--port=8080"}); err != nil {
			cfg.NA[bench.ScenarioRegistry] = err.Error()
		} else {
			cfg.Setup.RegistryImage = img
			cfg.WebhookArgs = append(cfg.WebhookArgs, "--registry-insecure-hosts", sb.RegistryAddr)
		}
	}
	cfg.WebhookArgs = append(cfg.WebhookArgs, extra...)
	return bench.RunWebhook(ctx, cfg)
}

func runVaultEnv(ctx context.Context, out, vaultEnv, child, vaultget, vault, timeBin string, sb *sandbox.Env, reps int) (*bench.VaultEnvResult, error) {
	if vaultEnv == "" || child == "" || vaultget == "" || vault == "" {
		return nil, errors.New("--vault-env, --childclock, --vaultget and --vault are required")
	}
	dir, err := filepath.Abs(filepath.Join(out, "vaultenv"))
	if err != nil {
		return nil, fmt.Errorf("failed to resolve work dir: %w", err)
	}
	if err := os.MkdirAll(dir, 0o755); err != nil {
		return nil, fmt.Errorf("failed to create work dir: %w", err)
	}
	cfg := bench.VaultEnvConfig{VaultEnvBin: vaultEnv, ChildBin: child, VaultGetBin: vaultget, VaultBin: vault, Dir: dir, Reps: reps, Logf: logf}
	if _, err := os.Stat(timeBin); err == nil {
		cfg.TimeBin = timeBin
	} else {
		logf("no GNU time at %s (apt-get install time): peak RSS not measured", timeBin)
	}
	if sb != nil && sb.VaultAddr != "" {
		tok, err := bench.CreateSAToken(ctx, sb.KubeServer, sb.KubeCAFile, sb.KubeTokenFile, "default", "default")
		if err != nil {
			logf("kubernetes-auth case skipped: %v", err)
		} else {
			jwt := filepath.Join(dir, "sa-token")
			if err := os.WriteFile(jwt, []byte(tok), 0o600); err != nil {
				return nil, fmt.Errorf("failed to write ServiceAccount token: %w", err)
			}
			cfg.K8s = &bench.K8sAuthTarget{VaultAddr: sb.VaultAddr, RootToken: sb.VaultToken, Role: "default", Mount: "kubernetes", JWTFile: jwt}
		}
	}
	return bench.RunVaultEnv(ctx, cfg)
}

func machine(describe, gover string) bench.Machine {
	m := bench.Machine{
		Date: time.Now().UTC().Format(time.RFC3339), GitDescribe: describe, GoVersion: gover,
		NProc: runtime.NumCPU(), LoadBefore: bench.LoadAvg("?"),
	}
	if b, err := os.ReadFile("/proc/cpuinfo"); err == nil {
		for _, l := range strings.Split(string(b), "\n") {
			if k, v, ok := strings.Cut(l, ":"); ok && strings.TrimSpace(k) == "model name" {
				m.CPU = strings.TrimSpace(v)
				break
			}
		}
	}
	if b, err := os.ReadFile("/proc/sys/kernel/osrelease"); err == nil {
		m.Kernel = strings.TrimSpace(string(b))
	}
	return m
}

// render rewrites results.md in out from a results.json, so a change of the
// report's layout does not need a new run.
func render(jsonFile, out string) error {
	b, err := os.ReadFile(jsonFile)
	if err != nil {
		return fmt.Errorf("failed to read --from-json: %w", err)
	}
	var rep bench.Report
	if err := json.Unmarshal(b, &rep); err != nil {
		return fmt.Errorf("failed to parse --from-json %s: %w", jsonFile, err)
	}
	if err := os.WriteFile(filepath.Join(out, "results.md"), []byte(rep.Markdown()), 0o644); err != nil {
		return fmt.Errorf("failed to write results: %w", err)
	}
	return nil
}
