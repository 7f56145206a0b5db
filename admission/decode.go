package admission

import (
	"bytes"
	"encoding/json"
	"strings"
	"sync"
	"unicode/utf8"

	corev1 "k8s.io/api/core/v1"
)

// The fast decoder.
//
// Decoding the review with encoding/json cost most of a review's CPU
// (reflection, a validating pre-pass, one allocation per string). The
// apiserver sends reviews in one shape: keys spelled exactly as the API
// defines them, each once, no nulls where values are expected. fastDecode
// reads that shape in one pass over the bytes, takes the fields the mutation
// reads, validates and skips everything else, and copies the strings it
// keeps into one arena per review (see keep).
//
// It gives up (returns ok=false) on anything else, and decodeReview then
// decodes with encoding/json as before: a syntax error anywhere, a key with
// an escape or a non-ASCII byte, a key that encoding/json's case-insensitive
// matching would take for a field the mutation reads, a repeated key, a null
// or a value of another type where a field is read. A string value with
// escapes or invalid UTF-8 is decoded by encoding/json. So for every input, fastDecode
// either gives up or produces what encoding/json produces; FuzzDecodeReview
// checks exactly that. Small structs with fields it does not read by hand
// (an env var's resourceFieldRef, a volume mount's propagation, ...) are
// decoded by encoding/json from their own bytes, and so is a pod's affinity.
// Of probes, both decoders keep only the exec command (a probe without one
// reads as nil).

// giveUp is the panic value that unwinds fastDecode.
type giveUp struct{}

// fastDecode decodes body in the canonical shape. ok is false when body is
// not in it (which includes every malformed body).
func fastDecode(body []byte) (req *requestIn[*corev1.Pod], apiVersion, kind string, ok bool) {
	d := decoders.Get().(*decoder)
	d.b, d.i, d.arena = body, 0, strings.Builder{}
	defer func() {
		if p := recover(); p != nil {
			if _, mine := p.(giveUp); !mine {
				panic(p)
			}
			req, apiVersion, kind, ok = nil, "", "", false
			return
		}
		d.b, d.arena = nil, strings.Builder{}
		decoders.Put(d)
	}()
	var seen uint8
	d.ws()
	d.object(func(k []byte) {
		switch string(k) {
		case "apiVersion":
			d.once(&seen, 1)
			apiVersion = d.str()
		case "kind":
			d.once(&seen, 2)
			kind = d.str()
		case "request":
			d.once(&seen, 4)
			req = d.request()
		default:
			d.other(k, reviewKeys)
		}
	})
	d.ws()
	if d.i != len(d.b) {
		d.giveUp()
	}
	return req, apiVersion, kind, true
}

// The keys read at each level where other keys are skipped.
var (
	reviewKeys    = keys("apiVersion", "kind", "request")
	requestKeys   = keys("uid", "kind", "subResource", "namespace", "operation", "dryRun", "object")
	gvkKeys       = keys("group", "version", "kind")
	podKeys       = keys("metadata", "spec")
	metadataKeys  = keys("name", "generateName", "namespace", "annotations")
	specKeys      = keys("serviceAccountName", "imagePullSecrets", "nodeSelector", "affinity", "volumes", "initContainers", "containers")
	volumeKeys    = keys("name")
	probeKeys     = keys("exec")
	execKeys      = keys("command")
	containerKeys = keys("name", "image", "command", "args", "env", "envFrom", "volumeMounts", "restartPolicy",
		"livenessProbe", "readinessProbe", "startupProbe")
)

type decoder struct {
	b      []byte
	arena  strings.Builder // the strings decoded (see keep)
	i      int
	ks, ke int // the key object passed to member, as offsets into b

	// Arrays are read into these and copied out at their final size.
	strs       []string
	containers []corev1.Container
	envs       []corev1.EnvVar
	envFroms   []corev1.EnvFromSource
	mounts     []corev1.VolumeMount
	volumes    []corev1.Volume
	pullRefs   []corev1.LocalObjectReference
}

// decoders keeps decoders (and their scratch arrays, emptied) between
// reviews; one that gave up is not returned.
var decoders = sync.Pool{New: func() any { return new(decoder) }}

