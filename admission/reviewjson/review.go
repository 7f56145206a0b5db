// Package reviewjson decodes the part of an admission.k8s.io/v1
// AdmissionReview of a Pod that the webhook reads (the fields listed once,
// in pod.go).
//
// Decoding the review with encoding/json cost most of a review's CPU
// (reflection, a validating pre-pass, one allocation per string, and a
// whole corev1.Pod). The apiserver sends reviews in one shape: keys spelled
// exactly as the API defines them, each once, no nulls where values are
// expected. The fast decoder reads that shape in one pass over the bytes,
// takes the listed fields, validates the syntax of everything else as it
// skips it, and copies the strings it keeps into one arena per review.
//
// It gives up on anything else, and Decode then decodes with encoding/json,
// which has the last word on what a malformed or unusual review means: a
// syntax error anywhere, a key with an escape or a non-ASCII byte, a key that
// encoding/json's case-insensitive matching would take for a listed field, a
// repeated key, a null or a value of another type where a field is read. A
// string with escapes or invalid UTF-8 is decoded by encoding/json. So for
// every input the fast decoder either gives up or produces what
// encoding/json produces, projected onto the listed fields (FuzzDecode);
// only a value of the wrong type in a field it skips, which encoding/json
// refuses and the apiserver never sends, is not checked.
package reviewjson

import (
	"encoding/json"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// Review is what the webhook reads of an AdmissionReview.
type Review struct {
	APIVersion string   `json:"apiVersion"`
	Kind       string   `json:"kind"`
	Request    *Request `json:"request"`
}

// Request is what the webhook reads of its request.
type Request struct {
	UID         string      `json:"uid"`
	Kind        GVK         `json:"kind"`
	SubResource string      `json:"subResource"`
	Namespace   string      `json:"namespace"`
	Operation   string      `json:"operation"`
	DryRun      *bool       `json:"dryRun"`
	Pod         *corev1.Pod `json:"-"` // the object; nil when missing or not a Pod
}

// GVK is the request's kind.
type GVK struct {
	Group   string `json:"group"`
	Version string `json:"version"`
	Kind    string `json:"kind"`
}

// Decode decodes body: in one pass when it is in the apiserver's canonical
// shape, by encoding/json otherwise. An error means body is not an
// AdmissionReview at all.
func Decode(body []byte) (*Review, error) {
	if r, ok := fast(body); ok {
		return r, nil
	}
	return slow(body)
}

// fast decodes body in the canonical shape; ok is false when body is not in
// it (which includes every malformed body).
func fast(body []byte) (r *Review, ok bool) {
	d := decoders.Get().(*decoder)
	d.b, d.i, d.arena = body, 0, strings.Builder{}
	defer func() {
		if p := recover(); p != nil {
			if _, mine := p.(giveUp); !mine {
				panic(p)
			}
			r, ok = nil, false
			return
		}
		d.b, d.arena = nil, strings.Builder{}
		decoders.Put(d)
	}()
	r = &Review{}
	reviewTable.read(d, r)
	d.ws()
	if d.i != len(d.b) {
		d.giveUp()
	}
	return r, true
}

// slow decodes body with encoding/json: the review, then its object as a
// whole Pod, projected onto the listed fields.
func slow(body []byte) (*Review, error) {
	var in struct {
		Review
		Request *struct {
			Request
			Object json.RawMessage `json:"object"`
		} `json:"request"`
	}
	if err := json.Unmarshal(body, &in); err != nil {
		return nil, err
	}
	r := &Review{APIVersion: in.APIVersion, Kind: in.Kind}
	if in.Request == nil {
		return r, nil
	}
	r.Request = &in.Request.Request
	if obj := in.Request.Object; len(obj) > 0 && string(obj) != "null" {
		var pod corev1.Pod
		if json.Unmarshal(obj, &pod) == nil {
			r.Request.Pod = Project(&pod)
		}
	}
	return r, nil
}

// Project returns the listed fields of pod, as the fast decoder would have
// read them.
func Project(pod *corev1.Pod) *corev1.Pod {
	out := &corev1.Pod{}
	podTable.project(out, pod)
	return out
}
