package reviewjson

import (
	"bytes"
	"encoding/binary"
	"encoding/json"
	"fmt"
	"math/bits"
	"math/rand/v2"
	"os"
	"path/filepath"
	"reflect"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// checkSameDecode fails when fast accepts body and its result differs from
// encoding/json's (projected onto the listed fields). It reports whether
// fast accepted body. When encoding/json finds the review well-formed but
// its object not a Pod, fast may still have read one: it does not check the
// types of the fields it skips.
func checkSameDecode(t *testing.T, body []byte) bool {
	t.Helper()
	fr, ok := fast(body)
	if !ok {
		return false
	}
	sr, err := slow(body)
	if err != nil {
		t.Fatalf("fast accepted a body encoding/json refuses (%v): %q", err, body)
	}
	if sr.Request != nil && sr.Request.Pod == nil && fr.Request != nil && fr.Request.Pod != nil {
		sr.Request.Pod = fr.Request.Pod
	}
	if !reflect.DeepEqual(fr, sr) {
		fj, _ := json.Marshal(fr)
		sj, _ := json.Marshal(sr)
		fp, sp := podOf(fr), podOf(sr)
		t.Fatalf("decoders differ on %q\nfast: %s %s\nslow: %s %s\n(nil and empty slices and maps count as different)", body, fj, fp, sj, sp)
	}
	return true
}

func podOf(r *Review) []byte {
	if r.Request == nil {
		return nil
	}
	b, _ := json.Marshal(r.Request.Pod)
	return b
}

// goldenReviews are the admission package's golden reviews.
func goldenReviews(t testing.TB) map[string][]byte {
	dirs, err := filepath.Glob("../testdata/golden/*/review.json")
	if err != nil || len(dirs) == 0 {
		t.Fatalf("no golden reviews: %v", err)
	}
	out := map[string][]byte{}
	for _, f := range dirs {
		b, err := os.ReadFile(f)
		if err != nil {
			t.Fatal(err)
		}
		out[filepath.Base(filepath.Dir(f))] = b
	}
	return out
}

func TestFastDecodeGoldens(t *testing.T) {
	for name, body := range goldenReviews(t) {
		if !checkSameDecode(t, body) {
			t.Errorf("%s: fast gave up on a golden review", name)
		}
	}
}

// TestFastDecodeCompact: the goldens without white space, as the apiserver
// sends them.
func TestFastDecodeCompact(t *testing.T) {
	for name, body := range goldenReviews(t) {
		if !checkSameDecode(t, compact(t, body)) {
			t.Errorf("%s: fast gave up on the compact golden review", name)
		}
	}
}

func compact(t testing.TB, body []byte) []byte {
	var b bytes.Buffer
	if err := json.Compact(&b, body); err != nil {
		t.Fatal(err)
	}
	return b.Bytes()
}

// TestFastDecodeEveryPodField decodes a Pod in which every field of every
// struct is set (so every small struct also takes its encoding/json path),
// and the same Pod with only the fields read by hand.
func TestFastDecodeEveryPodField(t *testing.T) {
	var full corev1.Pod
	fill(reflect.ValueOf(&full).Elem(), "pod", 0)
	pod, err := json.Marshal(&full)
	if err != nil {
		t.Fatal(err)
	}
	if !checkSameDecode(t, reviewOf(pod)) {
		t.Fatalf("fast gave up on a pod with every field set: %s", pod)
	}
	r, _ := fast(reviewOf(pod))
	req := r.Request
	if got := req.Pod.Spec.Containers[0].Env[0].ValueFrom; got == nil || got.ResourceFieldRef == nil || got.FileKeyRef == nil {
		t.Errorf("valueFrom lost fields it does not read by hand: %+v", got)
	}
	if got := req.Pod.Spec.Containers[0].VolumeMounts[0]; got.MountPropagation == nil || got.SubPathExpr == "" {
		t.Errorf("volume mount lost fields it does not read by hand: %+v", got)
	}
	if req.Pod.Spec.Affinity == nil || req.Pod.Spec.Containers[0].LivenessProbe == nil {
		t.Errorf("affinity or probe lost")
	}
}

func reviewOf(object []byte) []byte {
	return []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u1","kind":{"group":"","version":"v1","kind":"Pod"},` +
		`"resource":{"group":"","version":"v1","resource":"pods"},"namespace":"apps","operation":"CREATE","userInfo":{"username":"admin","groups":["system:masters"]},` +
		`"object":` + string(object) + `,"oldObject":null,"dryRun":false,"options":{"kind":"CreateOptions","apiVersion":"meta.k8s.io/v1"}}}`)
}

