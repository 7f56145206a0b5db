package registry

import (
	"errors"
	"fmt"
)

// Sentinels for errors.Is. Every error ImageConfig returns is an *Error
// whose Kind is one of these.
var (
	ErrNotFound     = errors.New("image not found")
	ErrUnauthorized = errors.New("unauthorized")
	ErrTimeout      = errors.New("timed out")
	ErrUnavailable  = errors.New("registry unavailable")      // transport errors, 429, 5xx
	ErrNoPlatform   = errors.New("no matching platform")      // index without the wanted platform
	ErrInvalid      = errors.New("invalid image or manifest") // bad reference, unsupported or malformed manifest
	ErrRefused      = errors.New("refused by the webhook")    // an address, realm or redirect the client does not follow (see guard.go)
)

// Error is a failed lookup. Its text names the image and the registry and
// never holds credentials, tokens or response bodies beyond the registry's
// own error codes; it is for logs. Public is the text for the user who
// created the pod.
type Error struct {
	Image    string // the reference as written in the pod spec
	Registry string // the registry API host, "registry-1.docker.io" for Docker Hub
	Kind     error  // one of the sentinels above
	Reason   string // fixed text for the user (never a server's answer); may be empty
	Err      error  // detail for logs; may be nil
}

// Public names the image, the registry, the kind of failure and the fixed
// reason, and nothing a server sent: the registry, its token realm or a
// redirect target may be an internal service whose status and body are not
// the pod author's to see.
func (e *Error) Public() string {
	msg := fmt.Sprintf("failed to read image config of %q", e.Image)
	if e.Registry != "" {
		msg += " from registry " + e.Registry
	}
	msg += ": " + e.Kind.Error()
	if e.Reason != "" {
		msg += ": " + e.Reason
	}
	return msg
}

func (e *Error) Error() string {
	if e.Err == nil {
		return e.Public()
	}
	return e.Public() + ": " + e.Err.Error()
}

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// resultOf names the metrics result of a lookup error.
func resultOf(err error) Result {
	var e *Error
	switch {
	case err == nil:
		return ResultOK
	case errors.As(err, &e) && kindResults[e.Kind] != "":
		return kindResults[e.Kind]
	}
	return ResultInvalid
}

var kindResults = map[error]Result{
	ErrNotFound: ResultNotFound, ErrUnauthorized: ResultUnauthorized, ErrTimeout: ResultTimeout,
	ErrUnavailable: ResultUnavailable, ErrNoPlatform: ResultNoPlatform, ErrInvalid: ResultInvalid, ErrRefused: ResultRefused,
}
