package bench

import (
	"bufio"
	"fmt"
	"strconv"
	"strings"
	"time"
)

// Machine are the facts every result file starts with.
type Machine struct {
	Date, GitDescribe, GoVersion, Kernel string
	CPU                                  string
	NProc                                int
	LoadBefore, LoadAfter                string // /proc/loadavg: the machine is shared
}

// Report is everything one `make bench` measured.
type Report struct {
	Machine        Machine
	Command        string
	Webhook        *WebhookResult
	WebhookErr     string
	WebhookBinSize int64
	Levels         []int
	VaultEnv       *VaultEnvResult
	VaultEnvErr    string
	Micro          []MicroBench
	MicroRaw       string
	Duration       time.Duration
}

// MicroBench is the median of one `go test -bench` benchmark over -count runs.
type MicroBench struct {
	Pkg, Name                 string
	NsPerOp, BPerOp, AllocsOp float64
	Runs                      int
}

// ParseGoBench reads `go test -bench -benchmem` output (several packages,
// -count N) and returns the median of each benchmark, in first-seen order.
func ParseGoBench(out string) []MicroBench {
	type acc struct {
		pkg, name     string
		ns, b, allocs []float64
	}
	var order []string
	m := map[string]*acc{}
	pkg := ""
	sc := bufio.NewScanner(strings.NewReader(out))
	for sc.Scan() {
		line := sc.Text()
		if p, ok := strings.CutPrefix(line, "pkg: "); ok {
			pkg = strings.TrimSpace(p)
			continue
		}
		f := strings.Fields(line)
		if len(f) < 4 || !strings.HasPrefix(f[0], "Benchmark") {
			continue
		}
		name := f[0]
		if i := strings.LastIndexByte(name, '-'); i > 0 {
			if _, err := strconv.Atoi(name[i+1:]); err == nil {
				name = name[:i]
			}
		}
		key := pkg + " " + name
		a := m[key]
		if a == nil {
			a = &acc{pkg: pkg, name: name}
			m[key] = a
			order = append(order, key)
		}
		for i := 2; i+1 < len(f); i += 2 {
			v, err := strconv.ParseFloat(f[i], 64)
			if err != nil {
				continue
			}
			switch f[i+1] {
			case "ns/op":
				a.ns = append(a.ns, v)
			case "B/op":
				a.b = append(a.b, v)
			case "allocs/op":
				a.allocs = append(a.allocs, v)
			}
		}
	}
	var res []MicroBench
	for _, k := range order {
		a := m[k]
		res = append(res, MicroBench{Pkg: a.pkg, Name: a.name, NsPerOp: Median(a.ns), BPerOp: Median(a.b), AllocsOp: Median(a.allocs), Runs: len(a.ns)})
	}
	return res
}

func ms(d time.Duration) string { return fmt.Sprintf("%.3f ms", float64(d)/1e6) }
func mib(b int64) string        { return fmt.Sprintf("%.1f MiB", float64(b)/(1<<20)) }

func verdict(ok bool) string {
	if ok {
		return "met"
	}
	return "**missed**"
}

// Markdown renders the report.
func (r *Report) Markdown() string {
	var b strings.Builder
	w := func(format string, args ...any) { fmt.Fprintf(&b, format, args...) }
	m := r.Machine
	w("# Benchmark results\n\n")
	w("Produced by `%s` in %s.\n\n", r.Command, r.Duration.Round(time.Second))
	w("| Machine | |\n|---|---|\n")
	w("| date | %s |\n| git describe | %s |\n| Go | %s |\n| kernel | %s |\n| CPU | %s |\n| nproc | %d |\n| load average before / after | %s / %s |\n\n",
		m.Date, m.GitDescribe, m.GoVersion, m.Kernel, m.CPU, m.NProc, m.LoadBefore, m.LoadAfter)
	w("The machine is shared: other engineers' builds and tests ran during this run (see the load\n")
	w("average). Absolute figures are noisy; the ratios to a floor measured in the same run, with\n")
	w("runs alternating between ours and the floor, are the figures to compare. Every figure is a\n")
	w("median over repetitions.\n\n")
	r.webhookMarkdown(&b)
	r.vaultEnvMarkdown(&b)
	r.microMarkdown(&b)
	return b.String()
}

