package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission/reviewjson"
)

// TestEncodeMatchesJSON: the hand-written patch and answer are byte for byte
// what encoding/json writes, for every golden case.
func TestEncodeMatchesJSON(t *testing.T) {
	for _, tc := range goldenCases() {
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mutator(t)
			review, err := reviewjson.Decode(tc.review())
			if err != nil {
				t.Fatal(err)
			}
			req := review.Request
			if req.Pod != nil {
				res, err := m.Mutate(context.Background(), Request{Namespace: req.Namespace, Operation: req.Operation, Pod: req.Pod})
				if err == nil {
					checkPatchEncoding(t, res.Patch)
				}
			}
			resp, _, _ := (&Handler{Mutator: m}).decide(context.Background(), req, nil)
			resp.UID = req.UID
			checkReviewEncoding(t, resp)
		})
	}
}

func checkPatchEncoding(t *testing.T, p *Patch) {
	t.Helper()
	got, err := p.Marshal()
	if err != nil {
		t.Fatal(err)
	}
	if p.Len() == 0 {
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

func checkReviewEncoding(t *testing.T, r *responseOut) {
	t.Helper()
	got := appendReview(nil, r)
	want, err := json.Marshal(reviewOut{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: r})
	if err != nil {
		t.Fatal(err)
	}
	if !bytes.Equal(got, want) {
		t.Fatalf("answer differs from encoding/json\n got: %s\nwant: %s", got, want)
	}
}

func TestAppendJSONValues(t *testing.T) {
	prop := corev1.MountPropagationHostToContainer
	for name, v := range map[string]any{
		"string":            "a<b>&\"c\"\\\n\u2028\x01é\xff",
		"nil strings":       []string(nil),
		"strings":           []string{"", "x"},
		"env var":           corev1.EnvVar{Name: "A", Value: "v"},
		"env var no value":  corev1.EnvVar{Name: "A"},
		"env var valueFrom": corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		"mount":             corev1.VolumeMount{Name: "v", MountPath: "/v", ReadOnly: true, SubPath: "s"},
		"mount propagation": corev1.VolumeMount{Name: "v", MountPath: "/v", MountPropagation: &prop},
		"string map":        map[string]string{"b": "2", "a": "1", "<": ">"},
		"nil string map":    map[string]string(nil),
		"any map":           map[string]any{"name": "v", "emptyDir": map[string]any{"medium": "Memory"}, "n": 3},
		"list of maps":      []map[string]string{{"key": "ca.crt"}},
		"list of any":       []any{"a", true, corev1.VolumeMount{Name: "x"}, nil},
		"container":         containerJSON{Container: corev1.Container{Name: "c"}, Resources: initResources},
		"bool":              false,
		"empty list of any": []any{},
		"nil list of any":   []any(nil),
		"unsupported falls back": struct {
			A int `json:"a"`
		}{7},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := appendJSON(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %s, encoding/json %s", got, want)
			}
		})
	}
}

func TestAppendReviewShapes(t *testing.T) {
	for _, r := range []*responseOut{
		nil,
		{UID: "u", Allowed: true},
		{UID: "u", Allowed: true, Patch: []byte(`[{"op":"add"}]`), PatchType: "JSONPatch", Warnings: []string{"w<1>"}},
		{UID: "u", Status: &statusOut{Code: 400, Reason: "Bad Request", Message: "vault-secrets-webhook: \"x\" & y"}},
		{UID: "u", Status: &statusOut{}},
		{UID: "u", Status: &statusOut{Message: "only a message"}},
	} {
		checkReviewEncoding(t, r)
	}
}

// FuzzAppendString: strings are escaped exactly as encoding/json escapes them.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a<b>&c", "\"\\/\b\f\n\r\t\x00\x1f\x7f", "é\u2028\u2029\U0001F600", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}
