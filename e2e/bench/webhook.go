package bench

import (
	"context"
	"crypto/tls"
	"encoding/json"
	"fmt"
	"os"
	"path/filepath"
	"time"
)

// WebhookConfig is one webhook benchmark: the webhook binary against the
// floor binary, same certificate, same load, same machine, alternating runs.
type WebhookConfig struct {
	WebhookBin, FloorBin string
	Dir                  string   // work dir: certificates, logs
	WebhookArgs          []string // extra flags (kube, vault, registry)
	WebhookEnv           []string // extra environment (e.g. GOGC=200), added to ours
	Setup                ScenarioSetup
	Scenarios            []string
	NA                   map[string]string // scenario -> why it cannot run here
	Levels               []int             // concurrency levels
	Reps                 int               // measured runs per level and server
	Duration, Warmup     time.Duration
	StartReps            int // process starts for the start-to-first-connection figure
	Logf                 func(format string, args ...any)
}

// LevelFigures are the medians over the repetitions at one concurrency.
type LevelFigures struct {
	Concurrency  int
	RPS          float64
	P50, P99     time.Duration
	CPUPerReview time.Duration // process CPU over the run / reviews answered
	Reviews      int           // answered, all repetitions
	Errors       int           // all repetitions
	FirstError   string
}

// ServerFigures are one server's figures in one scenario.
type ServerFigures struct {
	Levels  []LevelFigures
	IdleRSS int64 // VmRSS after start, before any review
	PeakRSS int64 // VmHWM at the end of the scenario
	Threads int   // at the end of the scenario
}

// ScenarioResult is the webhook and the floor in one scenario.
type ScenarioResult struct {
	Name        string
	NA          string // non-empty: not measured, and why
	ReviewBytes int
	PatchBytes  int // size of the decoded JSONPatch in the webhook's answer
	Ours, Floor ServerFigures
}

// WebhookResult is the whole webhook benchmark.
type WebhookResult struct {
	OursReady, FloorReady []time.Duration // start to first accepted TLS connection
	Scenarios             []ScenarioResult
}

// RunWebhook runs every scenario of cfg.
func RunWebhook(ctx context.Context, cfg WebhookConfig) (*WebhookResult, error) {
	if cfg.Logf == nil {
		cfg.Logf = func(string, ...any) {}
	}
	certs, err := WriteServingCert(cfg.Dir)
	if err != nil {
		return nil, err
	}
	tc, err := ClientTLS(certs.CA)
	if err != nil {
		return nil, err
	}
	res := &WebhookResult{}
	start := func(name string) (*Server, error) {
		addr, err := FreeAddr()
		if err != nil {
			return nil, err
		}
		args := []string{"--listen-address", addr, "--tls-cert-file", certs.Cert, "--tls-key-file", certs.Key}
		bin := cfg.FloorBin
		var env []string
		if name == "webhook" {
			bin = cfg.WebhookBin
			args = append(args, cfg.WebhookArgs...)
			if len(cfg.WebhookEnv) > 0 {
				env = append(os.Environ(), cfg.WebhookEnv...)
			}
		}
		return StartServer(ctx, name, bin, args, env, addr, tc, filepath.Join(cfg.Dir, name+".log"), 20*time.Second)
	}
	// Start-up: alternate so both see the same machine load.
	for i := 0; i < cfg.StartReps; i++ {
		for _, name := range []string{"webhook", "floor"} {
			s, err := start(name)
			if err != nil {
				return nil, err
			}
			s.Stop()
			if name == "webhook" {
				res.OursReady = append(res.OursReady, s.Ready)
			} else {
				res.FloorReady = append(res.FloorReady, s.Ready)
			}
		}
	}
	cfg.Logf("start to first connection: webhook %s, floor %s (medians of %d)", MedianDuration(res.OursReady), MedianDuration(res.FloorReady), cfg.StartReps)
	for _, sc := range cfg.Scenarios {
		r, err := runScenario(ctx, cfg, sc, start, tc)
		if err != nil {
			return nil, err
		}
		res.Scenarios = append(res.Scenarios, r)
	}
	return res, nil
}

