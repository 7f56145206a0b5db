// Package ref is the grammar of Vault references in environment values. It is
// shared by the webhook (which only asks whether a value needs vault-env, see
// [Contains]) and vault-env (which parses with [Parse] and resolves). Stdlib
// only, no I/O.
//
// # Forms
//
// A whole value is one reference when it starts with one of:
//
//	vault:PATH#KEY               read KEY of the secret at PATH (latest version)
//	vault:PATH#KEY#VERSION       read KEY of version VERSION (KV v2 only; decimal)
//	vault:PATH#TEMPLATE          TEMPLATE contains "${": a text/template with
//	                             delimiters "${" and "}" executed over the
//	                             secret's data map, e.g. "${.user}:${.password}"
//	>>vault:PATH#KEY             write (empty body) to PATH, take KEY of the response
//	>>vault:PATH#KEY#JSON        write the JSON object JSON to PATH, take KEY
//	vault:vN:CIPHERTEXT          transit ciphertext (N decimal), decrypted whole
//
// Any other value may hold any number of inline references
// "${vault:…}" or "${>>vault:…}", each in one of the forms above; the inline
// reference ends at the "}" that balances its "${" (braces inside JSON strings
// are skipped). Text around inline references is kept byte for byte. A value
// without references is passed through unchanged.
//
// For reads, a trailing "#DIGITS" segment is a version; everything between the
// first "#" and it is the key (which may itself contain "#"). For writes the
// key runs to the next "#" and the rest is the JSON body, which must be an
// object.
package ref

import (
	"encoding/json"
	"errors"
	"fmt"
	"net/url"
	"slices"
	"strconv"
	"strings"
)

// Prefixes of the reference forms.
const (
	ReadPrefix   = "vault:"
	WritePrefix  = ">>vault:"
	inlineOpen   = "${"
	inlineRead   = "${" + ReadPrefix
	inlineWrite  = "${" + WritePrefix
	templateOpen = "${"
)

// Contains reports whether value needs vault-env to resolve it: a whole-value
// reference (vault:, >>vault:, transit vault:v1:) or an inline ${vault:…} /
// ${>>vault:…} anywhere inside it.
//
// This is the contract the webhook relies on. For every value, Contains is
// false exactly when Parse returns a single literal equal to the value.
func Contains(value string) bool {
	return strings.HasPrefix(value, ReadPrefix) ||
		strings.HasPrefix(value, WritePrefix) ||
		strings.Contains(value, inlineRead) ||
		strings.Contains(value, inlineWrite)
}

// Kind is what vault-env does with a reference.
type Kind int

// The kinds of reference.
const (
	Read    Kind = iota + 1 // vault:PATH#KEY[#VERSION]
	Write                   // >>vault:PATH#KEY[#JSON]
	Transit                 // vault:vN:CIPHERTEXT
)

var kindNames = [...]string{Read: "read", Write: "write", Transit: "transit"}

func (k Kind) String() string {
	if k >= Read && k <= Transit {
		return kindNames[k]
	}
	return "unknown"
}

// Ref is one parsed reference.
type Ref struct {
	Kind Kind
	// Path is the Vault API path as written (Read, Write).
	Path string
	// Key is the key to take from the secret's data, or a template when
	// IsTemplate reports true (Read, Write).
	Key string
	// Version is the KV v2 version to read; 0 means the latest (Read).
	Version int
	// Body is the JSON object sent with a write, "" for none (Write).
	Body string
	// Ciphertext is the whole transit ciphertext as Vault writes it,
	// "vault:vN:…" (Transit).
	Ciphertext string
}

// IsTemplate reports whether Key is a template rather than a plain key.
func (r Ref) IsTemplate() bool { return strings.Contains(r.Key, templateOpen) }

