package admission

import (
	"bytes"
	"cmp"
	"context"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"log/slog"
	"mime"
	"net"
	"net/http"
	"runtime/debug"
	"strconv"
	"sync"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission/reviewjson"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// DefaultMaxBodyBytes bounds an AdmissionReview request body. The apiserver
// itself limits objects to about 3 MiB; a review wraps one object plus
// metadata.
const DefaultMaxBodyBytes = 4 << 20

// DefaultReviewTimeout applies when the apiserver sends no ?timeout=;
// MaxReviewTimeout caps what it may ask for (the apiserver's own maximum
// timeoutSeconds).
const (
	DefaultReviewTimeout = 10 * time.Second
	MaxReviewTimeout     = 30 * time.Second
)

// LookupBudget is how much of a review's timeout the decision (and so
// every apiserver or registry lookup) may use: the timeout minus a margin
// for writing the answer, the margin being a fifth of the timeout, at least
// 500ms and at most 2s, and never more than half the timeout. So 10s gives
// 8s, 3s gives 2.4s, 30s gives 28s and 1s gives 500ms.
func LookupBudget(timeout time.Duration) time.Duration {
	margin := min(max(timeout/5, 500*time.Millisecond), 2*time.Second, timeout/2)
	return timeout - margin
}

// Handler serves POST /pods: a mutating AdmissionReview (admission.k8s.io/v1)
// of a Pod. Transport concerns live here; the decision is Mutator's.
type Handler struct {
	Mutator      *envinject.Mutator
	Metrics      *Metrics     // may be nil
	Log          *slog.Logger // may be nil
	MaxBodyBytes int64        // 0 means DefaultMaxBodyBytes
	Budget       *Budget      // bounds reviews and body bytes in flight (budget.go); nil: unbounded
}

// Request bodies and patches are written into pooled buffers:
// growing fresh ones for each review was about half of the bytes a review
// allocated. Nothing holds on to a body after decoding (both decoders copy
// what they keep), nor to a patch or an answer after it was handed to
// net/http, so each buffer goes back when the review is answered. Buffers
// that grew above maxPooled are dropped.
type bufPool struct {
	p    sync.Pool
	size int // initial capacity
}

const (
	maxPooled   = 1 << 20
	maxPrealloc = 256 << 10
)

var (
	bodies  = &bufPool{size: 8 << 10}
	outputs = &bufPool{size: 4 << 10}
)

// get returns an empty buffer with room for n bytes (n <= 0: any).
func (bp *bufPool) get(n int64) *[]byte {
	b, _ := bp.p.Get().(*[]byte)
	if b == nil {
		b = new([]byte)
		*b = make([]byte, 0, bp.size)
	}
	if n > int64(cap(*b)) {
		*b = make([]byte, 0, n)
	}
	*b = (*b)[:0]
	return b
}

func (bp *bufPool) put(b *[]byte) {
	if cap(*b) <= maxPooled {
		*b = (*b)[:0]
		bp.p.Put(b)
	}
}

// readBody appends everything r yields to buf, like io.ReadAll.
func readBody(buf []byte, r io.Reader) ([]byte, error) {
	for {
		if len(buf) == cap(buf) {
			buf = append(buf, 0)[:len(buf)]
		}
		n, err := r.Read(buf[len(buf):cap(buf)])
		buf = buf[:len(buf)+n]
		if err == io.EOF {
			return buf, nil
		}
		if err != nil {
			return buf, err
		}
	}
}

// reviewOut is the AdmissionReview the webhook writes back.
type reviewOut struct {
	APIVersion string       `json:"apiVersion"`
	Kind       string       `json:"kind"`
	Response   *responseOut `json:"response"`
}

type responseOut struct {
	UID       string     `json:"uid"`
	Allowed   bool       `json:"allowed"`
	Status    *statusOut `json:"status,omitempty"`
	Patch     []byte     `json:"patch,omitempty"`
	PatchType string     `json:"patchType,omitempty"`
	Warnings  []string   `json:"warnings,omitempty"`
}

type statusOut struct {
	Code    int32  `json:"code,omitempty"`
	Reason  string `json:"reason,omitempty"`
	Message string `json:"message,omitempty"`
}

// Review outcomes (metric label "outcome").
const (
	OutcomeAllowed = "allowed" // allowed, with or without a patch
	OutcomeDenied  = "denied"  // refused: the pod must be fixed
	OutcomeError   = "error"   // the webhook could not decide, or the request was malformed
)

func (h *Handler) log() *slog.Logger {
	if h.Log != nil {
		return h.Log
	}
	return slog.New(slog.DiscardHandler)
}

// ServeHTTP implements the admission checklist: POST only, bounded body,
// JSON only, admission.k8s.io/v1 AdmissionReview with a request, UID echoed,
// HTTP 200 whenever a review can be written, panics recovered, ?timeout=
// honoured.
func (h *Handler) ServeHTTP(w http.ResponseWriter, r *http.Request) {
	start := time.Now()
	h.Metrics.inFlight(1)
	defer h.Metrics.inFlight(-1)
	outcome, reason := OutcomeError, "panic"
	defer func() {
		if p := recover(); p != nil {
			h.log().Error("panic while serving admission review", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			httpError(w, http.StatusInternalServerError, "internal error")
		}
		h.Metrics.observeReview(outcome, reason, time.Since(start))
	}()
	outcome, reason = h.serve(w, r, start)
}

// isJSON reports whether a Content-Type is application/json.
func isJSON(ct string) bool {
	if ct == "application/json" { // what the apiserver sends
		return true
	}
	mt, _, err := mime.ParseMediaType(ct)
	return err == nil && mt == "application/json"
}

// httpError is the one writer of non-review HTTP errors; callers return
// right after it.
func httpError(w http.ResponseWriter, code int, msg string) {
	w.Header().Set("Content-Type", "text/plain; charset=utf-8")
	w.Header().Set("X-Content-Type-Options", "nosniff")
	w.WriteHeader(code)
	_, _ = io.WriteString(w, msg+"\n")
}

func (h *Handler) serve(w http.ResponseWriter, r *http.Request, start time.Time) (outcome, reason string) {
	if r.Method != http.MethodPost {
		w.Header().Set("Allow", http.MethodPost)
		httpError(w, http.StatusMethodNotAllowed, "only POST is allowed")
		return OutcomeError, "bad_method"
	}
	if !isJSON(r.Header.Get("Content-Type")) {
		httpError(w, http.StatusUnsupportedMediaType, "content type must be application/json")
		return OutcomeError, "bad_content_type"
	}
	max := h.MaxBodyBytes
	if max <= 0 {
		max = DefaultMaxBodyBytes
	}
	if err := h.Budget.enter(r.Context()); err != nil {
		httpError(w, http.StatusServiceUnavailable, "too many reviews in flight")
		return OutcomeError, "busy"
	}
	defer h.Budget.leave()
	if h.Budget != nil {
		// A slow body is cut rather than holding its slot and bytes; the
		// error (ErrNotSupported) only comes from test recorders.
		_ = http.NewResponseController(w).SetReadDeadline(start.Add(BodyReadTimeout))
	}
	// Room for the announced length (+1: the read that sees EOF), but only
	// up to maxPrealloc: a client that announces megabytes gets memory as
	// its bytes arrive.
	n := min(r.ContentLength+1, maxPrealloc)
	buf := bodies.get(n)
	defer bodies.put(buf)
	br := h.Budget.reader(r.Context(), http.MaxBytesReader(w, r.Body, max))
	defer br.release()
	body, err := readBody(*buf, br)
	*buf = body
	if err != nil {
		var tooBig *http.MaxBytesError
		var ne net.Error
		switch {
		case errors.As(err, &tooBig):
			httpError(w, http.StatusRequestEntityTooLarge, fmt.Sprintf("request body exceeds %d bytes", max))
			return OutcomeError, "body_too_large"
		case errors.Is(err, errBusy):
			httpError(w, http.StatusServiceUnavailable, "too many request body bytes in flight")
			return OutcomeError, "busy"
		case errors.As(err, &ne) && ne.Timeout():
			httpError(w, http.StatusRequestTimeout, "request body did not arrive in time")
			return OutcomeError, "body_timeout"
		}
		httpError(w, http.StatusBadRequest, "failed to read request body")
		return OutcomeError, "bad_body"
	}
	review, err := reviewjson.Decode(body)
	if err != nil {
		httpError(w, http.StatusBadRequest, "request body is not an AdmissionReview")
		return OutcomeError, "bad_review"
	}
	if review.APIVersion != "admission.k8s.io/v1" || review.Kind != "AdmissionReview" {
		httpError(w, http.StatusBadRequest, "only admission.k8s.io/v1 AdmissionReview is supported")
		return OutcomeError, "bad_api_version"
	}
	req := review.Request
	if req == nil {
		httpError(w, http.StatusBadRequest, "AdmissionReview has no request")
		return OutcomeError, "no_request"
	}
	if req.UID == "" {
		httpError(w, http.StatusBadRequest, "AdmissionReview request has no uid")
		return OutcomeError, "no_uid"
	}

	timeout := DefaultReviewTimeout
	if t := r.URL.Query().Get("timeout"); t != "" {
		if d, err := time.ParseDuration(t); err == nil && d > 0 && d <= MaxReviewTimeout {
			timeout = d
		}
	}
	// Lookups get less than the whole timeout, so that a denial caused by a
	// slow apiserver or registry is written while the apiserver still waits.
	ctx, cancel := context.WithDeadline(r.Context(), start.Add(LookupBudget(timeout)))
	defer cancel()

	// The patch is written into a pooled buffer, released once the answer
	// is encoded.
	patchBuf := outputs.get(0)
	defer outputs.put(patchBuf)
	resp, outcome, reason := h.decide(ctx, req, (*patchBuf)[:0])
	resp.UID = req.UID
	if len(resp.Patch) > 0 {
		*patchBuf = resp.Patch // may have grown
	}
	// The answer is encoded into a pooled buffer too.
	ans := outputs.get(0)
	defer outputs.put(ans)
	out := bytes.NewBuffer(*ans)
	if err := json.NewEncoder(out).Encode(reviewOut{APIVersion: "admission.k8s.io/v1", Kind: "AdmissionReview", Response: resp}); err != nil {
		// strings, bools and bytes only: cannot happen
		httpError(w, http.StatusInternalServerError, "failed to encode the review answer")
		return OutcomeError, "internal"
	}
	b := out.Bytes()
	*ans = b // may have grown
	hdr := w.Header()
	hdr["Content-Type"] = jsonContentType
	// With the length set, net/http sends the answer in one piece instead
	// of chunks (it only computes it itself for answers under 2 KiB).
	hdr["Content-Length"] = []string{strconv.Itoa(len(b))}
	w.WriteHeader(http.StatusOK)
	_, _ = w.Write(b)
	return outcome, reason
}

// jsonContentType is the answer's Content-Type value, shared: net/http
// copies header values when it writes them and never changes them.
var jsonContentType = []string{"application/json"}

// decide turns a request into a response; the patch is appended to
// patchBuf. It never fails: every problem
// becomes a response with allowed=false and a status code.
func (h *Handler) decide(ctx context.Context, req *reviewjson.Request, patchBuf []byte) (resp *responseOut, outcome, reason string) {
	// The review's attributes are only formatted when a line is written:
	// with the admitted line at debug, a successful review writes none.
	base := h.log()
	podName := ""
	logf := func(level slog.Level, msg string, args ...any) {
		if !base.Enabled(ctx, level) {
			return
		}
		attrs := append(make([]any, 0, 8+len(args)), "uid", req.UID, "namespace", req.Namespace, "operation", req.Operation)
		if podName != "" {
			attrs = append(attrs, "pod", podName)
		}
		base.Log(ctx, level, msg, append(attrs, args...)...)
	}
	deny := func(code int32, msg string) *responseOut {
		return &responseOut{Allowed: false, Status: &statusOut{Code: code, Reason: http.StatusText(int(code)), Message: msg}}
	}
	defer func() {
		if p := recover(); p != nil {
			logf(slog.LevelError, "panic while deciding admission", "panic", fmt.Sprint(p), "stack", string(debug.Stack()))
			resp, outcome, reason = deny(http.StatusInternalServerError, "vault-secrets-webhook: internal error"), OutcomeError, "panic"
		}
	}()

	if req.Kind.Group != "" || req.Kind.Version != "v1" || req.Kind.Kind != "Pod" {
		logf(slog.LevelWarn, "refused review of a kind other than Pod", "kind", req.Kind.Kind)
		return deny(http.StatusBadRequest, "vault-secrets-webhook only handles v1 Pods"), OutcomeError, "bad_kind"
	}
	if req.SubResource != "" {
		// e.g. pods/ephemeralcontainers: never touched.
		return &responseOut{Allowed: true}, OutcomeAllowed, "subresource"
	}
	pod := req.Pod
	if pod == nil {
		logf(slog.LevelWarn, "request object is not a Pod")
		return deny(http.StatusBadRequest, "vault-secrets-webhook: request object is not a Pod"), OutcomeError, "bad_object"
	}
	podName = cmp.Or(pod.Name, pod.GenerateName)
	if d := envinject.CheckNamespace(req.Namespace, pod.Namespace); d != nil {
		logf(slog.LevelWarn, "refused review", "reason", string(d.Reason), "podNamespace", pod.Namespace)
		return deny(http.StatusBadRequest, "vault-secrets-webhook: "+d.Message), OutcomeError, string(d.Reason)
	}
	dryRun := req.DryRun != nil && *req.DryRun

	res, err := h.Mutator.Mutate(ctx, envinject.Request{Namespace: req.Namespace, Operation: req.Operation, Pod: pod})
	if err != nil {
		var d *envinject.Denied
		var le *envinject.LookupError
		switch {
		case errors.As(err, &d):
			logf(slog.LevelInfo, "pod refused", "reason", string(d.Reason), "message", d.Message)
			return deny(refusalCode(d.Reason), "vault-secrets-webhook: "+d.Message), OutcomeDenied, string(d.Reason)
		case errors.As(err, &le):
			logf(slog.LevelError, "lookup failed", "kind", le.Kind, "name", le.Name, "error", le.Err.Error())
			msg := fmt.Sprintf("vault-secrets-webhook: failed to read %s %s", le.Kind, le.Name)
			if ctx.Err() != nil {
				return deny(http.StatusGatewayTimeout, msg+": timed out"), OutcomeError, "timeout"
			}
			return deny(http.StatusInternalServerError, msg), OutcomeError, "lookup_failed"
		default:
			logf(slog.LevelError, "mutation failed", "error", err.Error())
			return deny(http.StatusInternalServerError, "vault-secrets-webhook: internal error"), OutcomeError, "internal"
		}
	}
	patch, err := res.Patch.AppendJSON(patchBuf)
	if err != nil {
		logf(slog.LevelError, "patch failed", "error", err.Error())
		return deny(http.StatusInternalServerError, "vault-secrets-webhook: internal error"), OutcomeError, "internal"
	}
	resp = &responseOut{Allowed: true, Warnings: res.Warnings}
	if patch != nil {
		resp.Patch = patch
		resp.PatchType = "JSONPatch"
	}
	if base.Enabled(ctx, slog.LevelDebug) { // the arguments would be allocated
		logf(slog.LevelDebug, "pod admitted", "reason", res.Reason, "ops", len(res.Patch.Ops()), "dryRun", dryRun)
	}
	return resp, OutcomeAllowed, res.Reason
}

// refusalCode is the status code of a refusal's answer: 403 for a Vault
// address the webhook may not write, 400 for a pod to fix.
func refusalCode(r envinject.RefusalReason) int32 {
	if r == envinject.RefusedVaultAddr {
		return http.StatusForbidden
	}
	return http.StatusBadRequest
}
