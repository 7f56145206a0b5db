package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"io"
	"log/slog"
	"net/http"
	"net/http/httptest"
	"strings"
	"testing"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// endless is a body that never ends.
type endless struct{}

func (endless) Read(p []byte) (int, error) {
	for i := range p {
		p[i] = ' '
	}
	return len(p), nil
}

// blockingLookups blocks until the request context ends.
type blockingLookups struct{}

func (blockingLookups) SecretData(ctx context.Context, _, _ string) (map[string][]byte, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}
func (blockingLookups) ConfigMapData(ctx context.Context, _, _ string) (map[string]string, error) {
	<-ctx.Done()
	return nil, ctx.Err()
}

// panickingLookups panics.
type panickingLookups struct{}

func (panickingLookups) SecretData(context.Context, string, string) (map[string][]byte, error) {
	panic("boom")
}
func (panickingLookups) ConfigMapData(context.Context, string, string) (map[string]string, error) {
	panic("boom")
}

func newTestHandler(t *testing.T, l envinject.Lookups) (*Handler, *Metrics) {
	t.Helper()
	if l == nil {
		l = &fakeLookups{}
	}
	m, err := envinject.NewMutator(testConfig(), l, nil)
	if err != nil {
		t.Fatal(err)
	}
	met := NewMetrics()
	return &Handler{Mutator: m, Metrics: met, MaxBodyBytes: 64 << 10}, met
}