func (r *Report) webhookMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Webhook\n\n")
	if r.WebhookErr != "" {
		w("Not measured: %s\n\n", r.WebhookErr)
		return
	}
	wr := r.Webhook
	if wr == nil {
		w("Not measured.\n\n")
		return
	}
	w("HTTP/1.1 keep-alive over TLS on loopback, one connection per concurrent client, each\n")
	w("sending the next AdmissionReview when the previous answer arrived; every request has a\n")
	w("unique UID and an answer that does not echo it counts as an error. The floor\n")
	w("(`e2e/cmd/floor`) reads the body, decodes nothing and returns a fixed allowed review.\n")
	w("CPU per review is the server process's utime+stime delta over a run divided by its reviews.\n\n")
	ours, floor := MedianDuration(wr.OursReady), MedianDuration(wr.FloorReady)
	w("Start to first accepted TLS connection (median of %d starts): webhook %s, floor %s.\n", len(wr.OursReady), ms(ours), ms(floor))
	if r.WebhookBinSize > 0 {
		w("Webhook binary (stripped): %s.\n", mib(r.WebhookBinSize))
	}
	w("\n")
	for _, s := range wr.Scenarios {
		w("### Scenario `%s`\n\n%s\n\n", s.Name, scenarioTitles[s.Name])
		if s.NA != "" {
			w("n/a: %s\n\n", s.NA)
			continue
		}
		w("Review %d bytes; the webhook's JSONPatch %d bytes.\n\n", s.ReviewBytes, s.PatchBytes)
		w("| conc | webhook reviews/s | floor reviews/s | ratio | webhook p50 | webhook p99 | floor p50 | floor p99 | webhook CPU/review | floor CPU/review | CPU ratio | errors |\n")
		w("|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|\n")
		for i, o := range s.Ours.Levels {
			f := s.Floor.Levels[i]
			w("| %d | %.0f | %.0f | %.2f | %s | %s | %s | %s | %s | %s | %.1f | %d |\n", o.Concurrency, o.RPS, f.RPS, Ratio(o.RPS, f.RPS),
				ms(o.P50), ms(o.P99), ms(f.P50), ms(f.P99), ms(o.CPUPerReview), ms(f.CPUPerReview),
				Ratio(float64(o.CPUPerReview), float64(f.CPUPerReview)), o.Errors)
		}
		w("\nRSS: webhook idle %s, peak %s (%d threads at the end); floor idle %s, peak %s.\n",
			mib(s.Ours.IdleRSS), mib(s.Ours.PeakRSS), s.Ours.Threads, mib(s.Floor.IdleRSS), mib(s.Floor.PeakRSS))
		for _, o := range s.Ours.Levels {
			if o.FirstError != "" {
				w("First error at c=%d: `%.200s`\n", o.Concurrency, o.FirstError)
			}
		}
		w("\n")
	}
	// Budget (issue 17), on the 2-container pod with references: ratios to
	// the floor of the same run at c=8, and the peak over every scenario.
	for _, s := range wr.Scenarios {
		if s.Name != ScenarioRefs || s.NA != "" {
			continue
		}
		w("### Budget (issue 17, scenario `refs`)\n\n| budget | measured | |\n|---|---|---|\n")
		var peak int64
		for _, x := range wr.Scenarios {
			peak = max(peak, x.Ours.PeakRSS)
		}
		for _, o := range s.Ours.Levels {
			if o.Concurrency != 8 {
				continue
			}
			f := floorAt(s, 8)
			cpu, p99 := Ratio(float64(o.CPUPerReview), float64(f.CPUPerReview)), Ratio(float64(o.P99), float64(f.P99))
			w("| CPU per review at c=8 ≤ %.1f× the floor's | %s = %.1f× the floor's %s | %s |\n", WebhookCPUBudget, ms(o.CPUPerReview), cpu, ms(f.CPUPerReview), verdict(cpu <= WebhookCPUBudget))
			w("| p99 at c=8 ≤ %.0f× the floor's | %s = %.1f× the floor's %s | %s |\n", WebhookP99Budget, ms(o.P99), p99, ms(f.P99), verdict(p99 <= WebhookP99Budget))
		}
		w("| peak RSS ≤ %d MiB (all scenarios) | %s | %s |\n", WebhookPeakRSSBudget>>20, mib(peak), verdict(peak <= WebhookPeakRSSBudget))
		w("\nAlso: idle RSS %s; start to first accepted connection %s (floor %s).\n\n", mib(s.Ours.IdleRSS), ms(ours), ms(floor))
	}
}