// fill sets every field reachable from v to a non-zero value derived from
// its path.
func fill(v reflect.Value, path string, depth int) {
	if depth > 12 {
		return
	}
	// Types with their own JSON form (apimachinery's Quantity, IntOrString,
	// Time, ...; named here by package path so that the test does not
	// import apimachinery) are set through it.
	if strings.HasPrefix(v.Type().PkgPath(), "k8s.io/apimachinery/") {
		if u, ok := v.Addr().Interface().(json.Unmarshaler); ok {
			for _, lit := range []string{`"250m"`, `"2026-11-25T00:00:00Z"`, `{}`} {
				if u.UnmarshalJSON([]byte(lit)) == nil {
					return
				}
			}
		}
	}
	switch v.Kind() {
	case reflect.String:
		v.SetString(path)
	case reflect.Bool:
		v.SetBool(true)
	case reflect.Int, reflect.Int32, reflect.Int64:
		v.SetInt(7)
	case reflect.Uint8, reflect.Uint32, reflect.Uint64:
		v.SetUint(7)
	case reflect.Pointer:
		v.Set(reflect.New(v.Type().Elem()))
		fill(v.Elem(), path, depth+1)
	case reflect.Slice:
		v.Set(reflect.MakeSlice(v.Type(), 1, 1))
		fill(v.Index(0), path+"0", depth+1)
	case reflect.Map:
		m := reflect.MakeMap(v.Type())
		k := reflect.New(v.Type().Key()).Elem()
		fill(k, path+"-key", depth+1)
		e := reflect.New(v.Type().Elem()).Elem()
		fill(e, path+"-value", depth+1)
		m.SetMapIndex(k, e)
		v.Set(m)
	case reflect.Struct:
		for i := 0; i < v.NumField(); i++ {
			if v.Type().Field(i).IsExported() {
				fill(v.Field(i), path+"."+v.Type().Field(i).Name, depth+1)
			}
		}
	}
}

