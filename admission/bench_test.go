package admission_test

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// The benchmarks run the live benchmark's scenarios (e2e/bench), committed
// as reviews under testdata/bench; TestAdmissionBenchReviews in e2e/bench
// keeps them equal.
var benchScenarios = []string{"refs", "norefs", "envfrom", "registry"}

// benchLookups serves the envfrom scenario's Secret and ConfigMap from memory
// (whatever their names: the scenario reads one of each).
type benchLookups struct{}

func (benchLookups) SecretData(context.Context, string, string) (map[string][]byte, error) {
	return map[string][]byte{
		"DB_PASSWORD": []byte("vault:secret/data/shop/postgres#password"),
		"API_TOKEN":   []byte("vault:secret/data/shop/stripe#api_key"),
		"PLAIN_SALT":  []byte("not-a-reference"),
	}, nil
}

func (benchLookups) ConfigMapData(context.Context, string, string) (map[string]string, error) {
	return map[string]string{"AWS_SECRET_ACCESS_KEY": "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY", "LOG_FORMAT": "json"}, nil
}

// benchImages answers every image lookup from memory (a warm cache).
type benchImages struct{}

func (benchImages) ImageConfig(context.Context, envinject.ImageRequest) (envinject.ImageConfig, error) {
	return envinject.ImageConfig{Entrypoint: []string{"/usr/local/bin/shop"}, Cmd: []string{"serve"}}, nil
}

func benchMutator(b *testing.B) *envinject.Mutator {
	b.Helper()
	m, err := envinject.NewMutator(envinject.Config{
		VaultAddr: "https://vault:8200", VaultEnvImage: "ghcr.io/vault-secrets-webhook/vault-env:latest", Namespace: "vault-infra",
	}, benchLookups{}, benchImages{})
	if err != nil {
		b.Fatal(err)
	}
	return m
}

func benchReview(b *testing.B, sc string) []byte {
	b.Helper()
	body, err := os.ReadFile(filepath.Join("testdata", "bench", sc+".json"))
	if err != nil {
		b.Fatal(err)
	}
	return bytes.TrimSpace(body)
}

// benchPod is the scenario's pod, decoded by encoding/json.
func benchPod(b *testing.B, sc string) *corev1.Pod {
	b.Helper()
	var review struct {
		Request struct {
			Object corev1.Pod `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(benchReview(b, sc), &review); err != nil {
		b.Fatal(err)
	}
	return &review.Request.Object
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
			pod := benchPod(b, sc)
			m := benchMutator(b)
			ctx := context.Background()
			b.ReportAllocs()
			for b.Loop() {
				b.StopTimer()
				p := pod.DeepCopy()
				b.StartTimer()
				if _, err := m.Mutate(ctx, envinject.Request{Namespace: "vsw-bench", Operation: "CREATE", Pod: p}); err != nil {
					b.Fatal(err)
				}
			}
		})
	}
}

// BenchmarkPatchMarshal is the patch generator: the JSONPatch of the refs
// pod rendered to bytes.
func BenchmarkPatchMarshal(b *testing.B) {
	pod := benchPod(b, "refs")
	res, err := benchMutator(b).Mutate(context.Background(), envinject.Request{Namespace: "vsw-bench", Operation: "CREATE", Pod: pod})
	if err != nil {
		b.Fatal(err)
	}
	b.ReportAllocs()
	for b.Loop() {
		if _, err := res.Patch.AppendJSON(nil); err != nil {
			b.Fatal(err)
		}
	}
}
