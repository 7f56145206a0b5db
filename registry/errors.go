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
)

// Error is a failed lookup. Its text names the image and the registry and
// never holds credentials, tokens or response bodies beyond the registry's
// own error codes.
type Error struct {
	Image    string // the reference as written in the pod spec
	Registry string // the registry API host, "registry-1.docker.io" for Docker Hub
	Kind     error  // one of the sentinels above
	Err      error  // detail; may be nil
}

func (e *Error) Error() string {
	where := ""
	if e.Registry != "" {
		where = " from registry " + e.Registry
	}
	if e.Err == nil {
		return fmt.Sprintf("failed to read image config of %q%s: %v", e.Image, where, e.Kind)
	}
	return fmt.Sprintf("failed to read image config of %q%s: %v: %v", e.Image, where, e.Kind, e.Err)
}

// Is makes errors.Is(err, ErrNotFound) and friends work.
func (e *Error) Is(target error) bool { return target == e.Kind }

func (e *Error) Unwrap() error { return e.Err }

// resultOf names the metrics result of a lookup error.
func resultOf(err error) Result {
	switch {
	case err == nil:
		return ResultOK
	case errors.Is(err, ErrNotFound):
		return ResultNotFound
	case errors.Is(err, ErrUnauthorized):
		return ResultUnauthorized
	case errors.Is(err, ErrTimeout):
		return ResultTimeout
	case errors.Is(err, ErrUnavailable):
		return ResultUnavailable
	case errors.Is(err, ErrNoPlatform):
		return ResultNoPlatform
	default:
		return ResultInvalid
	}
}
