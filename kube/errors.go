package kube

import (
	"cmp"
	"encoding/json"
	"errors"
	"fmt"
	"net/http"
)

// StatusError is a non-2xx answer of the API server, decoded from the
// metav1.Status it sends. Message is the server's own text (it names
// resources, never secret values); Error() adds nothing else.
type StatusError struct {
	Code    int    // HTTP status code
	Reason  string // metav1.StatusReason, e.g. "NotFound"; may be empty
	Message string // metav1.Status message, or the HTTP status text
}

func (e *StatusError) Error() string {
	reason := cmp.Or(e.Reason, http.StatusText(e.Code))
	if e.Message == "" {
		return fmt.Sprintf("kubernetes api: %d %s", e.Code, reason)
	}
	return fmt.Sprintf("kubernetes api: %d %s: %s", e.Code, reason, e.Message)
}

// status is the part of metav1.Status this client reads.
type status struct {
	Kind    string `json:"kind"`
	Message string `json:"message"`
	Reason  string `json:"reason"`
}

// maxMessage bounds how much of a server message reaches an error text.
const maxMessage = 1024

// statusError builds the error of a non-2xx answer. The body is used only
// when it is a metav1.Status; anything else (a proxy's HTML page, say) is
// replaced by the HTTP status text.
func statusError(code int, body []byte) *StatusError {
	e := &StatusError{Code: code, Message: http.StatusText(code)}
	var s status
	if json.Unmarshal(body, &s) == nil && s.Kind == "Status" {
		e.Reason = s.Reason
		if s.Message != "" {
			e.Message = s.Message
		}
	}
	if len(e.Message) > maxMessage {
		e.Message = e.Message[:maxMessage] + "..."
	}
	return e
}

func hasStatus(err error, code int, reason string) bool {
	var se *StatusError
	if !errors.As(err, &se) {
		return false
	}
	if se.Reason != "" {
		return se.Reason == reason
	}
	return se.Code == code
}

// IsNotFound reports whether err is a 404 / NotFound answer.
func IsNotFound(err error) bool { return hasStatus(err, http.StatusNotFound, "NotFound") }

// IsForbidden reports whether err is a 403 / Forbidden answer.
func IsForbidden(err error) bool { return hasStatus(err, http.StatusForbidden, "Forbidden") }

// IsUnauthorized reports whether err is a 401 / Unauthorized answer.
func IsUnauthorized(err error) bool {
	return hasStatus(err, http.StatusUnauthorized, "Unauthorized")
}