// TestFastDecodeGivesUp lists shapes the apiserver does not send: fast
// leaves each to encoding/json, and Decode's answer is encoding/json's.
func TestFastDecodeGivesUp(t *testing.T) {
	obj := func(s string) []byte { return reviewOf([]byte(s)) }
	for name, body := range map[string][]byte{
		"key in another case":         obj(`{"Metadata":{"name":"a"},"spec":{"containers":[]}}`),
		"key with underscore":         obj(`{"metadata":{"generate_name":"a"},"spec":{"containers":[]}}`),
		"key with an escape":          obj(`{"metadata":{"n\u0061me":"a"},"spec":{"containers":[]}}`),
		"non-ASCII key":               obj(`{"metadata":{"naͫme":"a"},"spec":{"containers":[]}}`),
		"repeated key":                obj(`{"metadata":{"annotations":{"a":"1"},"annotations":{"b":"2"}},"spec":{}}`),
		"repeated map key":            obj(`{"metadata":{"annotations":{"a":"1","a":"2"}},"spec":{}}`),
		"null name":                   obj(`{"metadata":{"name":null},"spec":{}}`),
		"null containers":             obj(`{"spec":{"containers":null}}`),
		"null container":              obj(`{"spec":{"containers":[null]}}`),
		"number for a string":         obj(`{"metadata":{"name":5},"spec":{}}`),
		"object not a pod":            obj(`"pod"`),
		"object null":                 obj(`null`),
		"trailing garbage":            append(obj(`{}`), 'x'),
		"truncated":                   obj(`{"spec":{"containers":[{"name":"a"`),
		"bad number in skipped value": obj(`{"spec":{"priority":01}}`),
		"bad escape in skipped value": obj(`{"spec":{"hostname":"\x"}}`),
		"control char in string":      obj("{\"spec\":{\"hostname\":\"a\tb\"}}"),
		"env var name not a string":   obj(`{"spec":{"containers":[{"name":"a","env":[{"name":1}]}]}}`),
		"deep skipped value":          obj(`{"spec":{"x":` + strings.Repeat("[", 300) + strings.Repeat("]", 300) + `}}`),
		"request null":                []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":null}`),
		"dryRun null":                 []byte(`{"apiVersion":"admission.k8s.io/v1","kind":"AdmissionReview","request":{"uid":"u","dryRun":null}}`),
		"not JSON":                    []byte(`apiVersion: admission.k8s.io/v1`),
		"empty":                       nil,
		"affinity of the wrong type":  obj(`{"spec":{"affinity":[]}}`),
	} {
		t.Run(name, func(t *testing.T) {
			fr, fastErr := Decode(body)
			sr, slowErr := slow(body)
			if (fastErr == nil) != (slowErr == nil) {
				t.Fatalf("Decode error %v, encoding/json error %v", fastErr, slowErr)
			}
			if !reflect.DeepEqual(fr, sr) {
				t.Fatalf("Decode and encoding/json differ")
			}
			if checkSameDecode(t, body) {
				t.Fatalf("fast took it")
			}
		})
	}
	// Values fast does take although they are unusual (a small struct
	// with a key it does not read by hand is decoded by encoding/json).
	for name, body := range map[string][]byte{
		"env var with unknown key":     obj(`{"spec":{"containers":[{"name":"a","env":[{"name":"A","Value":"x"}]}]}}`),
		"env var with a repeated key":  obj(`{"spec":{"containers":[{"name":"a","env":[{"name":"A","value":"x","value":"y"}]}]}}`),
		"escaped key in skipped value": obj(`{"metadata":{"managedFields":[{"fieldsV1":{"k:{\"name\":\"app\"}":{}}}]},"spec":{}}`),
		"escapes in values":            obj(`{"metadata":{"name":"a\u0026b\"\\\/\b\f\n\r\t\ud83d\ude00é"},"spec":{"containers":[{"name":"x","args":["sh","-c","a \u003e b"]}]}}`),
		// Strings with escapes or invalid UTF-8 are decoded by encoding/json.
		"invalid UTF-8 value":       obj("{\"metadata\":{\"name\":\"a\xffb\"},\"spec\":{}}"),
		"unpaired surrogate":        obj(`{"metadata":{"name":"a\ud800b"},"spec":{}}`),
		"empty arrays and maps":     obj(`{"metadata":{"annotations":{}},"spec":{"containers":[],"volumes":[],"nodeSelector":{}}}`),
		"white space":               []byte(" \n{ \"apiVersion\" : \"admission.k8s.io/v1\" ,\t\"request\" : { \"object\" : { \"spec\" : { \"containers\" : [ { \"name\" : \"a\" , \"command\" : [ ] } ] } } } }\r\n"),
		"numbers in skipped values": obj(`{"spec":{"priority":-0.5e+3,"x":[0,1.25,2E9,-7]}}`),
		"env var shapes": obj(`{"spec":{"containers":[{"name":"a","env":[{"name":"A"},{"name":"B","value":"b"},{"name":"C\u0041","value":"\"c\""},` +
			`{"name":"D","value":""},{"value":"e","name":"E"},{"name":"F","valueFrom":{"fieldRef":{"fieldPath":"metadata.name"}}},{"name":"G","value":"g","x":1},{ "name":"H"}]}]}}`),
		"nested skipped values": obj(`{"spec":{"x":[{"a":[[],{},[{"b":null}]],"c":{"d":[true,false,"e",{}]}},[[[1]]]],"containers":[]}}`),
		"deepest skipped value": obj(`{"spec":{"x":` + strings.Repeat(`[{"k":`, 128) + `{}` + strings.Repeat("}]", 128) + `}}`),
	} {
		t.Run(name, func(t *testing.T) {
			if !checkSameDecode(t, body) {
				t.Fatalf("fast gave up on %s", body)
			}
		})
	}
}