func TestHandlerHostile(t *testing.T) {
	valid := goldenCase{name: "x", pod: podDirect}.review()
	secretPod := goldenCase{name: "x", pod: withEnvFrom(`{"secretRef":{"name":"aws"}}`)}.review()
	tests := []struct {
		name        string
		method      string
		contentType string
		body        io.Reader
		url         string
		lookups     envinject.Lookups
		wantHTTP    int
		wantCode    int32 // response.status.code when HTTP 200; 0 = allowed
		noPatch     bool
	}{
		{name: "get", method: http.MethodGet, wantHTTP: http.StatusMethodNotAllowed},
		{name: "put", method: http.MethodPut, contentType: "application/json", body: bytes.NewReader(valid), wantHTTP: http.StatusMethodNotAllowed},
		{name: "wrong content type", contentType: "text/plain", body: bytes.NewReader(valid), wantHTTP: http.StatusUnsupportedMediaType},
		{name: "no content type", body: bytes.NewReader(valid), wantHTTP: http.StatusUnsupportedMediaType},
		{name: "yaml", contentType: "application/yaml", body: bytes.NewReader(valid), wantHTTP: http.StatusUnsupportedMediaType},
		{name: "infinite body", contentType: "application/json", body: endless{}, wantHTTP: http.StatusRequestEntityTooLarge},
		{name: "empty body", contentType: "application/json", body: strings.NewReader(""), wantHTTP: http.StatusBadRequest},
		{name: "not json", contentType: "application/json", body: strings.NewReader("{{{"), wantHTTP: http.StatusBadRequest},
		{name: "json array", contentType: "application/json", body: strings.NewReader("[]"), wantHTTP: http.StatusBadRequest},
		{name: "v1beta1", contentType: "application/json", body: strings.NewReader(strings.Replace(string(valid), "admission.k8s.io/v1", "admission.k8s.io/v1beta1", 1)), wantHTTP: http.StatusBadRequest},
		{name: "wrong kind", contentType: "application/json", body: strings.NewReader(strings.Replace(string(valid), `"kind": "AdmissionReview"`, `"kind": "TokenReview"`, 1)), wantHTTP: http.StatusBadRequest},
		{name: "no request", contentType: "application/json", body: strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview"}`), wantHTTP: http.StatusBadRequest},
		{name: "no uid", contentType: "application/json", body: strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"kind":{"version":"v1","kind":"Pod"}}}`), wantHTTP: http.StatusBadRequest},
		{name: "charset is fine", contentType: "application/json; charset=utf-8", body: bytes.NewReader(valid), wantHTTP: http.StatusOK},
		{name: "non-pod kind", contentType: "application/json", body: bytes.NewReader(goldenCase{name: "x", kind: "ConfigMap", pod: `{"metadata":{"name":"c"}}`}.review()), wantHTTP: http.StatusOK, wantCode: 400},
		{name: "object not a pod", contentType: "application/json", body: bytes.NewReader(goldenCase{name: "x", pod: `{"spec":{"containers":"nope"}}`}.review()), wantHTTP: http.StatusOK, wantCode: 400},
		{name: "no object", contentType: "application/json", body: strings.NewReader(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","kind":{"version":"v1","kind":"Pod"},"operation":"CREATE"}}`), wantHTTP: http.StatusOK, wantCode: 400},
		{name: "ephemeralcontainers subresource untouched", contentType: "application/json", body: strings.NewReader(strings.Replace(string(valid), `"namespace": "apps"`, `"namespace": "apps", "subResource": "ephemeralcontainers"`, 1)), wantHTTP: http.StatusOK, noPatch: true},
		{name: "panic recovered", contentType: "application/json", body: bytes.NewReader(secretPod), lookups: panickingLookups{}, wantHTTP: http.StatusOK, wantCode: 500},
		{name: "timeout honoured", contentType: "application/json", url: "/pods?timeout=50ms", body: bytes.NewReader(secretPod), lookups: blockingLookups{}, wantHTTP: http.StatusOK, wantCode: 504},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			h, met := newTestHandler(t, tc.lookups)
			method := tc.method
			if method == "" {
				method = http.MethodPost
			}
			url := tc.url
			if url == "" {
				url = "/pods"
			}
			req := httptest.NewRequest(method, url, tc.body)
			if tc.contentType != "" {
				req.Header.Set("Content-Type", tc.contentType)
			}
			rec := httptest.NewRecorder()
			start := time.Now()
			h.ServeHTTP(rec, req)
			if d := time.Since(start); d > 5*time.Second {
				t.Fatalf("took %v", d)
			}
			if rec.Code != tc.wantHTTP {
				t.Fatalf("HTTP %d, want %d: %s", rec.Code, tc.wantHTTP, rec.Body.String())
			}
			var buf bytes.Buffer
			if err := met.Write(&buf); err != nil {
				t.Fatal(err)
			}
			if !strings.Contains(buf.String(), "vsw_admission_reviews_total{") {
				t.Errorf("review not counted:\n%s", buf.String())
			}
			if !strings.Contains(buf.String(), "vsw_admission_reviews_in_flight 0\n") {
				t.Errorf("in-flight gauge not back to 0:\n%s", buf.String())
			}
			if rec.Code != http.StatusOK {
				return
			}
			if ct := rec.Header().Get("Content-Type"); ct != "application/json" {
				t.Errorf("content type %q", ct)
			}
			var out struct {
				APIVersion string `json:"apiVersion"`
				Kind       string `json:"kind"`
				Response   struct {
					UID     string `json:"uid"`
					Allowed bool   `json:"allowed"`
					Status  *struct {
						Code    int32  `json:"code"`
						Message string `json:"message"`
					} `json:"status"`
				} `json:"response"`
			}
			if err := json.Unmarshal(rec.Body.Bytes(), &out); err != nil {
				t.Fatal(err)
			}
			if out.APIVersion != "admission.k8s.io/v1" || out.Kind != "AdmissionReview" || out.Response.UID == "" {
				t.Fatalf("bad review: %s", rec.Body.String())
			}
			if tc.wantCode == 0 {
				if !out.Response.Allowed {
					t.Fatalf("not allowed: %s", rec.Body.String())
				}
				if tc.noPatch && strings.Contains(rec.Body.String(), `"patch"`) {
					t.Fatalf("patched: %s", rec.Body.String())
				}
				return
			}
			if out.Response.Allowed || out.Response.Status == nil || out.Response.Status.Code != tc.wantCode {
				t.Fatalf("want allowed=false code %d: %s", tc.wantCode, rec.Body.String())
			}
			if strings.Contains(out.Response.Status.Message, "boom") {
				t.Errorf("panic text leaked to the user: %s", out.Response.Status.Message)
			}
		})
	}
}

func TestHandlerEchoesUID(t *testing.T) {
	h, _ := newTestHandler(t, nil)
	body := strings.Replace(string(goldenCase{name: "x", pod: podPlain}.review()), `"uid": "00000000-0000-0000-0000-000000000001"`, `"uid": "7c4a1d1e-uid-echo"`, 1)
	code, out := runReview(t, h, []byte(body))
	if code != http.StatusOK || !strings.Contains(string(out), `"uid":"7c4a1d1e-uid-echo"`) {
		t.Fatalf("HTTP %d %s", code, out)
	}
	if strings.Contains(string(out), "patch") {
		t.Fatalf("no-op review carries a patch: %s", out)
	}
}

