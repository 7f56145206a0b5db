package envinject

import (
	"encoding/base64"
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
	"text/template"
)

// Key templates: a reference key containing "${" is a text/template with
// delimiters "${" and "}", executed over the secret's data map (so ".user" is
// the secret's "user" key). A key the secret lacks is an error. The
// functions are ours and deliberately few:
//
//	b64enc    base64 (standard, padded) of a string
//	b64dec    decode standard base64 (padded or not); error when invalid
//	json      JSON encoding of any value (maps, lists, numbers)
//	toString  a value as vault-env would print it: strings as-is, numbers
//	          and booleans in JSON form, maps and lists as JSON
//	upper     strings.ToUpper
//	lower     strings.ToLower
//	trim      strings.TrimSpace
func templateFuncs() template.FuncMap {
	return template.FuncMap{
		"b64enc": func(s any) string { return base64.StdEncoding.EncodeToString([]byte(toString(s))) },
		"b64dec": func(s any) (string, error) {
			in := strings.TrimRight(toString(s), "=")
			b, err := base64.RawStdEncoding.DecodeString(in)
			if err != nil {
				return "", fmt.Errorf("b64dec: input is not base64")
			}
			return string(b), nil
		},
		"json": func(v any) (string, error) {
			b, err := json.Marshal(v)
			if err != nil {
				return "", fmt.Errorf("json: %w", err)
			}
			return string(b), nil
		},
		"toString": toString,
		"upper":    func(s any) string { return strings.ToUpper(toString(s)) },
		"lower":    func(s any) string { return strings.ToLower(toString(s)) },
		"trim":     func(s any) string { return strings.TrimSpace(toString(s)) },
	}
}

// parseTemplate compiles a key template.
func parseTemplate(key string) (*template.Template, error) {
	t, err := template.New("key").Delims("${", "}").Option("missingkey=error").Funcs(templateFuncs()).Parse(key)
	if err != nil {
		// The template text is a reference, not a secret, but text/template's
		// message may quote it; give only the position-free reason.
		return nil, fmt.Errorf("failed to parse key template: %s", strings.TrimPrefix(err.Error(), "template: key:"))
	}
	return t, nil
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
