package envinject

import (
	"encoding/json"
	"maps"
	"slices"
	"strconv"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

// The JSONPatch is written by hand (the design card's hand-built patch
// generator; encoding/json's reflection over every value cost a visible
// share of a review's CPU, BENCHMARKS.md). The output is byte for byte what
// encoding/json writes (admission's TestPatchMatchesJSON, TestAppendJSONValues
// and FuzzAppendString compare them): same field order, same omitempty,
// maps sorted by key, strings escaped the same way (HTML characters, U+2028,
// U+2029 and invalid UTF-8 included). Values of other types go through
// encoding/json.

// rawJSON is a value already encoded (by encoding/json), written as is.
type rawJSON []byte

// MarshalJSON lets encoding/json write a rawJSON as is too.
func (r rawJSON) MarshalJSON() ([]byte, error) { return r, nil }

// appendJSON appends the JSON encoding of v.
func appendJSON(b []byte, v any) ([]byte, error) {
	switch v := v.(type) {
	case string:
		return appendString(b, v), nil
	case bool:
		return strconv.AppendBool(b, v), nil
	case []string:
		return appendSlice(b, v, appendStringValue)
	case rawJSON:
		return append(b, v...), nil
	case *corev1.EnvVar:
		if v.ValueFrom == nil {
			b = append(b, `{"name":`...)
			b = appendString(b, v.Name)
			if v.Value != "" {
				b = append(b, `,"value":`...)
				b = appendString(b, v.Value)
			}
			return append(b, '}'), nil
		}
	case map[string]string:
		return appendMap(b, v, appendStringValue)
	case map[string]any:
		return appendMap(b, v, appendJSON)
	case []map[string]string:
		return appendSlice(b, v, func(b []byte, m map[string]string) ([]byte, error) { return appendMap(b, m, appendStringValue) })
	case []any:
		return appendSlice(b, v, appendJSON)
	}
	j, err := json.Marshal(v)
	if err != nil {
		return nil, err
	}
	return append(b, j...), nil
}

func appendStringValue(b []byte, s string) ([]byte, error) { return appendString(b, s), nil }

func appendSlice[E any](b []byte, v []E, elem func([]byte, E) ([]byte, error)) ([]byte, error) {
	if v == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '[')
	for i := range v {
		if i > 0 {
			b = append(b, ',')
		}
		var err error
		if b, err = elem(b, v[i]); err != nil {
			return nil, err
		}
	}
	return append(b, ']'), nil
}

// appendMap writes m with its keys sorted, as encoding/json does.
func appendMap[V any](b []byte, m map[string]V, value func([]byte, V) ([]byte, error)) ([]byte, error) {
	if m == nil {
		return append(b, "null"...), nil
	}
	b = append(b, '{')
	for i, k := range slices.Sorted(maps.Keys(m)) {
		if i > 0 {
			b = append(b, ',')
		}
		b = appendString(b, k)
		b = append(b, ':')
		var err error
		if b, err = value(b, m[k]); err != nil {
			return nil, err
		}
	}
	return append(b, '}'), nil
}

// safeASCII marks the ASCII bytes encoding/json writes as they are.
var safeASCII = func() (t [utf8.RuneSelf]bool) {
	for c := ' '; c < utf8.RuneSelf; c++ {
		t[c] = c != '"' && c != '\\' && c != '<' && c != '>' && c != '&'
	}
	return t
}()

const hexDigits = "0123456789abcdef"

// appendString appends s as a JSON string, escaped as encoding/json does.
func appendString(b []byte, s string) []byte {
	b = append(b, '"')
	start := 0
	for i := 0; i < len(s); {
		c := s[i]
		if c < utf8.RuneSelf {
			if safeASCII[c] {
				i++
				continue
			}
			b = append(b, s[start:i]...)
			switch c {
			case '"', '\\':
				b = append(b, '\\', c)
			case '\b':
				b = append(b, '\\', 'b')
			case '\f':
				b = append(b, '\\', 'f')
			case '\n':
				b = append(b, '\\', 'n')
			case '\r':
				b = append(b, '\\', 'r')
			case '\t':
				b = append(b, '\\', 't')
			default:
				b = append(b, '\\', 'u', '0', '0', hexDigits[c>>4], hexDigits[c&0xf])
			}
			i++
			start = i
			continue
		}
		r, n := utf8.DecodeRuneInString(s[i:])
		switch {
		case r == utf8.RuneError && n == 1:
			b = append(b, s[start:i]...)
			b = append(b, `\ufffd`...)
		case r == '\u2028' || r == '\u2029':
			b = append(b, s[start:i]...)
			b = append(b, '\\', 'u', '2', '0', '2', hexDigits[r&0xf])
		default:
			i += n
			continue
		}
		i += n
		start = i
	}
	b = append(b, s[start:]...)
	return append(b, '"')
}