// list reads an array into scratch and returns a copy of exactly its
// length: one allocation per array instead of one per doubling.
func list[T any](d *decoder, scratch *[]T, elem func(*T)) []T {
	if d.next() != '[' {
		d.giveUp()
	}
	start := len(*scratch)
	d.array(func() {
		var zero T
		*scratch = append(*scratch, zero)
		elem(&(*scratch)[len(*scratch)-1])
	})
	s := *scratch
	out := make([]T, len(s)-start)
	copy(out, s[start:])
	clear(s[start:])
	*scratch = s[:start]
	return out
}

// maxDepth bounds nesting in skipped values; deeper documents are left to
// encoding/json (whose own limit is higher).
const maxDepth = 256

func (d *decoder) giveUp() { panic(giveUp{}) }

// once records key bit in seen and gives up on a repeated key (encoding/json
// would let the last one win, or merge maps).
func (d *decoder) once(seen *uint8, bit uint8) {
	if *seen&bit != 0 {
		d.giveUp()
	}
	*seen |= bit
}

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
func (d *decoder) object(member func(k []byte)) { d.members(false, member) }

// members reads an object; anyKey accepts keys with escapes (for values
// that are skipped, whose keys are never compared).
func (d *decoder) members(anyKey bool, member func(k []byte)) {
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
		if !plain && !anyKey {
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
		// Plain ASCII bytes, four at a time while there are four.
		for i+4 <= len(b) && plainByte[b[i]] && plainByte[b[i+1]] && plainByte[b[i+2]] && plainByte[b[i+3]] {
			i += 4
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
					if unhex(h) < 0 {
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

// plainByte marks the bytes a string holds as they are: ASCII from 0x20,
// except the quote and the backslash.
var plainByte = func() (t [256]bool) {
	for c := 0x20; c < 0x80; c++ {
		t[c] = c != '"' && c != '\\'
	}
	return t
}()

func unhex(c byte) rune {
	switch {
	case '0' <= c && c <= '9':
		return rune(c - '0')
	case 'a' <= c && c <= 'f':
		return rune(c - 'a' + 10)
	case 'A' <= c && c <= 'F':
		return rune(c - 'A' + 10)
	}
	return -1
}

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
// allocates about a third of what copying the whole body did.
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
		case c == 't':
			if !d.lit("true") {
				d.giveUp()
			}
		case c == 'f':
			if !d.lit("false") {
				d.giveUp()
			}
		case c == 'n':
			if !d.lit("null") {
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
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	default:
		d.giveUp()
	}
	if i < len(b) && b[i] == '.' {
		i++
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.giveUp()
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	if i < len(b) && (b[i] == 'e' || b[i] == 'E') {
		i++
		if i < len(b) && (b[i] == '+' || b[i] == '-') {
			i++
		}
		if i >= len(b) || b[i] < '0' || b[i] > '9' {
			d.giveUp()
		}
		for i < len(b) && '0' <= b[i] && b[i] <= '9' {
			i++
		}
	}
	d.i = i
}

// raw consumes one value and returns its bytes; null gives up.
func (d *decoder) raw() []byte {
	if d.next() == 'n' {
		d.giveUp()
	}
	start := d.i
	d.skip()
	return d.b[start:d.i]
}

// viaJSON decodes one value the decoder does not read by hand with
// encoding/json, into v (a pointer to a zero value).
func (d *decoder) viaJSON(v any) {
	if err := json.Unmarshal(d.raw(), v); err != nil {
		d.giveUp()
	}
}

// strings reads an array of strings.
func (d *decoder) strings() []string {
	return list(d, &d.strs, func(s *string) { *s = d.str() })
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

func (d *decoder) request() *requestIn[*corev1.Pod] {
	if d.next() != '{' {
		d.giveUp()
	}
	r := &requestIn[*corev1.Pod]{}
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "uid":
			d.once(&seen, 1<<0)
			r.UID = d.str()
		case "kind":
			d.once(&seen, 1<<1)
			d.gvk(r)
		case "subResource":
			d.once(&seen, 1<<2)
			r.SubResource = d.str()
		case "namespace":
			d.once(&seen, 1<<3)
			r.Namespace = d.str()
		case "operation":
			d.once(&seen, 1<<4)
			r.Operation = d.str()
		case "dryRun":
			d.once(&seen, 1<<5)
			b := d.boolean()
			r.DryRun = &b
		case "object":
			d.once(&seen, 1<<6)
			r.Object = d.pod()
		default:
			d.other(k, requestKeys)
		}
	})
	return r
}

func (d *decoder) gvk(r *requestIn[*corev1.Pod]) {
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "group":
			d.once(&seen, 1)
			r.Kind.Group = d.str()
		case "version":
			d.once(&seen, 2)
			r.Kind.Version = d.str()
		case "kind":
			d.once(&seen, 4)
			r.Kind.Kind = d.str()
		default:
			d.other(k, gvkKeys)
		}
	})
}