// Issue 17's webhook budget: ratios to the floor in the same run at c=8,
// and the peak RSS over all scenarios.
const (
	WebhookCPUBudget     = 2.5
	WebhookP99Budget     = 3.0
	WebhookPeakRSSBudget = 32 << 20
)

func floorAt(s ScenarioResult, c int) LevelFigures {
	for _, f := range s.Floor.Levels {
		if f.Concurrency == c {
			return f
		}
	}
	return LevelFigures{}
}

var scenarioTitles = map[string]string{
	ScenarioRefs:     "A Deployment's pod: 2 containers, each with 10 ordinary env variables and 3 `vault:` references, command set.",
	ScenarioNoRefs:   "The same pod without references: the webhook must answer allowed with no patch.",
	ScenarioEnvFrom:  "References only behind `envFrom` (Secret + ConfigMap) and a `secretKeyRef`: the webhook reads them from the sandbox apiserver.",
	ScenarioRegistry: "The `refs` pod without `command`: the webhook needs the image's entrypoint from the sandbox registry (warm cache after the first review).",
}

func (r *Report) vaultEnvMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## vault-env\n\n")
	if r.VaultEnvErr != "" {
		w("Not measured: %s\n\n", r.VaultEnvErr)
		return
	}
	v := r.VaultEnv
	if v == nil {
		w("Not measured.\n\n")
		return
	}
	w("Exec-to-child: the wall clock from just before the benchmark starts `vault-env CHILD` to the\n")
	w("first instruction of the child's `main` (`e2e/bench/childclock`, which also checks it got\n")
	w("every secret and no unresolved reference). Token auth against a private Vault dev server\n")
	w("(same Vault binary as the sandbox), unless the case says kubernetes auth. The floor\n")
	w("(`e2e/bench/vaultget`) is one Go process doing one plain HTTP GET per path (concurrently) and\n")
	w("reading the clock after the last answer. Peak RSS is GNU time's %%M (ru_maxrss) over three\n")
	w("separate runs; the high-water mark survives vault-env's execve, so it is vault-env's peak\n")
	w("unless the application is bigger (the child here is ~1-2 MiB). Secret reads: GETs of\n")
	w("`secret/data/...` that reached Vault through a counting proxy (a separate run).\n\n")
	w("| case | exec-to-child | p90 | − floor | × floor | peak RSS | secret reads | requests to Vault |\n|---|---:|---:|---:|---:|---:|---:|---:|\n")
	for _, c := range v.Cases {
		if c.Err != "" {
			w("| %s | error: %.200s | | | | | | |\n", c.Name, strings.ReplaceAll(c.Err, "|", "/"))
			continue
		}
		over, ratio := "", ""
		if f, ok := v.floorOf(c); ok {
			over = ms(c.ExecToChild - f.ExecToChild)
			ratio = fmt.Sprintf("%.2f", Ratio(float64(c.ExecToChild), float64(f.ExecToChild)))
		}
		reads, reqs := "", ""
		if c.Reads >= 0 && !c.Floor {
			reads, reqs = strconv.Itoa(c.Reads), strconv.Itoa(c.Requests)
		}
		w("| %s | %s | %s | %s | %s | %s | %s | %s |\n", c.Name, ms(c.ExecToChild), ms(c.P90), over, ratio, mib(c.MaxRSS), reads, reqs)
	}
	w("\n− floor and × floor compare with the floor of the same paths (and auth) in this run.\n\n")
	w("`vault-env copy` (the init container): %s, peak RSS %s; it writes %s into the in-memory\n", ms(v.Copy.Duration), mib(v.Copy.MaxRSS), mib(v.Copy.BinarySize))
	w("emptyDir, which is charged to the pod's memory too: RSS + copy = %s (compare with the init\n", mib(v.Copy.MaxRSS+v.Copy.BinarySize))
	w("container's resources in envinject/containers.go).\n")
	if v.Copy.Err != "" {
		w("Copy error: %s\n", v.Copy.Err)
	}
	w("vault-env binary (stripped, `CGO_ENABLED=0 -trimpath -ldflags='-s -w'`): %s.\n\n", mib(v.BinarySize))
	w("### Budget (issue 14)\n\n| target | measured | |\n|---|---|---|\n")
	for _, t := range v.Targets() {
		w("| %s | %s | %s |\n", t.Target, t.Measured, verdict(t.Met))
	}
	w("\n")
}

