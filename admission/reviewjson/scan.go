package reviewjson

import (
	"encoding/binary"
	"encoding/json"
	"math/bits"
	"strings"
	"sync"
	"unicode/utf8"
)

// The scanner: one pass over the bytes, giving up (a panic of giveUp,
// recovered by fast) on anything outside the canonical shape.

// giveUp is the panic value that unwinds fast.
type giveUp struct{}

type decoder struct {
	b      []byte
	arena  strings.Builder // the strings decoded (see keep)
	i      int
	ks, ke int // the key object passed to member, as offsets into b

	scratch map[any]any // see list; kept (emptied) between reviews
}

// decoders keeps decoders between reviews; one that gave up is not
// returned.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// list reads an array into a scratch slice kept in d for key (one per
// element type), and returns a copy of exactly its length: one allocation
// per array instead of one per doubling.
func list[E any](d *decoder, key any, elem func(*E)) []E {
	if d.next() != '[' {
		d.giveUp()
	}
	scratch, _ := d.scratch[key].(*[]E)
	if scratch == nil {
		if d.scratch == nil {
			d.scratch = map[any]any{}
		}
		scratch = new([]E)
		d.scratch[key] = scratch
	}
	start := len(*scratch) // an enclosing array of the same key is being read
	d.array(func() {
		var zero E
		*scratch = append(*scratch, zero)
		elem(&(*scratch)[len(*scratch)-1])
	})
	s := *scratch
	out := make([]E, len(s)-start)
	copy(out, s[start:])
	clear(s[start:])
	*scratch = s[:start]
	return out
}

// maxDepth bounds nesting in skipped values; deeper documents are left to
// encoding/json (whose own limit is higher).
const maxDepth = 256

func (d *decoder) giveUp() { panic(giveUp{}) }

func (d *decoder) ws() {
	if d.i < len(d.b) && d.b[d.i] > ' ' {
		return // the apiserver's JSON has no white space
	}
	for d.i < len(d.b) {
		switch d.b[d.i] {
		case ' ', '\t', '\n', '\r':
			d.i++
		default:
			return
		}
	}
}

// next skips white space and returns the next byte without consuming it.
func (d *decoder) next() byte {
	d.ws()
	if d.i >= len(d.b) {
		d.giveUp()
	}
	return d.b[d.i]
}

func (d *decoder) expect(c byte) {
	if d.next() != c {
		d.giveUp()
	}
	d.i++
}

// object reads an object, calling member with each key (without quotes;
// a key that needs unescaping gives up). member must consume the value.
func (d *decoder) object(member func(k []byte)) {
	d.expect('{')
	if d.next() == '}' {
		d.i++
		return
	}
	for {
		if d.next() != '"' {
			d.giveUp()
		}
		start := d.i + 1
		end, plain := d.scanString()
		if !plain {
			d.giveUp()
		}
		d.expect(':')
		d.ws()
		d.ks, d.ke = start, end
		member(d.b[start:end])
		switch d.next() {
		case ',':
			d.i++
		case '}':
			d.i++
			return
		default:
			d.giveUp()
		}
	}
}

// array reads an array, calling elem for each element; elem must consume it.
func (d *decoder) array(elem func()) {
	d.expect('[')
	if d.next() == ']' {
		d.i++
		return
	}
	for {
		d.ws()
		elem()
		switch d.next() {
		case ',':
			d.i++
		case ']':
			d.i++
			return
		default:
			d.giveUp()
		}
	}
}

// other skips the value of a key the mutation does not read, giving up when
// encoding/json could take the key for one of known: it matches field names
// case-insensitively (and its v2 implementation also ignores '-' and '_'),
// so any key with escapes or non-ASCII bytes, or equal to a known key under
// that folding, is left to it.
func (d *decoder) other(k []byte, known *keySet) {
	n := len(k) // the length without '-' and '_'
	for _, c := range k {
		switch {
		case c >= utf8.RuneSelf:
			d.giveUp()
		case c == '-' || c == '_':
			n--
		}
	}
	if n < 64 && known.lengths&(1<<n) != 0 {
		for _, name := range known.names {
			if len(name) == n && foldEqual(k, name) { // the known keys have no '-' or '_'
				d.giveUp()
			}
		}
	}
	d.skip()
}

// keySet is the keys read at one level, with a bit set for each of their
// lengths (most skipped keys differ in length from every read one).
type keySet struct {
	names   []string
	lengths uint64
}