// TestHandlerNeverLogsValues checks that the log of a mutating review and a
// refused one contain neither env values nor annotations' values.
func TestHandlerNeverLogsValues(t *testing.T) {
	var logs bytes.Buffer
	h, _ := newTestHandler(t, nil)
	h.Log = newJSONLogger(&logs)
	for _, pod := range []string{podDirect, annotated(envinject.AnnVaultAddr, "https://attacker.example:8200")} {
		runReview(t, h, goldenCase{name: "x", pod: pod}.review())
	}
	for _, secret := range []string{"AWS_SECRET_ACCESS_KEY", "vault:secret", "echo $SECRET"} {
		if strings.Contains(logs.String(), secret) {
			t.Errorf("log contains %q:\n%s", secret, logs.String())
		}
	}
	if !strings.Contains(logs.String(), `"reason":"mutated"`) {
		t.Errorf("log lacks the outcome:\n%s", logs.String())
	}
}

func TestLookupBudget(t *testing.T) {
	tests := []struct {
		timeout, want time.Duration
	}{
		{timeout: 30 * time.Second, want: 28 * time.Second},
		{timeout: 10 * time.Second, want: 8 * time.Second},
		{timeout: 3 * time.Second, want: 2400 * time.Millisecond},
		{timeout: 2 * time.Second, want: 1500 * time.Millisecond},
		{timeout: time.Second, want: 500 * time.Millisecond},
		{timeout: 100 * time.Millisecond, want: 50 * time.Millisecond},
	}
	for _, tc := range tests {
		t.Run(tc.timeout.String(), func(t *testing.T) {
			got := LookupBudget(tc.timeout)
			if got != tc.want {
				t.Errorf("LookupBudget(%v) = %v, want %v", tc.timeout, got, tc.want)
			}
			if got <= 0 || got >= tc.timeout {
				t.Errorf("LookupBudget(%v) = %v: not within (0, timeout)", tc.timeout, got)
			}
		})
	}
}

// TestHandlerAnswersBeforeDeadline: a lookup that never returns is cut at
// the lookup budget, so the denial is written before ?timeout= expires.
func TestHandlerAnswersBeforeDeadline(t *testing.T) {
	h, _ := newTestHandler(t, blockingLookups{})
	body := goldenCase{name: "x", pod: withEnvFrom(`{"secretRef":{"name":"aws"}}`)}.review()
	const timeout = time.Second
	req := httptest.NewRequest(http.MethodPost, "/pods?timeout="+timeout.String(), bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	start := time.Now()
	h.ServeHTTP(rec, req)
	took := time.Since(start)
	if took >= timeout {
		t.Errorf("answered after %v, not before the %v deadline", took, timeout)
	}
	if rec.Code != http.StatusOK || !strings.Contains(rec.Body.String(), `"code":504`) {
		t.Errorf("HTTP %d %s, want a 504 denial", rec.Code, rec.Body.String())
	}
}

// TestHandlerAdmittedLogLevel: an admitted review writes its line at debug
// only; a refusal still logs at info.
func TestHandlerAdmittedLogLevel(t *testing.T) {
	tests := []struct {
		name    string
		level   slog.Level
		pod     string
		want    string // "" = no log line at all
		wantPod bool
	}{
		{name: "admitted at info", level: slog.LevelInfo, pod: podDirect, want: ""},
		{name: "admitted at debug", level: slog.LevelDebug, pod: podDirect, want: `"msg":"pod admitted"`, wantPod: true},
		{name: "refused at info", level: slog.LevelInfo, pod: annotated(envinject.AnnVaultAddr, "https://attacker.example:8200"), want: `"msg":"pod refused"`, wantPod: true},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			var logs bytes.Buffer
			h, _ := newTestHandler(t, nil)
			h.Log = slog.New(slog.NewJSONHandler(&logs, &slog.HandlerOptions{Level: tc.level}))
			runReview(t, h, goldenCase{name: "x", pod: tc.pod}.review())
			if tc.want == "" {
				if logs.Len() != 0 {
					t.Fatalf("unexpected log:\n%s", logs.String())
				}
				return
			}
			if !strings.Contains(logs.String(), tc.want) || !strings.Contains(logs.String(), `"uid":"`) {
				t.Fatalf("log lacks %s and the uid:\n%s", tc.want, logs.String())
			}
			if tc.wantPod && !strings.Contains(logs.String(), `"pod":"`) {
				t.Fatalf("log lacks the pod name:\n%s", logs.String())
			}
		})
	}
}
