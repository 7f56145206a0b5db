package registry

import (
	"strings"
)

// challenge is one auth challenge of a WWW-Authenticate header (RFC 7235):
// a scheme ("bearer", "basic"; lower-cased) and its parameters (names
// lower-cased, values unquoted).
type challenge struct {
	Scheme string
	Params map[string]string
}

// maxChallengeHeader bounds the work done on a hostile header.
const maxChallengeHeader = 16 << 10

// parseChallenges parses every challenge in the WWW-Authenticate header
// values. It is lenient where registries are sloppy (spaces around '=',
// empty parameters) and never fails: unparsable trailing text is dropped.
//
//	Bearer realm="https://auth.example/token",service="registry.example",scope="repository:app:pull"
func parseChallenges(headers []string) []challenge {
	var out []challenge
	for _, h := range headers {
		if len(h) > maxChallengeHeader {
			h = h[:maxChallengeHeader]
		}
		out = append(out, parseChallengeHeader(h)...)
	}
	return out
}

func parseChallengeHeader(h string) []challenge {
	var out []challenge
	s := h
	for {
		s = skipSeparators(s)
		if s == "" {
			return out
		}
		var scheme string
		scheme, s = readToken(s)
		if scheme == "" {
			return out // not a token: give up on the rest
		}
		c := challenge{Scheme: strings.ToLower(scheme), Params: map[string]string{}}
		s = skipSpace(s)
		// Parameters: name=value pairs separated by commas, until a token
		// not followed by '=' (the next challenge's scheme).
		for {
			s = skipSeparators(s)
			name, rest := readToken(s)
			if name == "" {
				// token68 (e.g. "Basic dXNlcg==") or garbage: skip to next comma.
				if i := strings.IndexByte(s, ','); i >= 0 && s != "" && s[0] != ',' {
					s = s[i:]
					continue
				}
				if s != "" && s[0] != ',' {
					s = ""
				}
				break
			}
			rest = skipSpace(rest)
			if !strings.HasPrefix(rest, "=") {
				break // next challenge starts at s
			}
			rest = skipSpace(rest[1:])
			var value string
			if strings.HasPrefix(rest, `"`) {
				value, rest = readQuoted(rest)
			} else {
				value, rest = readToken(rest)
			}
			c.Params[strings.ToLower(name)] = value
			s = rest
		}
		out = append(out, c)
	}
}

func skipSpace(s string) string { return strings.TrimLeft(s, " \t") }

func skipSeparators(s string) string { return strings.TrimLeft(s, " \t,") }

// readToken reads an RFC 7230 token.
func readToken(s string) (token, rest string) {
	i := 0
	for i < len(s) && isTokenChar(s[i]) {
		i++
	}
	return s[:i], s[i:]
}

func isTokenChar(c byte) bool {
	switch {
	case c >= 'a' && c <= 'z', c >= 'A' && c <= 'Z', c >= '0' && c <= '9':
		return true
	}
	return strings.IndexByte("!#$%&'*+-.^_`|~/:", c) >= 0
}

// readQuoted reads a quoted-string starting at s[0] == '"'; an unterminated
// string takes the rest of the input.
func readQuoted(s string) (value, rest string) {
	var b strings.Builder
	for i := 1; i < len(s); i++ {
		switch s[i] {
		case '\\':
			if i+1 < len(s) {
				i++
				b.WriteByte(s[i])
			}
		case '"':
			return b.String(), s[i+1:]
		default:
			b.WriteByte(s[i])
		}
	}
	return b.String(), ""
}