func keys(names ...string) *keySet {
	ks := &keySet{names: names}
	for _, n := range names {
		ks.lengths |= 1 << len(n) // all shorter than 64
	}
	return ks
}

// foldEqual compares ASCII k and name ignoring case, '-' and '_'.
func foldEqual(k []byte, name string) bool {
	i, j := 0, 0
	for {
		for i < len(k) && (k[i] == '-' || k[i] == '_') {
			i++
		}
		for j < len(name) && (name[j] == '-' || name[j] == '_') {
			j++
		}
		if i == len(k) || j == len(name) {
			return i == len(k) && j == len(name)
		}
		a, b := k[i], name[j]
		if 'A' <= a && a <= 'Z' {
			a += 'a' - 'A'
		}
		if 'A' <= b && b <= 'Z' {
			b += 'a' - 'A'
		}
		if a != b {
			return false
		}
		i++
		j++
	}
}

// scanString moves past the string that starts at d.i (at its quote) and
// returns the index of its closing quote, and whether it is plain: no
// escapes, valid UTF-8. A control character gives up (invalid JSON).
func (d *decoder) scanString() (end int, plain bool) {
	b := d.b
	i := d.i + 1
	plain = true
	for {
		// Plain ASCII bytes, eight at a time up to the first other byte,
		// then (near the end of the body) one at a time.
		for i+8 <= len(b) {
			if m := special8(binary.LittleEndian.Uint64(b[i:])); m != 0 {
				i += bits.TrailingZeros64(m) / 8
				break
			}
			i += 8
		}
		for i < len(b) && plainByte[b[i]] {
			i++
		}
		if i >= len(b) {
			d.giveUp()
		}
		c := b[i]
		switch {
		case c == '"':
			d.i = i + 1
			return i, plain
		case c == '\\':
			plain = false
			if i+1 >= len(b) {
				d.giveUp()
			}
			switch b[i+1] {
			case '"', '\\', '/', 'b', 'f', 'n', 'r', 't':
				i += 2
			case 'u':
				if i+6 > len(b) {
					d.giveUp()
				}
				for _, h := range b[i+2 : i+6] {
					if !isHex(h) {
						d.giveUp()
					}
				}
				i += 6
			default:
				d.giveUp()
			}
		case c < ' ':
			d.giveUp()
		case c < utf8.RuneSelf:
			i++
		default:
			r, n := utf8.DecodeRune(b[i:])
			if r == utf8.RuneError && n == 1 {
				plain = false
			}
			i += n
		}
	}
}

// special8 marks (with its high bit) each of the eight bytes of x, first
// byte lowest, that is not a plainByte: a control character, a quote, a
// backslash or a byte from 0x80. A borrow may also mark a plain byte above
// a marked one, never below: the lowest mark is always right.
func special8(x uint64) uint64 {
	const ones, highs = 0x0101010101010101, 0x8080808080808080
	q, bs := x^(ones*'"'), x^(ones*'\\')
	return (x | (x-ones*' ')&^x | (q-ones)&^q | (bs-ones)&^bs) & highs
}

// plainByte marks the bytes a string holds as they are: ASCII from 0x20,
// except the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func isHex(c byte) bool { return '0' <= c && c <= '9' || 'a' <= c && c <= 'f' || 'A' <= c && c <= 'F' }

// str reads a string value. Anything else (null included) gives up.
func (d *decoder) str() string {
	if d.next() != '"' {
		d.giveUp()
	}
	start := d.i + 1
	end, plain := d.scanString()
	if plain {
		return d.keep(d.b[start:end])
	}
	return d.unescape(d.b[start-1 : end+1])
}

// keep returns b as a string, copied into the review's string arena: a
// strings.Builder that is only ever appended to (so the strings already
// taken from it never change), started afresh for every review and
// replaced when full. Copying only the strings the mutation keeps
// allocates far less than copying the whole body (BENCHMARKS.md).
func (d *decoder) keep(b []byte) string {
	if len(b) == 0 {
		return ""
	}
	if d.arena.Cap()-d.arena.Len() < len(b) {
		d.arena = strings.Builder{}
		d.arena.Grow(max(len(b), arenaChunk, len(d.b)/3))
	}
	start := d.arena.Len()
	d.arena.Write(b)
	return d.arena.String()[start:]
}

// arenaChunk is the least a string arena grows by.
const arenaChunk = 512

