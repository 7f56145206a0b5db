package envinject

import (
	"fmt"
	"strconv"
	"strings"
)

// OpKind is an RFC 6902 operation. The set is closed: the mutation only ever
// adds members and array elements (an add on a member that exists replaces
// it).
type OpKind string

// OpAdd is the one operation the mutation emits.
const OpAdd OpKind = "add"

// Op is one RFC 6902 operation.
type Op struct {
	Op    OpKind `json:"op"`
	Path  string `json:"path"`
	Value any    `json:"value"`
}

// Pointer builds an RFC 6901 JSON pointer from reference tokens, escaping
// "~" as "~0" before "/" as "~1".
func Pointer(tokens ...string) string {
	var b strings.Builder
	b.Grow(len(tokens) * 16) // one allocation for the usual pointer
	for _, t := range tokens {
		b.WriteByte('/')
		b.WriteString(strings.ReplaceAll(strings.ReplaceAll(t, "~", "~0"), "/", "~1"))
	}
	return b.String()
}

// Patch accumulates operations. It remembers which arrays it has already
// created so that the first add to a missing array creates it and later adds
// append with "/-".
type Patch struct {
	ops     []Op
	created map[string]bool
}

// Ops returns the operations in order.
func (p *Patch) Ops() []Op { return p.ops }

// Set adds or replaces the member at path (RFC 6902 "add" on an object member
// replaces an existing value).
func (p *Patch) Set(path string, value any) {
	p.ops = append(p.ops, Op{Op: OpAdd, Path: path, Value: value})
}

// Append appends value to the array at path. exists says whether the array is
// present (non-empty) in the original document; when it is not, the first
// append creates the array and later ones use "/-".
func (p *Patch) Append(path string, exists bool, value any) {
	if !exists && !p.created[path] {
		if p.created == nil {
			p.created = map[string]bool{}
		}
		p.created[path] = true
		p.ops = append(p.ops, Op{Op: OpAdd, Path: path, Value: []any{value}})
		return
	}
	p.ops = append(p.ops, Op{Op: OpAdd, Path: path + "/-", Value: value})
}

// Insert inserts value at index i of the array at path, which exists.
func (p *Patch) Insert(path string, i int, value any) {
	p.ops = append(p.ops, Op{Op: OpAdd, Path: path + "/" + strconv.Itoa(i), Value: value})
}

// AppendJSON appends the patch as JSON (what encoding/json writes for Ops)
// to b. An empty patch renders as nil: the response then carries no patch
// and no patchType.
func (p *Patch) AppendJSON(b []byte) ([]byte, error) {
	if len(p.ops) == 0 {
		return nil, nil
	}
	if b == nil {
		b = make([]byte, 0, 256*len(p.ops))
	}
	b = append(b, '[')
	for i, op := range p.ops {
		if op.Op != OpAdd {
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