func runScenario(ctx context.Context, cfg WebhookConfig, sc string, start func(string) (*Server, error), tc *tls.Config) (ScenarioResult, error) {
	r := ScenarioResult{Name: sc}
	if why := cfg.NA[sc]; why != "" {
		r.NA = why
		cfg.Logf("%s: n/a: %s", sc, why)
		return r, nil
	}
	body, err := ScenarioReview(sc, cfg.Setup)
	if err != nil {
		return r, err
	}
	r.ReviewBytes = len(body)
	ours, err := start("webhook")
	if err != nil {
		return r, err
	}
	defer ours.Stop()
	floor, err := start("floor")
	if err != nil {
		return r, err
	}
	defer floor.Stop()
	srvs, figs := [2]*Server{ours, floor}, [2]*ServerFigures{&r.Ours, &r.Floor}
	mems := func(set func(*ServerFigures, Mem)) error {
		for i, srv := range srvs {
			m, err := ProcMem(srv.PID())
			if err != nil {
				return err
			}
			set(figs[i], m)
		}
		return nil
	}
	time.Sleep(300 * time.Millisecond) // let start-up garbage settle before the idle figure
	if err := mems(func(f *ServerFigures, m Mem) { f.IdleRSS = m.RSS }); err != nil {
		return r, err
	}
	// One review first: the scenario must do what it claims (a patch for
	// pods with references, none without), else its numbers mean nothing.
	patchLen, why, err := checkAnswer(ctx, ours.Addr, body, sc != ScenarioNoRefs, tc)
	if err != nil {
		return r, err
	}
	if why != "" {
		r.NA = why
		cfg.Logf("%s: n/a: %s", sc, why)
		return r, nil
	}
	r.PatchBytes = patchLen
	for _, c := range cfg.Levels {
		lo, err := measureLevel(ctx, cfg, srvs, body, c, tc)
		if err != nil {
			return r, err
		}
		r.Ours.Levels = append(r.Ours.Levels, lo[0])
		r.Floor.Levels = append(r.Floor.Levels, lo[1])
		cfg.Logf("%s c=%d: webhook %.0f/s p50 %s p99 %s cpu %s/review errors %d | floor %.0f/s p50 %s p99 %s cpu %s/review",
			sc, c, lo[0].RPS, lo[0].P50, lo[0].P99, lo[0].CPUPerReview, lo[0].Errors, lo[1].RPS, lo[1].P50, lo[1].P99, lo[1].CPUPerReview)
	}
	err = mems(func(f *ServerFigures, m Mem) { f.PeakRSS, f.Threads = m.HWM, m.Threads })
	return r, err // r after mems: the order of a return's operands is unspecified
}

// measureLevel measures the webhook and the floor at concurrency c: both get
// a warm-up on their own connections, then cfg.Reps runs each, alternating
// webhook and floor so drifting machine load hits both alike. It returns the
// medians (index 0: webhook, 1: floor).
func measureLevel(ctx context.Context, cfg WebhookConfig, srvs [2]*Server, body []byte, c int, tc *tls.Config) ([2]LevelFigures, error) {
	var out [2]LevelFigures
	var loaders [2]*Loader
	defer func() {
		for _, l := range loaders {
			if l != nil {
				l.Close()
			}
		}
	}()
	for i, s := range srvs {
		l, err := NewLoader(ctx, LoadConfig{Addr: s.Addr, Path: "/pods?timeout=10s", Body: body, TLS: tc, Concurrency: c, CheckUID: i == 0})
		if err != nil {
			return out, err
		}
		loaders[i] = l
		l.Run(ctx, 0, cfg.Warmup)
	}
	var rps, p50, p99, cpu [2][]float64
	for rep := 0; rep < cfg.Reps; rep++ {
		for i, s := range srvs {
			c0, err := ProcCPU(s.PID())
			if err != nil {
				return out, err
			}
			r := loaders[i].Run(ctx, 0, cfg.Duration)
			c1, err := ProcCPU(s.PID())
			if err != nil {
				return out, err
			}
			rps[i] = append(rps[i], r.RPS)
			p50[i] = append(p50[i], float64(r.P50))
			p99[i] = append(p99[i], float64(r.P99))
			if r.Requests > 0 {
				cpu[i] = append(cpu[i], float64(c1-c0)/float64(r.Requests))
			}
			out[i].Reviews += r.Requests
			out[i].Errors += r.Errors
			if out[i].FirstError == "" {
				out[i].FirstError = r.FirstError
			}
		}
	}
	for i := range out {
		out[i].Concurrency = c
		out[i].RPS = Median(rps[i])
		out[i].P50 = time.Duration(Median(p50[i]))
		out[i].P99 = time.Duration(Median(p99[i]))
		out[i].CPUPerReview = time.Duration(Median(cpu[i]))
	}
	return out, nil
}

// checkAnswer sends one review and reports the decoded patch length, or why
// the answer does not fit the scenario (wantPatch: a patch is expected).
func checkAnswer(ctx context.Context, addr string, body []byte, wantPatch bool, tc *tls.Config) (int, string, error) {
	code, b, err := Probe(ctx, addr, "/pods?timeout=10s", body, tc)
	if err != nil {
		return 0, "", err
	}
	if code != 200 {
		return 0, fmt.Sprintf("webhook answered HTTP %d: %.200s", code, b), nil
	}
	var rev struct {
		Response *struct {
			UID     string `json:"uid"`
			Allowed bool   `json:"allowed"`
			Patch   []byte `json:"patch"`
			Result  *struct {
				Code    int    `json:"code"`
				Message string `json:"message"`
			} `json:"status"`
		} `json:"response"`
	}
	if err := json.Unmarshal(b, &rev); err != nil || rev.Response == nil {
		return 0, fmt.Sprintf("webhook answer is not an AdmissionReview: %.200s", b), nil
	}
	rp := rev.Response
	if rp.UID != PlaceholderUID {
		return 0, fmt.Sprintf("webhook answer has uid %q, want the request's", rp.UID), nil
	}
	if !rp.Allowed {
		msg := ""
		if rp.Result != nil {
			msg = rp.Result.Message
		}
		return 0, fmt.Sprintf("webhook denied the pod: %.200s", msg), nil
	}
	if wantPatch && len(rp.Patch) == 0 {
		return 0, "webhook allowed the pod without a patch (no mutation: feature not there yet?)", nil
	}
	if !wantPatch && len(rp.Patch) != 0 {
		return 0, fmt.Sprintf("webhook patched a pod without references: %.200s", rp.Patch), nil
	}
	return len(rp.Patch), "", nil
}