// unescape decodes a string that has escapes or invalid UTF-8, quotes
// included, with encoding/json: the one JSON string decoder, so such strings
// read exactly as the fallback reads them. The apiserver seldom sends one
// (an annotation holding JSON, a \u003c).
func (d *decoder) unescape(q []byte) string {
	var s string
	if json.Unmarshal(q, &s) != nil {
		d.giveUp()
	}
	return s
}

// boolean reads true or false.
func (d *decoder) boolean() bool {
	switch {
	case d.lit("true"):
		return true
	case d.lit("false"):
		return false
	}
	d.giveUp()
	return false
}

// lit consumes the literal word when it is next.
func (d *decoder) lit(word string) bool {
	d.ws()
	if len(d.b)-d.i >= len(word) && string(d.b[d.i:d.i+len(word)]) == word {
		d.i += len(word)
		return true
	}
	return false
}

// skip validates and consumes one value of any kind. It loops instead of
// recursing: most of a review's bytes are skipped. open holds one bit per
// enclosing array or object (set: array), innermost lowest.
func (d *decoder) skip() {
	var open [maxDepth / 64]uint64
	depth := 0
	for {
		// A value.
		switch c := d.next(); {
		case c == '"':
			d.scanString()
		case c == '{' || c == '[':
			d.i++
			if d.next() == c+2 { // '}' or ']'
				d.i++
				break
			}
			if depth == maxDepth {
				d.giveUp()
			}
			w, bit := depth/64, uint64(1)<<(depth%64)
			if c == '[' {
				open[w] |= bit
			} else {
				open[w] &^= bit
				d.skipKey()
			}
			depth++
			continue
		case c == 't' || c == 'f' || c == 'n':
			if !d.lit("true") && !d.lit("false") && !d.lit("null") {
				d.giveUp()
			}
		case c == '-' || ('0' <= c && c <= '9'):
			d.number()
		default:
			d.giveUp()
		}
		// After a value: close what ends here, or go on to the next
		// element or member.
		for {
			if depth == 0 {
				return
			}
			inArray := open[(depth-1)/64]&(1<<((depth-1)%64)) != 0
			c := d.next()
			d.i++
			switch {
			case c == ',':
				if !inArray {
					d.skipKey()
				}
			case c == ']' && inArray, c == '}' && !inArray:
				depth--
				continue
			default:
				d.giveUp()
			}
			break
		}
	}
}

// skipKey consumes a member's key (escapes allowed: it is not compared)
// and its colon.
func (d *decoder) skipKey() {
	if d.next() != '"' {
		d.giveUp()
	}
	d.scanString()
	d.expect(':')
}

// number consumes a number: -?(0|[1-9][0-9]*)(\.[0-9]+)?([eE][+-]?[0-9]+)?
func (d *decoder) number() {
	b, i := d.b, d.i
	if i < len(b) && b[i] == '-' {
		i++
	}
	switch {
	case i < len(b) && b[i] == '0':
		i++
	case i < len(b) && '1' <= b[i] && b[i] <= '9':
		i = digits(b, i)
	default:
		d.giveUp()
	}
	if i < len(b) && b[i] == '.' {
		i = d.someDigits(i + 1)
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		i = d.someDigits(i)
	}
	d.i = i
}

// digits returns the index after the decimal digits at b[i:].
func digits(b []byte, i int) int {
	for i < len(b) && '0' <= b[i] && b[i] <= '9' {
		i++
	}
	return i
}

// someDigits is digits, giving up when there is none.
func (d *decoder) someDigits(i int) int {
	j := digits(d.b, i)
	if j == i {
		d.giveUp()
	}
	return j
}

// viaJSON decodes one value the decoder does not read by hand with
// encoding/json, into v (a pointer to a zero value); null gives up.
func (d *decoder) viaJSON(v any) {
	if d.next() == 'n' {
		d.giveUp()
	}
	start := d.i
	d.skip()
	if err := json.Unmarshal(d.b[start:d.i], v); err != nil {
		d.giveUp()
	}
}

// strsKey is the scratch key of string arrays.
type strsKey struct{}

// strs reads an array of strings.
func (d *decoder) strs() []string {
	return list(d, strsKey{}, func(s *string) { *s = d.str() })
}

// stringMap reads an object of strings.
func (d *decoder) stringMap() map[string]string {
	if d.next() != '{' {
		d.giveUp()
	}
	out := map[string]string{}
	d.object(func(k []byte) {
		if _, dup := out[string(d.b[d.ks:d.ke])]; dup {
			d.giveUp()
		}
		name := d.keep(d.b[d.ks:d.ke])
		out[name] = d.str()
	})
	return out
}
