package admission_test

import (
	"bytes"
	"context"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/e2e/bench"
)

// benchLookups serves the envfrom scenario's Secret and ConfigMap from memory.
type benchLookups struct{}

func (benchLookups) SecretData(_ context.Context, _, name string) (map[string][]byte, error) {
	if name != bench.EnvFromSecret {
		return nil, admission.ErrNotFound
	}
	return map[string][]byte{
		bench.EnvFromKey: []byte("vault:secret/data/shop/postgres#password"),
		"API_TOKEN":      []byte("vault:secret/data/shop/stripe#api_key"),
		"PLAIN_SALT":     []byte("not-a-reference"),
	}, nil
}

func (benchLookups) ConfigMapData(_ context.Context, _, name string) (map[string]string, error) {
	if name != bench.EnvFromConfigMap {
		return nil, admission.ErrNotFound
	}
	return map[string]string{"AWS_SECRET_ACCESS_KEY": "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY", "LOG_FORMAT": "json"}, nil
}

// benchImages answers every image lookup from memory (a warm cache).
type benchImages struct{}

func (benchImages) ImageConfig(context.Context, admission.ImageRequest) (admission.ImageConfig, error) {
	return admission.ImageConfig{Entrypoint: []string{"/usr/local/bin/shop"}, Cmd: []string{"serve"}}, nil
}

var benchScenarios = []string{bench.ScenarioRefs, bench.ScenarioNoRefs, bench.ScenarioEnvFrom, bench.ScenarioRegistry}

func benchMutator(b *testing.B) *admission.Mutator {
	b.Helper()
	m, err := admission.NewMutator(admission.Config{
		VaultAddr: "https://vault:8200", VaultEnvImage: "ghcr.io/vault-secrets-webhook/vault-env:latest", Namespace: "vault-infra",
	}, benchLookups{}, benchImages{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchReview(b *testing.B, sc string) []byte {
	b.Helper()
	body, err := bench.ScenarioReview(sc, bench.ScenarioSetup{RegistryImage: "registry.example:5000/shop/api:1.4.2"})
	if err != nil {
		b.Fatal(err)
	}
	return body
}

// BenchmarkHandler is one review through the HTTP handler as the server runs
// it (decode, decide, patch, encode, metrics, logging at info to a discard
// writer), without TLS and sockets.
func BenchmarkHandler(b *testing.B) {
	for _, sc := range benchScenarios {
		b.Run(sc, func(b *testing.B) {
			body := benchReview(b, sc)
			h := &admission.Handler{Mutator: benchMutator(b), Metrics: admission.NewMetrics(),
				Log: slog.New(slog.NewJSONHandler(io.Discard, nil))}
			b.ReportAllocs()
			b.SetBytes(int64(len(body)))
			for b.Loop() {
				req := httptest.NewRequest(http.MethodPost, "/pods?timeout=10s", bytes.NewReader(body))
				req.Header.Set("Content-Type", "application/json")
				w := httptest.NewRecorder()
				h.ServeHTTP(w, req)
				if w.Code != http.StatusOK {
					b.Fatalf("HTTP %d: %s", w.Code, w.Body)
				}
			}
		})
	}
}

// BenchmarkMutate is the mutation decision alone, on a decoded pod (a fresh
// copy each time, made with the timer stopped: Mutate must not depend on a
// pod it already saw).
func BenchmarkMutate(b *testing.B) {
	for _, sc := range benchScenarios {
		b.Run(sc, func(b *testing.B) {
			pod, err := bench.ScenarioPod(sc, bench.ScenarioSetup{Namespace: "vsw-bench", RegistryImage: "registry.example:5000/shop/api:1.4.2"})
			if err != nil {
				b.Fatal(err)
			}
			m := benchMutator(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				p := pod.DeepCopy()
				b.StartTimer()
				if _, err := m.Mutate(ctx, admission.Request{Namespace: "vsw-bench", Operation: "CREATE", Pod: p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPatchMarshal is the patch generator: the JSONPatch of the refs
// pod rendered to bytes.
func BenchmarkPatchMarshal(b *testing.B) {
	pod, err := bench.ScenarioPod(bench.ScenarioRefs, bench.ScenarioSetup{Namespace: "vsw-bench"})
	if err != nil {
		b.Fatal(err)
	}
	res, err := benchMutator(b).Mutate(context.Background(), admission.Request{Namespace: "vsw-bench", Operation: "CREATE", Pod: pod})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Patch.Marshal(); err != nil {
			b.Fatal(err)
		}
	}
}
