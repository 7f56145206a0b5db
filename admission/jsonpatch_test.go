package admission

import (
	"encoding/json"
	"fmt"
	"strconv"
	"strings"
)

// applyPatch is an independent RFC 6902 applier (add, remove, replace, test)
// used to check that every patch the webhook emits applies to its input.
func applyPatch(doc []byte, patch []byte) ([]byte, error) {
	var root any
	if err := json.Unmarshal(doc, &root); err != nil {
		return nil, fmt.Errorf("document: %w", err)
	}
	var ops []struct {
		Op    string          `json:"op"`
		Path  *string         `json:"path"`
		Value json.RawMessage `json:"value"`
	}
	if err := json.Unmarshal(patch, &ops); err != nil {
		return nil, fmt.Errorf("patch: %w", err)
	}
	for i, op := range ops {
		if op.Path == nil {
			return nil, fmt.Errorf("op %d: no path", i)
		}
		var val any
		if op.Op == "add" || op.Op == "replace" || op.Op == "test" {
			if op.Value == nil {
				return nil, fmt.Errorf("op %d: no value", i)
			}
			if err := json.Unmarshal(op.Value, &val); err != nil {
				return nil, fmt.Errorf("op %d: value: %w", i, err)
			}
		}
		var err error
		root, err = applyOp(root, op.Op, *op.Path, val)
		if err != nil {
			return nil, fmt.Errorf("op %d (%s %s): %w", i, op.Op, *op.Path, err)
		}
	}
	return json.Marshal(root)
}

func splitPointer(p string) ([]string, error) {
	if p == "" {
		return nil, nil
	}
	if !strings.HasPrefix(p, "/") {
		return nil, fmt.Errorf("pointer %q does not start with /", p)
	}
	toks := strings.Split(p[1:], "/")
	for i, t := range toks {
		if strings.Contains(strings.ReplaceAll(strings.ReplaceAll(t, "~0", ""), "~1", ""), "~") {
			return nil, fmt.Errorf("bad escape in %q", t)
		}
		toks[i] = strings.ReplaceAll(strings.ReplaceAll(t, "~1", "/"), "~0", "~")
	}
	return toks, nil
}

func applyOp(root any, op, path string, val any) (any, error) {
	toks, err := splitPointer(path)
	if err != nil {
		return nil, err
	}
	if len(toks) == 0 {
		switch op {
		case "add", "replace":
			return val, nil
		default:
			return nil, fmt.Errorf("op %s on root", op)
		}
	}
	parent := root
	for _, t := range toks[:len(toks)-1] {
		switch p := parent.(type) {
		case map[string]any:
			next, ok := p[t]
			if !ok {
				return nil, fmt.Errorf("missing member %q", t)
			}
			parent = next
		case []any:
			i, err := strconv.Atoi(t)
			if err != nil || i < 0 || i >= len(p) || (len(t) > 1 && t[0] == '0') {
				return nil, fmt.Errorf("bad index %q", t)
			}
			parent = p[i]
		default:
			return nil, fmt.Errorf("cannot descend into %T at %q", parent, t)
		}
	}
	last := toks[len(toks)-1]
	set := func(newParent any) (any, error) {
		// Re-walk to store newParent (arrays may have been reallocated).
		return setAt(root, toks[:len(toks)-1], newParent)
	}
	switch p := parent.(type) {
	case map[string]any:
		_, exists := p[last]
		switch op {
		case "add":
			p[last] = val
		case "replace":
			if !exists {
				return nil, fmt.Errorf("replace of missing member %q", last)
			}
			p[last] = val
		case "remove":
			if !exists {
				return nil, fmt.Errorf("remove of missing member %q", last)
			}
			delete(p, last)
		case "test":
			a, _ := json.Marshal(p[last])
			b, _ := json.Marshal(val)
			if !exists || string(a) != string(b) {
				return nil, fmt.Errorf("test failed")
			}
		default:
			return nil, fmt.Errorf("unsupported op %q", op)
		}
		return root, nil
	case []any:
		if op == "add" && last == "-" {
			return set(append(p, val))
		}
		i, err := strconv.Atoi(last)
		if err != nil || i < 0 || (len(last) > 1 && last[0] == '0') {
			return nil, fmt.Errorf("bad index %q", last)
		}
		switch op {
		case "add":
			if i > len(p) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			n := append([]any{}, p[:i]...)
			n = append(n, val)
			n = append(n, p[i:]...)
			return set(n)
		case "replace":
			if i >= len(p) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			p[i] = val
			return root, nil
		case "remove":
			if i >= len(p) {
				return nil, fmt.Errorf("index %d out of range", i)
			}
			return set(append(append([]any{}, p[:i]...), p[i+1:]...))
		default:
			return nil, fmt.Errorf("unsupported op %q on array", op)
		}
	default:
		return nil, fmt.Errorf("parent is %T", parent)
	}
}

func setAt(root any, toks []string, v any) (any, error) {
	if len(toks) == 0 {
		return v, nil
	}
	switch p := root.(type) {
	case map[string]any:
		n, err := setAt(p[toks[0]], toks[1:], v)
		if err != nil {
			return nil, err
		}
		p[toks[0]] = n
		return p, nil
	case []any:
		i, _ := strconv.Atoi(toks[0])
		n, err := setAt(p[i], toks[1:], v)
		if err != nil {
			return nil, err
		}
		p[i] = n
		return p, nil
	}
	return nil, fmt.Errorf("cannot set into %T", root)
}
