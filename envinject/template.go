package envinject

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"strconv"
	"strings"
)

// Key templates. A reference key containing "${" is a template over the
// secret's data map. It is the text/template action syntax (delimiters "${"
// and "}") restricted to what keys need, evaluated by this file rather than
// by text/template: text/template resolves methods by name through reflect,
// which makes the linker keep every exported method of the binary and costs
// vault-env about 2.2 MB (it would no longer fit its 8 MB budget).
//
// Inside "${ }":
//
//	.key  .a.b          a field of the secret's map (nested maps with .a.b);
//	                    a missing key is an error
//	.                   the whole map
//	"text"  `raw`       string literals (Go syntax)
//	fn ARG...           a function call
//	X | fn ARG...       pipeline: X is passed as fn's last argument
//	( PIPELINE )        grouping
//
// Functions (ours, deliberately few):
//
//	b64enc S      standard padded base64 of S
//	b64dec S      decode standard base64 (padded or not); error when invalid
//	json V        JSON encoding of V (maps, lists, numbers, strings)
//	toString V    V as vault-env renders values: strings as-is, numbers and
//	              booleans in JSON form, maps and lists as JSON
//	upper S  lower S  trim S   strings.ToUpper / ToLower / TrimSpace
//	index M K...  M[K] for keys that are not identifiers (index . "a-b")
//
// The result of each action is rendered with toString. For templates that
// use only this subset, the output equals text/template's for string and
// number fields (a test checks this against text/template itself).
type keyTemplate struct {
	parts []tmplPart
}

type tmplPart struct {
	text string
	pipe *pipeline // nil for text
}

type pipeline struct{ cmds []command }

type command struct {
	fn   string    // "" when the command is a single operand
	args []operand // operands (or the single operand)
}

type operand struct {
	field []string // non-nil: a field chain; empty slice means "."
	str   *string
	pipe  *pipeline
}

// missingKeyError is a template field the secret lacks.
type missingKeyError struct{ key string }

func (e *missingKeyError) Error() string { return fmt.Sprintf("map has no entry for key %q", e.key) }

// tmplFunc returns the template function name, or nil.
func tmplFunc(name string) func(args []any) (any, error) {
	return tmplFuncs()[name]
}

// tmplFuncs is the function set (built per call: no package-level state).
func tmplFuncs() map[string]func(args []any) (any, error) {
	return map[string]func(args []any) (any, error){
		"b64enc": unary(func(v any) (any, error) { return base64.StdEncoding.EncodeToString([]byte(toString(v))), nil }),
		"b64dec": unary(func(v any) (any, error) {
			b, err := base64.RawStdEncoding.DecodeString(strings.TrimRight(toString(v), "="))
			if err != nil {
				return nil, errors.New("b64dec: input is not base64")
			}
			return string(b), nil
		}),
		"json": unary(func(v any) (any, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return nil, fmt.Errorf("json: %w", err)
			}
			return string(b), nil
		}),
		"toString": unary(func(v any) (any, error) { return toString(v), nil }),
		"upper":    unary(func(v any) (any, error) { return strings.ToUpper(toString(v)), nil }),
		"lower":    unary(func(v any) (any, error) { return strings.ToLower(toString(v)), nil }),
		"trim":     unary(func(v any) (any, error) { return strings.TrimSpace(toString(v)), nil }),
		"index": func(args []any) (any, error) {
			if len(args) < 2 {
				return nil, errors.New("index: want a map and at least one key")
			}
			cur := args[0]
			for _, k := range args[1:] {
				m, ok := cur.(map[string]any)
				if !ok {
					return nil, errors.New("index: not a map")
				}
				key := toString(k)
				v, ok := m[key]
				if !ok {
					return nil, &missingKeyError{key: key}
				}
				cur = v
			}
			return cur, nil
		},
	}
}

func unary(f func(any) (any, error)) func([]any) (any, error) {
	return func(args []any) (any, error) {
		if len(args) != 1 {
			return nil, fmt.Errorf("want 1 argument, got %d", len(args))
		}
		return f(args[0])
	}
}

// parseTemplate compiles a key template. Errors describe the position, not
// the template's text.
func parseTemplate(key string) (*keyTemplate, error) {
	t := &keyTemplate{}
	rest := key
	for rest != "" {
		i := strings.Index(rest, "${")
		if i < 0 {
			t.parts = append(t.parts, tmplPart{text: rest})
			break
		}
		if i > 0 {
			t.parts = append(t.parts, tmplPart{text: rest[:i]})
		}
		p := &tparser{src: rest[i+2:]}
		pipe, err := p.pipeline()
		if err != nil {
			return nil, fmt.Errorf("failed to parse key template: %w", err)
		}
		p.space()
		if !p.eat('}') {
			return nil, errors.New("failed to parse key template: action not closed by \"}\"")
		}
		t.parts = append(t.parts, tmplPart{pipe: pipe})
		rest = p.src[p.pos:]
	}
	return t, nil
}

// execute renders t over data.
func (t *keyTemplate) execute(data map[string]any) (string, error) {
	var b strings.Builder
	for _, p := range t.parts {
		if p.pipe == nil {
			b.WriteString(p.text)
			continue
		}
		v, err := p.pipe.eval(data)
		if err != nil {
			return "", err
		}
		b.WriteString(toString(v))
	}
	return b.String(), nil
}

