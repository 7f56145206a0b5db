package admission

import (
	"encoding/json"
	"net/http"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// FuzzMutate feeds arbitrary pod JSON through decode, decide and patch: the
// handler must answer 200, and every patch must apply to the object and
// yield a valid pod that a second pass leaves alone.
func FuzzMutate(f *testing.F) {
	for _, tc := range goldenCases() {
		if tc.kind == "" {
			f.Add([]byte(tc.pod), tc.cfg == nil)
		}
	}
	f.Fuzz(func(t *testing.T, pod []byte, readLookups bool) {
		// The apiserver sends the object as it serialises it: canonical
		// field names (encoding/json matches names case-insensitively, so
		// raw fuzz input could name fields the patch paths do not).
		var decoded corev1.Pod
		if err := json.Unmarshal(pod, &decoded); err != nil {
			return
		}
		pod, err := json.Marshal(&decoded)
		if err != nil {
			return
		}
		cfg := testConfig()
		cfg.LeastPrivilege = !readLookups
		cfg.AllowedVaultAddrs = []string{"*"}
		m, err := envinject.NewMutator(cfg, &fakeLookups{secrets: refSecrets, cms: refCMs}, fakeImages{"nginx": {Entrypoint: []string{"/e"}, Cmd: []string{"c"}}})
		if err != nil {
			t.Fatal(err)
		}
		h := &Handler{Mutator: m}
		tc := goldenCase{name: "fuzz", pod: string(pod)}
		code, body := runReview(t, h, tc.review())
		if code != http.StatusOK {
			t.Fatalf("HTTP %d: %s", code, body)
		}
		var out struct {
			Response struct {
				Patch []byte `json:"patch"`
			} `json:"response"`
		}
		if err := json.Unmarshal(body, &out); err != nil {
			t.Fatal(err)
		}
		if out.Response.Patch == nil {
			return
		}
		after, err := applyPatch(pod, out.Response.Patch)
		if err != nil {
			t.Fatalf("patch does not apply: %v\npatch: %s", err, out.Response.Patch)
		}
		p, err := decodePodStrict(after)
		if err != nil {
			t.Fatalf("patched object is not a pod: %v", err)
		}
		if err := validateMutated(p); err != nil {
			// Only invariants the webhook is responsible for: an input
			// that already breaks them is the apiserver's to refuse.
			if orig, err2 := decodePodStrict(pod); err2 == nil && validateMutated(orig) == nil {
				t.Fatalf("mutation broke a valid pod: %v", err)
			}
		}
		_, body2 := runReview(t, h, goldenCase{name: "fuzz", pod: string(after)}.review())
		if strings.Contains(string(body2), `"patch"`) {
			t.Fatalf("second pass patched again: %s", body2)
		}
	})
}

// FuzzPointer checks RFC 6901 escaping round-trips through the test's
// independent parser.
func FuzzPointer(f *testing.F) {
	f.Add("vault.security.banzaicloud.io/mutated", "a~b")
	f.Add("~1", "/~0/")
	f.Fuzz(func(t *testing.T, a, b string) {
		toks, err := splitPointer(envinject.Pointer(a, b))
		if err != nil {
			t.Fatal(err)
		}
		if len(toks) != 2 || toks[0] != a || toks[1] != b {
			t.Fatalf("round trip of %q %q gave %q", a, b, toks)
		}
	})
}

// FuzzReviewBody sends arbitrary bytes as a review: the handler answers 200
// (a review) or 400, never panics.
func FuzzReviewBody(f *testing.F) {
	f.Add(goldenCase{name: "x", pod: podDirect}.review())
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"object":null}}`))
	f.Add([]byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"object":{"spec":{"containers":[{}]}}}}`))
	f.Fuzz(func(t *testing.T, body []byte) {
		m, err := envinject.NewMutator(testConfig(), &fakeLookups{secrets: refSecrets, cms: refCMs}, nil)
		if err != nil {
			t.Fatal(err)
		}
		met := NewMetrics()
		code, out := runReview(t, &Handler{Mutator: m, Metrics: met}, body)
		if code != http.StatusOK && code != http.StatusBadRequest {
			t.Fatalf("HTTP %d: %s", code, out)
		}
		var buf strings.Builder
		_ = met.Write(&buf)
		if strings.Contains(buf.String(), `reason="panic"`) {
			t.Fatalf("panicked on %q", body)
		}
	})
}
