package reviewjson

import "encoding/json"

// A table is the fields of one JSON object the decoder reads into a T;
// pod.go writes each table once, and both the decoder (read) and the
// projection of an encoding/json result onto the same fields (project) are
// derived from it.
type table[T any] struct {
	fields []field[T]
	keys   *keySet // the fields' names, for other
	// leaf: any other key, or a repeated one, and the object is decoded
	// again from its own bytes by encoding/json, which then decides; a leaf
	// keeps every field (project copies it whole). Otherwise other keys
	// are skipped and a repeated key gives up.
	leaf bool
	// keep reports whether a decoded value is kept (nil: always); a ptr
	// field whose value it refuses reads as nil.
	keep func(*T) bool
}

// field is one member of an object: its key, how to read its value into a
// T, and how to copy it from one T to another.
type field[T any] struct {
	name string
	read func(d *decoder, v *T)
	copy func(dst, src *T)
}

func object[T any](fields ...field[T]) *table[T] {
	t := &table[T]{fields: fields}
	names := make([]string, len(fields))
	for i, f := range fields {
		names[i] = f.name
	}
	t.keys = keys(names...)
	return t
}

func leaf[T any](fields ...field[T]) *table[T] {
	t := object(fields...)
	t.leaf = true
	return t
}

// read reads an object into v.
func (t *table[T]) read(d *decoder, v *T) {
	if d.next() != '{' {
		d.giveUp()
	}
	start := d.i
	var seen uint64
	fallback := false
	d.object(func(k []byte) {
		if fallback {
			d.skip()
			return
		}
		for i := range t.fields {
			f := &t.fields[i]
			if string(k) != f.name {
				continue
			}
			if seen&(1<<i) == 0 {
				seen |= 1 << i
				f.read(d, v)
				return
			}
			if !t.leaf {
				d.giveUp() // encoding/json would let the last one win, or merge maps
			}
			break
		}
		if !t.leaf {
			d.other(k, t.keys)
			return
		}
		fallback = true
		d.skip()
	})
	if fallback {
		var zero T
		*v = zero
		if err := json.Unmarshal(d.b[start:d.i], v); err != nil {
			d.giveUp()
		}
	}
}

// project copies the table's fields from src to dst (a leaf whole).
func (t *table[T]) project(dst, src *T) {
	if t.leaf {
		*dst = *src
		return
	}
	for i := range t.fields {
		t.fields[i].copy(dst, src)
	}
}

// The kinds of field. p returns the field's location in a T.

// value is a field whose value r reads, copied as it is.
func value[T, V any](name string, p func(*T) *V, r func(*decoder) V) field[T] {
	return field[T]{name, func(d *decoder, v *T) { *p(v) = r(d) }, func(dst, src *T) { *p(dst) = *p(src) }}
}

func str[T any, S ~string](name string, p func(*T) *S) field[T] {
	return value(name, p, func(d *decoder) S { return S(d.str()) })
}

func optStr[T any, S ~string](name string, p func(*T) **S) field[T] {
	return value(name, p, func(d *decoder) *S { s := S(d.str()); return &s })
}

func boolean[T any](name string, p func(*T) *bool) field[T] {
	return value(name, p, (*decoder).boolean)
}

func optBool[T any](name string, p func(*T) **bool) field[T] {
	return value(name, p, func(d *decoder) *bool { b := d.boolean(); return &b })
}

func strs[T any](name string, p func(*T) *[]string) field[T] { return value(name, p, (*decoder).strs) }

func strMap[T any](name string, p func(*T) *map[string]string) field[T] {
	return value(name, p, (*decoder).stringMap)
}

// viaJSON is a value read whole by encoding/json (null gives up).
func viaJSON[T, E any](name string, p func(*T) **E) field[T] {
	return value(name, p, func(d *decoder) *E { e := new(E); d.viaJSON(e); return e })
}

// obj is an object read into a value of T.
func obj[T, E any](name string, p func(*T) *E, t *table[E]) field[T] {
	return field[T]{name,
		func(d *decoder, v *T) { t.read(d, p(v)) },
		func(dst, src *T) { t.project(p(dst), p(src)) }}
}

// ptr is an object read into a new E (nil when the table does not keep it).
func ptr[T, E any](name string, p func(*T) **E, t *table[E]) field[T] {
	return field[T]{name,
		func(d *decoder, v *T) {
			e := new(E)
			t.read(d, e)
			if t.keep != nil && !t.keep(e) {
				e = nil
			}
			*p(v) = e
		},
		func(dst, src *T) {
			s := *p(src)
			if s == nil || (t.keep != nil && !t.keep(s)) {
				*p(dst) = nil
				return
			}
			e := new(E)
			t.project(e, s)
			*p(dst) = e
		}}
}

// array is an array of objects.
func array[T, E any](name string, p func(*T) *[]E, t *table[E]) field[T] {
	return field[T]{name,
		func(d *decoder, v *T) { *p(v) = list(d, t, func(e *E) { t.read(d, e) }) },
		func(dst, src *T) {
			s := *p(src)
			if s == nil {
				*p(dst) = nil
				return
			}
			out := make([]E, len(s))
			for i := range s {
				t.project(&out[i], &s[i])
			}
			*p(dst) = out
		}}
}
