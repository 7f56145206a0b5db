package vaultenv

import (
	"encoding/base64"
	"encoding/json"
	"errors"
	"fmt"
	"reflect"
	"strconv"
	"strings"
	"text/template"
	"text/template/parse"
)

// Key templates. A reference key containing "${" is a text/template template
// with the delimiters "${" and "}" over the secret's data map, as in the seed
// product, with every builtin and the Sprig-named functions of
// templateFuncs (Sprig is not linked; README "Key templates" lists them).
// b64dec fails on invalid input, where Sprig returns the error text.
//
// A field the secret lacks (.missing) is an error that names the key. Values
// are printed as text/template prints them (a map as map[k:v]; use toJson).
// An execution error never reaches a message: its text can hold a value of
// the secret (a text/template error quotes the values it failed on), so the
// error says only which reference failed.
type keyTemplate struct {
	t *template.Template
}

// ErrTemplateFailed is a key template that failed while executing; the
// detail is withheld (see keyTemplate).
var ErrTemplateFailed = errors.New("key template failed while executing (the detail is not shown: it may hold a secret value)")

// parseTemplate compiles a key template. A parse error quotes only the
// template itself, which is in the pod spec, never a secret.
func parseTemplate(key string) (*keyTemplate, error) {
	t, err := template.New("key").Delims("${", "}").Option("missingkey=error").Funcs(templateFuncs()).Parse(key)
	if err != nil {
		return nil, fmt.Errorf("failed to parse key template: %w", err)
	}
	return &keyTemplate{t: t}, nil
}

// execute renders t over data. A field data lacks is a *MissingError
// without Path (the caller knows it).
func (t *keyTemplate) execute(data map[string]any) (string, error) {
	if k, ok := missingField(t.t.Tree.Root, data); ok {
		return "", &MissingError{Key: k, Reason: "not found (key template)"}
	}
	var b strings.Builder
	if err := t.t.Execute(&b, data); err != nil {
		return "", ErrTemplateFailed
	}
	return b.String(), nil
}

// missingField finds a field .KEY used where dot is the secret (outside
// range and with bodies) that data lacks, so that the error can name it.
func missingField(n parse.Node, data map[string]any) (string, bool) {
	switch n := n.(type) {
	case *parse.ListNode:
		if n == nil {
			return "", false
		}
		for _, c := range n.Nodes {
			if k, ok := missingField(c, data); ok {
				return k, true
			}
		}
	case *parse.ActionNode:
		return missingInPipe(n.Pipe, data)
	case *parse.IfNode:
		if k, ok := missingInPipe(n.Pipe, data); ok {
			return k, true
		}
		if k, ok := missingField(n.List, data); ok {
			return k, true
		}
		return missingField(n.ElseList, data)
	case *parse.RangeNode:
		return missingInPipe(n.Pipe, data)
	case *parse.WithNode:
		return missingInPipe(n.Pipe, data)
	}
	return "", false
}

func missingInPipe(p *parse.PipeNode, data map[string]any) (string, bool) {
	if p == nil {
		return "", false
	}
	for _, c := range p.Cmds {
		for _, a := range c.Args {
			switch a := a.(type) {
			case *parse.FieldNode:
				if _, ok := data[a.Ident[0]]; !ok {
					return a.Ident[0], true
				}
			case *parse.PipeNode:
				if k, ok := missingInPipe(a, data); ok {
					return k, true
				}
			}
		}
	}
	return "", false
}

// templateFuncs is the function set (built per template: no package-level
// state).
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"b64enc": func(v any) string { return base64.StdEncoding.EncodeToString([]byte(strval(v))) },
		"b64dec": func(v any) (string, error) {
			b, err := base64.StdEncoding.DecodeString(strval(v))
			if err != nil {
				return "", errors.New("b64dec: input is not base64")
			}
			return string(b), nil
		},
		"toJson": func(v any) string {
			b, err := json.Marshal(v)
			if err != nil {
				return ""
			}
			return string(b)
		},
		"toString":   strval,
		"quote":      quoteEach(strconv.Quote),
		"squote":     quoteEach(func(s string) string { return "'" + s + "'" }),
		"upper":      func(v any) string { return strings.ToUpper(strval(v)) },
		"lower":      func(v any) string { return strings.ToLower(strval(v)) },
		"trim":       func(v any) string { return strings.TrimSpace(strval(v)) },
		"trimPrefix": func(p, v any) string { return strings.TrimPrefix(strval(v), strval(p)) },
		"trimSuffix": func(x, v any) string { return strings.TrimSuffix(strval(v), strval(x)) },
		"replace":    func(o, n, v any) string { return strings.ReplaceAll(strval(v), strval(o), strval(n)) },
		"contains":   func(sub, v any) bool { return strings.Contains(strval(v), strval(sub)) },
		"hasPrefix":  func(p, v any) bool { return strings.HasPrefix(strval(v), strval(p)) },
		"hasSuffix":  func(x, v any) bool { return strings.HasSuffix(strval(v), strval(x)) },
		"default": func(d any, given ...any) any {
			if len(given) == 0 || empty(given[0]) {
				return d
			}
			return given[0]
		},
		"empty": empty,
	}
}

// quoteEach is Sprig's quote and squote: each non-nil argument quoted by q,
// joined by spaces.
func quoteEach(q func(string) string) func(...any) string {
	return func(vs ...any) string {
		out := make([]string, 0, len(vs))
		for _, v := range vs {
			if v != nil {
				out = append(out, q(strval(v)))
			}
		}
		return strings.Join(out, " ")
	}
}

// strval is Sprig's: strings as they are, others formatted with fmt.
func strval(v any) string {
	switch x := v.(type) {
	case string:
		return x
	case []byte:
		return string(x)
	case nil:
		return ""
	case fmt.Stringer:
		return x.String()
	}
	return fmt.Sprint(v)
}

// empty is Sprig's: nil, zero numbers, false, "" and empty collections.
func empty(v any) bool {
	if v == nil {
		return true
	}
	if n, ok := v.(json.Number); ok {
		f, err := n.Float64()
		return err == nil && f == 0
	}
	rv := reflect.ValueOf(v)
	switch rv.Kind() {
	case reflect.Array, reflect.Map, reflect.Slice, reflect.String:
		return rv.Len() == 0
	case reflect.Pointer, reflect.Interface:
		return rv.IsNil()
	}
	return rv.IsZero()
}

// toString renders a secret field (a JSON value as vault.Secret holds it) as
// an environment value: strings as-is, null as "", numbers and booleans in
// JSON form, maps and lists as JSON (the seed product refuses them; README
// "Differences").
func toString(v any) string {
	switch x := v.(type) {
	case nil:
		return ""
	case string:
		return x
	}
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Sprint(v)
	}
	return string(b)
}
