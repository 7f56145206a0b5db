// Command loadgen drives an admission webhook (or the floor) over TLS with
// HTTP/1.1 keep-alive: C connections, each sending the next AdmissionReview
// as soon as the previous answer arrived, for a fixed number of requests or
// a fixed duration. It prints reviews/s, p50/p90/p99/max latency and errors
// per concurrency level. Every request carries a unique UID and, with
// --check-uid (default), counts as an error unless the answer echoes it.
//
// Flags:
//
//	--addr HOST:PORT     server (default 127.0.0.1:8443)
//	--path PATH          request path (default "/pods?timeout=10s")
//	--ca FILE            CA of the server certificate (required)
//	--scenario NAME      generated review: refs | norefs | envfrom | registry (default refs)
//	--body FILE          send this AdmissionReview instead of a generated one
//	--namespace NS       namespace of the generated pod (default vsw-bench)
//	--image REF          image of the registry scenario
//	-c LIST              comma-separated concurrency levels (default 1,8,64)
//	-n N                 requests per level (0: use -d)
//	-d DURATION          duration per level when -n is 0 (default 2s)
//	--warmup DURATION    unmeasured load on the same connections first (default 300ms)
//	--check-uid          require the UID echo (default true; the floor needs false)
//	--json               print one JSON object per level instead of a table
//
// It reads no environment variables.
package main

import (
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"os"
	"strconv"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
)

func main() {
	if err := run(context.Background(), os.Args); err != nil {
		fmt.Fprintln(os.Stderr, "loadgen:", err)
		os.Exit(1)
	}
}

func run(ctx context.Context, args []string) error {
	fs := flag.NewFlagSet(args[0], flag.ContinueOnError)
	addr := fs.String("addr", "127.0.0.1:8443", "server host:port")
	path := fs.String("path", "/pods?timeout=10s", "request path")
	ca := fs.String("ca", "", "CA file of the server certificate")
	scenario := fs.String("scenario", bench.ScenarioRefs, "generated review: refs|norefs|envfrom|registry")
	bodyFile := fs.String("body", "", "AdmissionReview file to send instead of a generated one")
	ns := fs.String("namespace", "vsw-bench", "namespace of the generated pod")
	image := fs.String("image", "", "image of the registry scenario")
	levels := fs.String("c", "1,8,64", "comma-separated concurrency levels")
	n := fs.Int("n", 0, "requests per level (0: use -d)")
	d := fs.Duration("d", 2*time.Second, "duration per level when -n is 0")
	warm := fs.Duration("warmup", 300*time.Millisecond, "unmeasured load first")
	checkUID := fs.Bool("check-uid", true, "require the answer to echo the request UID")
	asJSON := fs.Bool("json", false, "print JSON lines")
	if err := fs.Parse(args[1:]); err != nil {
		return err
	}
	if *ca == "" {
		return errors.New("--ca is required")
	}
	if *n < 0 || *d <= 0 || *d > 10*time.Minute {
		return errors.New("-n must be ≥ 0 and -d within (0, 10m]")
	}
	var cs []int
	for _, s := range strings.Split(*levels, ",") {
		c, err := strconv.Atoi(strings.TrimSpace(s))
		if err != nil || c < 1 || c > 4096 {
			return fmt.Errorf("invalid -c level %q: want 1..4096", s)
		}
		cs = append(cs, c)
	}
	var body []byte
	var err error
	if *bodyFile != "" {
		body, err = os.ReadFile(*bodyFile)
	} else {
		body, err = bench.ScenarioReview(*scenario, bench.ScenarioSetup{Namespace: *ns, RegistryImage: *image})
	}
	if err != nil {
		return err
	}
	tc, err := bench.ClientTLS(*ca)
	if err != nil {
		return err
	}
	if !*asJSON {
		fmt.Printf("%-6s %10s %9s %9s %9s %9s %8s\n", "conc", "reviews/s", "p50", "p90", "p99", "max", "errors")
	}
	for _, c := range cs {
		l, err := bench.NewLoader(ctx, bench.LoadConfig{Addr: *addr, Path: *path, Body: body, TLS: tc, Concurrency: c, CheckUID: *checkUID})
		if err != nil {
			return err
		}
		if *warm > 0 {
			l.Run(ctx, 0, *warm)
		}
		r := l.Run(ctx, *n, *d)
		l.Close()
		if *asJSON {
			b, _ := json.Marshal(struct {
				Concurrency int `json:"concurrency"`
				bench.LoadResult
			}{c, r})
			fmt.Println(string(b))
		} else {
			fmt.Printf("%-6d %10.0f %9s %9s %9s %9s %8d\n", c, r.RPS, r.P50.Round(time.Microsecond), r.P90.Round(time.Microsecond), r.P99.Round(time.Microsecond), r.Max.Round(time.Microsecond), r.Errors)
		}
		if r.FirstError != "" {
			fmt.Fprintln(os.Stderr, "loadgen: first error:", r.FirstError)
		}
	}
	return nil
}