func (p *pipeline) eval(data map[string]any) (any, error) {
	var prev any
	for i, c := range p.cmds {
		var args []any
		for _, o := range c.args {
			v, err := o.eval(data)
			if err != nil {
				return nil, err
			}
			args = append(args, v)
		}
		if i > 0 {
			args = append(args, prev)
		}
		if c.fn == "" {
			if len(args) != 1 {
				return nil, errors.New("only a function can take arguments")
			}
			prev = args[0]
			continue
		}
		v, err := tmplFunc(c.fn)(args)
		if err != nil {
			return nil, fmt.Errorf("error calling %s: %w", c.fn, err)
		}
		prev = v
	}
	return prev, nil
}

func (o operand) eval(data map[string]any) (any, error) {
	switch {
	case o.str != nil:
		return *o.str, nil
	case o.pipe != nil:
		return o.pipe.eval(data)
	}
	var cur any = data
	for _, f := range o.field {
		m, ok := cur.(map[string]any)
		if !ok {
			return nil, fmt.Errorf("can't evaluate field %s in a non-map value", f)
		}
		if cur, ok = m[f]; !ok {
			return nil, &missingKeyError{key: f}
		}
	}
	return cur, nil
}

// tparser parses one action.
type tparser struct {
	src string
	pos int
}

func (p *tparser) space() {
	for p.pos < len(p.src) && strings.IndexByte(" \t\r\n", p.src[p.pos]) >= 0 {
		p.pos++
	}
}

func (p *tparser) peek() byte {
	if p.pos < len(p.src) {
		return p.src[p.pos]
	}
	return 0
}

func (p *tparser) eat(c byte) bool {
	if p.peek() == c {
		p.pos++
		return true
	}
	return false
}

func (p *tparser) pipeline() (*pipeline, error) {
	pipe := &pipeline{}
	for {
		c, err := p.command(len(pipe.cmds) > 0)
		if err != nil {
			return nil, err
		}
		pipe.cmds = append(pipe.cmds, c)
		p.space()
		if !p.eat('|') {
			return pipe, nil
		}
	}
}

func (p *tparser) command(piped bool) (command, error) {
	p.space()
	var c command
	if isIdentStart(p.peek()) {
		name := p.ident()
		if tmplFunc(name) == nil {
			return c, fmt.Errorf("function %q not defined", name)
		}
		c.fn = name
	}
	for {
		p.space()
		switch p.peek() {
		case '}', '|', ')', 0:
			if c.fn == "" && len(c.args) != 1 {
				return c, fmt.Errorf("missing value at offset %d", p.pos)
			}
			if c.fn == "" && piped {
				return c, errors.New("a value cannot follow \"|\"; use a function")
			}
			return c, nil
		}
		if c.fn == "" && len(c.args) == 1 {
			return c, fmt.Errorf("unexpected operand at offset %d", p.pos)
		}
		o, err := p.operand()
		if err != nil {
			return c, err
		}
		c.args = append(c.args, o)
	}
}

func (p *tparser) operand() (operand, error) {
	switch c := p.peek(); {
	case c == '.':
		fields := []string{}
		for p.eat('.') {
			if !isIdentStart(p.peek()) {
				if len(fields) == 0 {
					break // "." alone
				}
				return operand{}, fmt.Errorf("bad field at offset %d", p.pos)
			}
			fields = append(fields, p.ident())
		}
		return operand{field: fields}, nil
	case c == '"' || c == '`':
		end := p.pos + 1
		for end < len(p.src) && p.src[end] != c {
			if c == '"' && p.src[end] == '\\' {
				end++
			}
			end++
		}
		if end >= len(p.src) {
			return operand{}, errors.New("unterminated string")
		}
		s, err := strconv.Unquote(p.src[p.pos : end+1])
		if err != nil {
			return operand{}, fmt.Errorf("bad string at offset %d", p.pos)
		}
		p.pos = end + 1
		return operand{str: &s}, nil
	case c == '(':
		p.pos++
		pipe, err := p.pipeline()
		if err != nil {
			return operand{}, err
		}
		p.space()
		if !p.eat(')') {
			return operand{}, errors.New("unclosed \"(\"")
		}
		return operand{pipe: pipe}, nil
	case isIdentStart(c):
		return operand{}, errors.New("a function call as argument needs parentheses")
	}
	return operand{}, fmt.Errorf("unexpected character at offset %d", p.pos)
}

func (p *tparser) ident() string {
	start := p.pos
	for p.pos < len(p.src) && (isIdentStart(p.src[p.pos]) || (p.src[p.pos] >= '0' && p.src[p.pos] <= '9')) {
		p.pos++
	}
	return p.src[start:p.pos]
}

func isIdentStart(c byte) bool {
	return c == '_' || (c >= 'a' && c <= 'z') || (c >= 'A' && c <= 'Z')
}

// toString renders a secret field as an environment value.
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	case json.Number:
		return x.String()
	case bool:
		return strconv.FormatBool(x)
	case float64:
		return strconv.FormatFloat(x, 'f', -1, 64)
	case []byte:
		return string(x)
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