func (d *decoder) pod() *corev1.Pod {
	if d.next() != '{' {
		d.giveUp()
	}
	p := &corev1.Pod{}
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "metadata":
			d.once(&seen, 1)
			d.metadata(p)
		case "spec":
			d.once(&seen, 2)
			d.spec(&p.Spec)
		default:
			d.other(k, podKeys)
		}
	})
	return p
}

func (d *decoder) metadata(p *corev1.Pod) {
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "name":
			d.once(&seen, 1)
			p.Name = d.str()
		case "generateName":
			d.once(&seen, 2)
			p.GenerateName = d.str()
		case "namespace":
			d.once(&seen, 4)
			p.Namespace = d.str()
		case "annotations":
			d.once(&seen, 8)
			p.Annotations = d.stringMap()
		default:
			d.other(k, metadataKeys)
		}
	})
}

func (d *decoder) spec(s *corev1.PodSpec) {
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "serviceAccountName":
			d.once(&seen, 1<<0)
			s.ServiceAccountName = d.str()
		case "imagePullSecrets":
			d.once(&seen, 1<<1)
			s.ImagePullSecrets = list(d, &d.pullRefs, d.localRef)
		case "nodeSelector":
			d.once(&seen, 1<<2)
			s.NodeSelector = d.stringMap()
		case "affinity":
			d.once(&seen, 1<<3)
			s.Affinity = &corev1.Affinity{}
			d.viaJSON(s.Affinity)
		case "volumes":
			d.once(&seen, 1<<4)
			s.Volumes = list(d, &d.volumes, d.volume)
		case "initContainers":
			d.once(&seen, 1<<5)
			s.InitContainers = d.containerList()
		case "containers":
			d.once(&seen, 1<<6)
			s.Containers = d.containerList()
		default:
			d.other(k, specKeys)
		}
	})
}

func (d *decoder) volume(v *corev1.Volume) {
	var seen uint8
	d.object(func(k []byte) {
		switch string(k) {
		case "name":
			d.once(&seen, 1)
			v.Name = d.str()
		default:
			d.other(k, volumeKeys)
		}
	})
}

func (d *decoder) containerList() []corev1.Container {
	return list(d, &d.containers, d.container)
}

func (d *decoder) container(c *corev1.Container) {
	var seen uint16
	once := func(bit uint16) {
		if seen&bit != 0 {
			d.giveUp()
		}
		seen |= bit
	}
	d.object(func(k []byte) {
		switch string(k) {
		case "name":
			once(1 << 0)
			c.Name = d.str()
		case "image":
			once(1 << 1)
			c.Image = d.str()
		case "command":
			once(1 << 2)
			c.Command = d.strings()
		case "args":
			once(1 << 3)
			c.Args = d.strings()
		case "env":
			once(1 << 4)
			c.Env = list(d, &d.envs, d.envVar)
		case "envFrom":
			once(1 << 5)
			c.EnvFrom = list(d, &d.envFroms, d.envFrom)
		case "volumeMounts":
			once(1 << 6)
			c.VolumeMounts = list(d, &d.mounts, d.volumeMount)
		case "restartPolicy":
			once(1 << 7)
			p := corev1.ContainerRestartPolicy(d.str())
			c.RestartPolicy = &p
		case "livenessProbe":
			once(1 << 8)
			c.LivenessProbe = d.probe()
		case "readinessProbe":
			once(1 << 9)
			c.ReadinessProbe = d.probe()
		case "startupProbe":
			once(1 << 10)
			c.StartupProbe = d.probe()
		default:
			d.other(k, containerKeys)
		}
	})
}