// String returns the reference in its canonical written form (without the
// inline "${…}" wrapper). It contains no secret: only what was written.
func (r Ref) String() string {
	switch r.Kind {
	case Read:
		s := ReadPrefix + r.Path + "#" + r.Key
		if r.Version > 0 {
			s += "#" + strconv.Itoa(r.Version)
		}
		return s
	case Write:
		s := WritePrefix + r.Path + "#" + r.Key
		if r.Body != "" {
			s += "#" + r.Body
		}
		return s
	case Transit:
		return r.Ciphertext
	}
	return ""
}

// Part is one piece of a value: either literal text or a reference.
type Part struct {
	Literal string
	Ref     *Ref
	// Inline is true when Ref was written as "${…}" inside a longer value.
	Inline bool
}

// Value is a parsed environment value.
type Value struct {
	Parts []Part
}

// Refs returns the references of v in order.
func (v Value) Refs() []Ref {
	var out []Ref
	for _, p := range v.Parts {
		if p.Ref != nil {
			out = append(out, *p.Ref)
		}
	}
	return out
}

// HasRefs reports whether v holds at least one reference.
func (v Value) HasRefs() bool {
	return slices.ContainsFunc(v.Parts, func(p Part) bool { return p.Ref != nil })
}

// String reassembles the value as written: Parse(v.String()) == v.
func (v Value) String() string {
	var b strings.Builder
	for _, p := range v.Parts {
		switch {
		case p.Ref == nil:
			b.WriteString(p.Literal)
		case p.Inline:
			b.WriteString(inlineOpen + p.Ref.String() + "}")
		default:
			b.WriteString(p.Ref.String())
		}
	}
	return b.String()
}

// SyntaxError describes a malformed reference. It never quotes the value.
type SyntaxError struct {
	Offset int    // byte offset in the value where the bad reference starts
	Reason string // what is wrong
}

func (e *SyntaxError) Error() string {
	return fmt.Sprintf("malformed vault reference at byte %d: %s", e.Offset, e.Reason)
}

// Parse parses an environment value. A value for which [Contains] is false is
// returned as one literal part (or none when empty).
func Parse(value string) (Value, error) {
	if strings.HasPrefix(value, ReadPrefix) || strings.HasPrefix(value, WritePrefix) {
		r, err := parseRef(value)
		if err != nil {
			return Value{}, &SyntaxError{Offset: 0, Reason: err.Error()}
		}
		return Value{Parts: []Part{{Ref: &r}}}, nil
	}
	var v Value
	rest, off := value, 0
	for {
		i := nextInline(rest)
		if i < 0 {
			if rest != "" {
				v.Parts = append(v.Parts, Part{Literal: rest})
			}
			return v, nil
		}
		if i > 0 {
			v.Parts = append(v.Parts, Part{Literal: rest[:i]})
		}
		end := matchBrace(rest[i:])
		if end < 0 {
			return Value{}, &SyntaxError{Offset: off + i, Reason: "inline reference has no closing \"}\""}
		}
		inner := rest[i+len(inlineOpen) : i+end]
		r, err := parseRef(inner)
		if err != nil {
			return Value{}, &SyntaxError{Offset: off + i, Reason: err.Error()}
		}
		v.Parts = append(v.Parts, Part{Ref: &r, Inline: true})
		rest = rest[i+end+1:]
		off += i + end + 1
	}
}

// nextInline returns the index of the first "${vault:" or "${>>vault:", or -1.
func nextInline(s string) int {
	a, b := strings.Index(s, inlineRead), strings.Index(s, inlineWrite)
	switch {
	case a < 0:
		return b
	case b < 0:
		return a
	}
	return min(a, b)
}

// matchBrace returns the index of the "}" balancing the "${" at s[0], or -1.
// Braces inside double-quoted strings (JSON bodies) do not count.
func matchBrace(s string) int {
	depth, inString := 0, false
	for i := 1; i < len(s); i++ {
		c := s[i]
		if inString {
			switch c {
			case '\\':
				i++
			case '"':
				inString = false
			}
			continue
		}
		switch c {
		case '"':
			// Only JSON bodies (after the key's "#") hold strings; a quote in a
			// path or key is unusual but harmless to treat the same way.
			inString = true
		case '{':
			depth++
		case '}':
			depth--
			if depth == 0 {
				return i
			}
		}
	}
	return -1
}