// Target is one line of a budget: what is required, what was measured, and
// whether it holds.
type Target struct {
	Target, Measured string
	Met              bool
}

// floorOf returns the floor case c is compared with: the plain GET of the
// same number of paths with the same auth. Floors, the child alone and
// vault-env without references have none.
func (v *VaultEnvResult) floorOf(c VaultEnvCase) (VaultEnvCase, bool) {
	if c.Floor || c.Null || c.Refs == 0 {
		return VaultEnvCase{}, false
	}
	for _, f := range v.Cases {
		if f.Floor && f.Err == "" && f.Auth == c.Auth && f.Paths == max(c.Paths, 1) && f.ExecToChild > 0 {
			return f, true
		}
	}
	return VaultEnvCase{}, false
}

// Targets checks vault-env's budget (issue 14: VaultEnvOverFloor on
// budgetCases, VaultEnvMaxRSS, VaultEnvMaxBinary) and that 100 references
// over 10 paths read each path once. A case that failed or has no floor in
// the run is reported as missed.
func (v *VaultEnvResult) Targets() []Target {
	var ts []Target
	for _, rp := range budgetCases {
		t := Target{Target: fmt.Sprintf("%d refs over %d path(s): exec-to-child ≤ floor (%d path(s)) + %s", rp[0], rp[1], rp[1], ms(VaultEnvOverFloor))}
		t.Measured = "not measured"
		for _, c := range v.Cases {
			if c.Floor || c.Auth != "token" || c.Refs != rp[0] || c.Paths != rp[1] {
				continue
			}
			f, ok := v.floorOf(c)
			switch {
			case c.Err != "":
				t.Measured = "error"
			case !ok:
				t.Measured = "no floor"
			default:
				t.Measured = fmt.Sprintf("%s = floor %s + %s", ms(c.ExecToChild), ms(f.ExecToChild), ms(c.ExecToChild-f.ExecToChild))
				t.Met = c.ExecToChild-f.ExecToChild <= VaultEnvOverFloor
			}
		}
		ts = append(ts, t)
	}
	var peak int64
	for _, c := range v.Cases {
		if !c.Floor && !c.Null && c.Err == "" {
			peak = max(peak, c.MaxRSS)
		}
	}
	ts = append(ts,
		Target{fmt.Sprintf("peak RSS ≤ %s (every vault-env case)", mib(VaultEnvMaxRSS)), mib(peak), peak > 0 && peak <= VaultEnvMaxRSS},
		Target{fmt.Sprintf("stripped binary ≤ %s", mib(VaultEnvMaxBinary)), mib(v.BinarySize), v.BinarySize > 0 && v.BinarySize <= VaultEnvMaxBinary})
	for _, c := range v.Cases {
		if !c.Floor && c.Auth == "token" && c.Refs == 100 && c.Paths == 10 {
			ts = append(ts, Target{"100 refs over 10 paths: one read per path", fmt.Sprintf("%d reads", c.Reads), c.Err == "" && c.Reads == 10})
		}
	}
	return ts
}

func (r *Report) microMarkdown(b *strings.Builder) {
	w := func(format string, args ...any) { fmt.Fprintf(b, format, args...) }
	w("## Micro-benchmarks\n\n`go test -run '^$' -bench . -benchmem -count N` (medians). These are wall-clock\n")
	w("figures: on a loaded machine they inflate with the load average; compare rows within one run.\n\n")
	if len(r.Micro) == 0 {
		w("None ran.\n\n")
	} else {
		w("| package | benchmark | ns/op | B/op | allocs/op | runs |\n|---|---|---:|---:|---:|---:|\n")
		for _, m := range r.Micro {
			w("| %s | %s | %.0f | %.0f | %.0f | %d |\n", strings.TrimPrefix(m.Pkg, "github.com/vault-secrets-webhook/vault-secrets-webhook/"), m.Name, m.NsPerOp, m.BPerOp, m.AllocsOp, m.Runs)
		}
		w("\n")
	}
	if strings.TrimSpace(r.MicroRaw) != "" {
		w("<details><summary>raw output</summary>\n\n```\n%s\n```\n</details>\n", strings.TrimSpace(r.MicroRaw))
	}
}
