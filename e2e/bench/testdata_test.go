package bench

import (
	"bytes"
	"flag"
	"os"
	"path/filepath"
	"testing"
)

var updateReviews = flag.Bool("update", false, "rewrite admission/testdata/bench from the scenarios")

// TestAdmissionBenchReviews: the reviews admission's micro-benchmarks read
// (committed under admission/testdata/bench, so the webhook's packages do not
// import this harness) are the live benchmark's scenarios, byte for byte.
// go test ./e2e/bench -run TestAdmissionBenchReviews -update rewrites them.
func TestAdmissionBenchReviews(t *testing.T) {
	dir := filepath.Join("..", "..", "admission", "testdata", "bench")
	for _, sc := range []string{ScenarioRefs, ScenarioNoRefs, ScenarioEnvFrom, ScenarioRegistry} {
		want, err := ScenarioReview(sc, ScenarioSetup{RegistryImage: "registry.example:5000/shop/api:1.4.2"})
		if err != nil {
			t.Fatal(err)
		}
		want = append(want, '\n')
		path := filepath.Join(dir, sc+".json")
		if *updateReviews {
			if err := os.MkdirAll(dir, 0o755); err != nil {
				t.Fatal(err)
			}
			if err := os.WriteFile(path, want, 0o644); err != nil {
				t.Fatal(err)
			}
			continue
		}
		got, err := os.ReadFile(path)
		if err != nil {
			t.Fatalf("%v (go test ./e2e/bench -run TestAdmissionBenchReviews -update writes it)", err)
		}
		if !bytes.Equal(got, want) {
			t.Errorf("%s differs from scenario %s (go test ./e2e/bench -run TestAdmissionBenchReviews -update rewrites it)", path, sc)
		}
	}
}