// probe reads the exec command of a probe (all the mutation reads of it);
// a probe without exec reads as nil.
func (d *decoder) probe() *corev1.Probe {
	if d.next() != '{' {
		d.giveUp()
	}
	var p *corev1.Probe
	d.object(func(k []byte) {
		switch string(k) {
		case "exec":
			if p != nil {
				d.giveUp() // repeated
			}
			if d.next() != '{' {
				d.giveUp()
			}
			p = &corev1.Probe{ProbeHandler: corev1.ProbeHandler{Exec: &corev1.ExecAction{}}}
			var es uint8
			d.object(func(k []byte) {
				switch string(k) {
				case "command":
					d.once(&es, 1)
					p.Exec.Command = d.strings()
				default:
					d.other(k, execKeys)
				}
			})
		default:
			d.other(k, probeKeys)
		}
	})
	return p
}

// The small structs below are read by hand when they hold only the keys
// listed; any other key (or a repeated one) and the struct is decoded again
// from its own bytes by encoding/json, which then decides.

// leaf runs a hand reader over one object and falls back to encoding/json
// into v when read reports a key it does not handle.
func (d *decoder) leaf(v any, reset func(), read func(k []byte) bool) {
	if d.next() != '{' {
		d.giveUp()
	}
	start := d.i
	fallback := false
	d.object(func(k []byte) {
		if fallback || !read(k) {
			fallback = true
			d.skip()
		}
	})
	if fallback {
		reset()
		if err := json.Unmarshal(d.b[start:d.i], v); err != nil {
			d.giveUp()
		}
	}
}

func (d *decoder) localRef(r *corev1.LocalObjectReference) {
	var seen uint8
	d.leaf(r, func() { *r = corev1.LocalObjectReference{} }, func(k []byte) bool {
		switch string(k) {
		case "name":
			return d.first(&seen, 1) && d.setStr(&r.Name)
		}
		return false
	})
}

// first records bit in seen and reports whether it was not set yet.
func (d *decoder) first(seen *uint8, bit uint8) bool {
	if *seen&bit != 0 {
		return false
	}
	*seen |= bit
	return true
}

// setStr reads a string into p; it reports true so that it chains.
func (d *decoder) setStr(p *string) bool {
	*p = d.str()
	return true
}

func (d *decoder) setBool(p *bool) bool {
	*p = d.boolean()
	return true
}

func (d *decoder) envVar(e *corev1.EnvVar) {
	if d.plainEnvVar(e) {
		return
	}
	var seen uint8
	d.leaf(e, func() { *e = corev1.EnvVar{} }, func(k []byte) bool {
		switch string(k) {
		case "name":
			return d.first(&seen, 1) && d.setStr(&e.Name)
		case "value":
			return d.first(&seen, 2) && d.setStr(&e.Value)
		case "valueFrom":
			if !d.first(&seen, 4) {
				return false
			}
			e.ValueFrom = &corev1.EnvVarSource{}
			d.envVarSource(e.ValueFrom)
			return true
		}
		return false
	})
}

// plainEnvVar reads the commonest env var, {"name":"…","value":"…"} or
// {"name":"…"} written without white space, with direct byte comparisons
// (the general reader dispatches every key through two closures). For any
// other shape it leaves d as it was and returns false.
func (d *decoder) plainEnvVar(e *corev1.EnvVar) bool {
	const open, value = `{"name":"`, `,"value":"`
	start := d.i
	if !bytes.HasPrefix(d.b[start:], []byte(open)) {
		return false
	}
	d.i += len(open) - 1 // at the quote
	name, val := d.str(), ""
	if bytes.HasPrefix(d.b[d.i:], []byte(value)) {
		d.i += len(value) - 1
		val = d.str()
	}
	if d.i >= len(d.b) || d.b[d.i] != '}' {
		d.i = start
		return false
	}
	d.i++
	e.Name, e.Value = name, val
	return true
}