// FuzzDecode: for any body, fast either gives up or decodes
// exactly what encoding/json decodes.
func FuzzDecode(f *testing.F) {
	for _, body := range goldenReviews(f) {
		f.Add(body)
	}
	f.Add(reviewOf([]byte(`{"metadata":{"annotations":{"a":"\u00e9"}},"spec":{"containers":[{"name":"a","env":[{"name":"A","valueFrom":{"secretKeyRef":{"name":"s","key":"k","optional":true}}}],"envFrom":[{"prefix":"P_","configMapRef":{"name":"c"}}],"volumeMounts":[{"name":"v","mountPath":"/v","readOnly":true}]}]}}`)))
	f.Fuzz(func(t *testing.T, body []byte) {
		checkSameDecode(t, body)
	})
}

// BenchmarkDecode is the fast decoding of a Deployment's pod with two
// containers, each with 10 plain variables and 3 vault: references (the
// shape of the benchmark's refs scenario), and encoding/json's decoding of
// the same review (the fallback).
func BenchmarkDecode(b *testing.B) {
	pod := corev1.Pod{}
	pod.GenerateName, pod.Namespace = "shop-api-7d9c8b6f5-", "shop"
	pod.Labels = map[string]string{"app": "shop-api", "pod-template-hash": "7d9c8b6f5"}
	pod.Spec.ServiceAccountName = "shop-api"
	for _, name := range []string{"api", "worker"} {
		c := corev1.Container{Name: name, Image: "registry.example:5000/shop/" + name + ":1.4.2", Command: []string{"/app/" + name}, Args: []string{"--port=8080"}}
		for i := range 10 {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SETTING_%d", i), Value: fmt.Sprintf("value-%d", i)})
		}
		for i := range 3 {
			c.Env = append(c.Env, corev1.EnvVar{Name: fmt.Sprintf("SECRET_%d", i), Value: fmt.Sprintf("vault:secret/data/shop/%s#key%d", name, i)})
		}
		c.VolumeMounts = []corev1.VolumeMount{{Name: "kube-api-access", MountPath: "/var/run/secrets/kubernetes.io/serviceaccount", ReadOnly: true}}
		pod.Spec.Containers = append(pod.Spec.Containers, c)
	}
	obj, err := json.Marshal(&pod)
	if err != nil {
		b.Fatal(err)
	}
	body := reviewOf(obj)
	b.Run("fast", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, ok := fast(body); !ok {
				b.Fatal("gave up")
			}
		}
	})
	b.Run("encoding-json", func(b *testing.B) {
		b.ReportAllocs()
		b.SetBytes(int64(len(body)))
		for b.Loop() {
			if _, err := slow(body); err != nil {
				b.Fatal(err)
			}
		}
	})
}

// TestSpecial8: the lowest byte special8 marks is the first byte of the
// word that is not a plainByte (none marked: every byte is plain), for every
// byte value at every position among plain, other special and random bytes.
func TestSpecial8(t *testing.T) {
	rng := rand.New(rand.NewPCG(1, 2))
	fills := [][8]byte{[8]byte([]byte("abcdefgh")), [8]byte([]byte("  \x1f\"\\\x7f\x80\xff"))}
	for range 64 {
		var w [8]byte
		for i := range w {
			w[i] = byte(rng.Uint32())
		}
		fills = append(fills, w)
	}
	for _, fill := range fills {
		for pos := range 8 {
			for c := range 256 {
				w := fill
				w[pos] = byte(c)
				want := 8
				for i, b := range w {
					if !plainByte[b] {
						want = i
						break
					}
				}
				got := 8
				if m := special8(binary.LittleEndian.Uint64(w[:])); m != 0 {
					got = bits.TrailingZeros64(m) / 8
				}
				if got != want {
					t.Fatalf("% x: first special byte at %d, special8 says %d", w, want, got)
				}
			}
		}
	}
}