var (
	errNoPath    = errors.New("empty path")
	errNoKey     = errors.New("missing \"#KEY\" after the path")
	errEmptyKey  = errors.New("empty key")
	errBadBody   = errors.New("write body is not a JSON object")
	errBadCipher = errors.New("empty transit ciphertext")
	// ErrDotSegment is a path with a "." or ".." segment (also
	// percent-encoded): Vault clients clean the URL path, so such a path
	// would leave /v1/ and any path prefix of VAULT_ADDR.
	ErrDotSegment = errors.New(`path must not contain "." or ".." segments`)
)

// parseRef parses one reference without the inline wrapper.
func parseRef(s string) (Ref, error) {
	switch {
	case strings.HasPrefix(s, WritePrefix):
		return parseWrite(s[len(WritePrefix):])
	case strings.HasPrefix(s, ReadPrefix):
		body := s[len(ReadPrefix):]
		if isTransit(body) {
			if len(body) == strings.IndexByte(body, ':')+1 {
				return Ref{}, errBadCipher
			}
			return Ref{Kind: Transit, Ciphertext: s}, nil
		}
		return parseRead(body)
	}
	return Ref{}, errors.New("not a vault reference")
}

// isTransit reports whether s (after "vault:") starts with "v<digits>:".
func isTransit(s string) bool {
	if len(s) < 3 || s[0] != 'v' {
		return false
	}
	i := 1
	for i < len(s) && s[i] >= '0' && s[i] <= '9' {
		i++
	}
	return i > 1 && i < len(s) && s[i] == ':'
}

// cutPath splits PATH#REST, checking the path.
func cutPath(s string) (path, rest string, err error) {
	path, rest, ok := strings.Cut(s, "#")
	if err := checkPath(path); err != nil {
		return "", "", err
	}
	if !ok {
		return "", "", errNoKey
	}
	return path, rest, nil
}

func parseRead(s string) (Ref, error) {
	path, rest, err := cutPath(s)
	if err != nil {
		return Ref{}, err
	}
	r := Ref{Kind: Read, Path: path, Key: rest}
	// A trailing "#DIGITS" is a version, unless it is inside a template.
	if i := strings.LastIndexByte(rest, '#'); i >= 0 && isDigits(rest[i+1:]) && !strings.Contains(rest[i:], "}") {
		n, err := strconv.Atoi(rest[i+1:])
		if err != nil || n <= 0 {
			return Ref{}, errors.New("version must be a positive decimal number")
		}
		r.Key, r.Version = rest[:i], n
	}
	if r.Key == "" {
		return Ref{}, errEmptyKey
	}
	return r, nil
}

func parseWrite(s string) (Ref, error) {
	path, rest, err := cutPath(s)
	if err != nil {
		return Ref{}, err
	}
	key, body, _ := strings.Cut(rest, "#")
	if key == "" {
		return Ref{}, errEmptyKey
	}
	if body != "" {
		var obj map[string]json.RawMessage
		if err := json.Unmarshal([]byte(body), &obj); err != nil || obj == nil {
			return Ref{}, errBadBody
		}
	}
	return Ref{Kind: Write, Path: path, Key: key, Body: body}, nil
}

func checkPath(p string) error {
	if strings.Trim(p, "/") == "" {
		return errNoPath
	}
	u, err := url.PathUnescape(p) // "%2e%2e%2f" is "../" to the URL parser
	if HasDotSegment(p) || err == nil && HasDotSegment(u) {
		return ErrDotSegment
	}
	return nil
}

// HasDotSegment reports whether path p has a "." or ".." segment.
func HasDotSegment(p string) bool {
	for seg := range strings.SplitSeq(p, "/") {
		if seg == "." || seg == ".." {
			return true
		}
	}
	return false
}

func isDigits(s string) bool { return s != "" && strings.Trim(s, "0123456789") == "" }
