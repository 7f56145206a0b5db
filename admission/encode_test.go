package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission/reviewjson"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// TestPatchMatchesJSON: the hand-written patch is byte for byte what
// encoding/json writes of its operations, for every golden case.
func TestPatchMatchesJSON(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mutator(t)
			review, err := reviewjson.Decode(tc.review())
			if err != nil {
				t.Fatal(err)
			}
			req := review.Request
			if req.Pod != nil {
				res, err := m.Mutate(context.Background(), envinject.Request{Namespace: req.Namespace, Operation: req.Operation, Pod: req.Pod})
				if err == nil {
					checkPatchEncoding(t, res.Patch)
				}
			}
		})
	}
}

func checkPatchEncoding(t *testing.T, p *envinject.Patch) {
	t.Helper()
	got, err := p.AppendJSON(nil)
	if err != nil {
		t.Fatal(err)
	}
	if len(p.Ops()) == 0 {
		if got != nil {
			t.Fatalf("empty patch rendered as %q", got)
		}
		return
	}
	want, err := json.Marshal(p.Ops())
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("patch differs from encoding/json\n got: %s\nwant: %s", got, want)
	}
}
