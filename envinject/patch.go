package envinject

import (
	"fmt"
	"strconv"
	"strings"
)

// OpKind is an RFC 6902 operation. The set is closed: the mutation only ever
// adds members and array elements, or replaces values that exist.
type OpKind string

// The operations the mutation emits.
const (
	OpAdd     OpKind = "add"
	OpReplace OpKind = "replace"
)

// Op is one RFC 6902 operation.
type Op struct {
	Op    OpKind `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Pointer builds an RFC 6901 JSON pointer from reference tokens, escaping
// "~" as "~0" before "/" as "~1".
func Pointer(tokens ...string) string {
	n, plain := 0, true
	for _, t := range tokens {
		n += 1 + len(t)
		plain = plain && !strings.ContainsAny(t, "~/")
	}
	var b strings.Builder
	b.Grow(n) // exact when no token needs escaping
	for _, t := range tokens {
		b.WriteByte('/')
		if !plain {
			t = strings.ReplaceAll(t, "~", "~0")
			t = strings.ReplaceAll(t, "/", "~1")
		}
		b.WriteString(t)
	}
	return b.String()
}

// Index renders an array index as a pointer token.
func Index(i int) string { return strconv.Itoa(i) }

// Patch accumulates operations. It remembers which arrays it has already
// created so that the first add to a missing array creates it and later adds
// append with "/-".
type Patch struct {
	ops     []Op
	created map[string]bool
}

// Ops returns the operations in order.
func (p *Patch) Ops() []Op { return p.ops }

// Len is the number of operations.
func (p *Patch) Len() int { return len(p.ops) }

// Set adds or replaces the member at path (RFC 6902 "add" on an object member
// replaces an existing value).
func (p *Patch) Set(path string, value any) {
	p.ops = append(p.ops, Op{Op: OpAdd, Path: path, Value: value})
}

// Replace replaces an existing value.
func (p *Patch) Replace(path string, value any) {
	p.ops = append(p.ops, Op{Op: OpReplace, Path: path, Value: value})
}

// Append appends value to the array at path. exists says whether the array is
// present (non-empty) in the original document; when it is not, the first
// append creates the array and later ones use "/-".
func (p *Patch) Append(path string, exists bool, value any) { p.appendAt(path, "", exists, value) }

// appendAt is Append with the "/-" path of the array given (when it is
// not, it is built if needed).
func (p *Patch) appendAt(path, dash string, exists bool, value any) {
	if !exists && !p.created[path] {
		if p.created == nil {
			p.created = map[string]bool{}
		}
		p.created[path] = true
		p.ops = append(p.ops, Op{Op: OpAdd, Path: path, Value: []any{value}})
		return
	}
	if dash == "" {
		dash = path + "/-"
	}
	p.ops = append(p.ops, Op{Op: OpAdd, Path: dash, Value: value})
}

// Insert inserts value at index i of the array at path, creating the array
// when it does not exist.
func (p *Patch) Insert(path string, exists bool, i int, value any) {
	if !exists && !p.created[path] {
		p.Append(path, false, value)
		return
	}
	p.ops = append(p.ops, Op{Op: OpAdd, Path: path + "/" + Index(i), Value: value})
}

// Marshal renders the patch as JSON (what encoding/json writes for Ops).
// An empty patch renders as nil: the response then carries no patch and no
// patchType.
func (p *Patch) Marshal() ([]byte, error) {
	return p.AppendJSON(nil)
}

// AppendJSON appends what Marshal returns to b; for an empty patch it
// returns nil.
func (p *Patch) AppendJSON(b []byte) ([]byte, error) {
	if len(p.ops) == 0 {
		return nil, nil
	}
	if b == nil {
		b = make([]byte, 0, 256*len(p.ops))
	}
	b = append(b, '[')
	for i, op := range p.ops {
		switch op.Op {
		case OpAdd, OpReplace:
		default:
			return nil, fmt.Errorf("failed to marshal patch: operation %q is not allowed", op.Op)
		}
		if i > 0 {
			b = append(b, ',')
		}
		b = append(b, `{"op":"`...)
		b = append(b, op.Op...)
		b = append(b, `","path":`...)
		b = appendString(b, op.Path)
		b = append(b, `,"value":`...)
		var err error
		if b, err = appendJSON(b, op.Value); err != nil {
			return nil, fmt.Errorf("failed to marshal patch: %w", err)
		}
		b = append(b, '}')
	}
	return append(b, ']'), nil
}