func (d *decoder) envVarSource(s *corev1.EnvVarSource) {
	var seen uint8
	d.leaf(s, func() { *s = corev1.EnvVarSource{} }, func(k []byte) bool {
		switch string(k) {
		case "secretKeyRef":
			if !d.first(&seen, 1) {
				return false
			}
			s.SecretKeyRef = &corev1.SecretKeySelector{}
			d.keyRef(s.SecretKeyRef, &s.SecretKeyRef.Name, &s.SecretKeyRef.Key, &s.SecretKeyRef.Optional,
				func() { *s.SecretKeyRef = corev1.SecretKeySelector{} })
			return true
		case "configMapKeyRef":
			if !d.first(&seen, 2) {
				return false
			}
			s.ConfigMapKeyRef = &corev1.ConfigMapKeySelector{}
			d.keyRef(s.ConfigMapKeyRef, &s.ConfigMapKeyRef.Name, &s.ConfigMapKeyRef.Key, &s.ConfigMapKeyRef.Optional,
				func() { *s.ConfigMapKeyRef = corev1.ConfigMapKeySelector{} })
			return true
		case "fieldRef":
			if !d.first(&seen, 4) {
				return false
			}
			f := &corev1.ObjectFieldSelector{}
			s.FieldRef = f
			var fs uint8
			d.leaf(f, func() { *f = corev1.ObjectFieldSelector{} }, func(k []byte) bool {
				switch string(k) {
				case "apiVersion":
					return d.first(&fs, 1) && d.setStr(&f.APIVersion)
				case "fieldPath":
					return d.first(&fs, 2) && d.setStr(&f.FieldPath)
				}
				return false
			})
			return true
		}
		return false
	})
}

// keyRef reads a SecretKeySelector or ConfigMapKeySelector (the same keys).
func (d *decoder) keyRef(v any, name, key *string, optional **bool, reset func()) {
	var seen uint8
	d.leaf(v, reset, func(k []byte) bool {
		switch string(k) {
		case "name":
			return d.first(&seen, 1) && d.setStr(name)
		case "key":
			return d.first(&seen, 2) && d.setStr(key)
		case "optional":
			if !d.first(&seen, 4) {
				return false
			}
			b := d.boolean()
			*optional = &b
			return true
		}
		return false
	})
}

func (d *decoder) envFrom(e *corev1.EnvFromSource) {
	var seen uint8
	d.leaf(e, func() { *e = corev1.EnvFromSource{} }, func(k []byte) bool {
		switch string(k) {
		case "prefix":
			return d.first(&seen, 1) && d.setStr(&e.Prefix)
		case "secretRef":
			if !d.first(&seen, 2) {
				return false
			}
			e.SecretRef = &corev1.SecretEnvSource{}
			d.nameRef(e.SecretRef, &e.SecretRef.Name, &e.SecretRef.Optional, func() { *e.SecretRef = corev1.SecretEnvSource{} })
			return true
		case "configMapRef":
			if !d.first(&seen, 4) {
				return false
			}
			e.ConfigMapRef = &corev1.ConfigMapEnvSource{}
			d.nameRef(e.ConfigMapRef, &e.ConfigMapRef.Name, &e.ConfigMapRef.Optional, func() { *e.ConfigMapRef = corev1.ConfigMapEnvSource{} })
			return true
		}
		return false
	})
}

// nameRef reads a SecretEnvSource or ConfigMapEnvSource.
func (d *decoder) nameRef(v any, name *string, optional **bool, reset func()) {
	var seen uint8
	d.leaf(v, reset, func(k []byte) bool {
		switch string(k) {
		case "name":
			return d.first(&seen, 1) && d.setStr(name)
		case "optional":
			if !d.first(&seen, 2) {
				return false
			}
			b := d.boolean()
			*optional = &b
			return true
		}
		return false
	})
}

func (d *decoder) volumeMount(m *corev1.VolumeMount) {
	var seen uint8
	d.leaf(m, func() { *m = corev1.VolumeMount{} }, func(k []byte) bool {
		switch string(k) {
		case "name":
			return d.first(&seen, 1) && d.setStr(&m.Name)
		case "mountPath":
			return d.first(&seen, 2) && d.setStr(&m.MountPath)
		case "subPath":
			return d.first(&seen, 4) && d.setStr(&m.SubPath)
		case "readOnly":
			return d.first(&seen, 8) && d.setBool(&m.ReadOnly)
		}
		return false
	})
}
