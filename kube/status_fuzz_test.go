package kube

import (
	"strings"
	"testing"
)

// FuzzStatusError: any body a server sends yields a bounded error that
// keeps the HTTP code and never panics.
func FuzzStatusError(f *testing.F) {
	f.Add(404, []byte(`{"kind":"Status","reason":"NotFound","message":"secrets \"x\" not found","code":404}`))
	f.Add(500, []byte(`<html>oops</html>`))
	f.Add(409, []byte(`{"kind":"Status","message":`))
	f.Add(403, []byte(`{"kind":"Status","message":"`+strings.Repeat("x", 5000)+`"}`))
	f.Fuzz(func(t *testing.T, code int, body []byte) {
		e := statusError(code, body)
		if e.Code != code {
			t.Fatalf("code = %d, want %d", e.Code, code)
		}
		if len(e.Message) > maxMessage+3 {
			t.Fatalf("message of %d bytes", len(e.Message))
		}
		_ = e.Error()
	})
}
