package envinject

import (
	"bytes"
	"encoding/json"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestAppendJSONValues(t *testing.T) {
	prop := corev1.MountPropagationHostToContainer
	for name, v := range map[string]any{
		"string":            "a<b>&\"c\"\\\n\u2028\x01é\xff",
		"nil strings":       []string(nil),
		"strings":           []string{"", "x"},
		"env var":           corev1.EnvVar{Name: "A", Value: "v"},
		"env var no value":  corev1.EnvVar{Name: "A"},
		"env var valueFrom": corev1.EnvVar{Name: "A", ValueFrom: &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: "metadata.name"}}},
		"mount":             corev1.VolumeMount{Name: "v", MountPath: "/v", ReadOnly: true, SubPath: "s"},
		"mount propagation": corev1.VolumeMount{Name: "v", MountPath: "/v", MountPropagation: &prop},
		"string map":        map[string]string{"b": "2", "a": "1", "<": ">"},
		"nil string map":    map[string]string(nil),
		"any map":           map[string]any{"name": "v", "emptyDir": map[string]any{"medium": "Memory"}, "n": 3},
		"list of maps":      []map[string]string{{"key": "ca.crt"}},
		"list of any":       []any{"a", true, corev1.VolumeMount{Name: "x"}, nil},
		"container":         containerJSON{Container: corev1.Container{Name: "c"}, Resources: initResources},
		"bool":              false,
		"empty list of any": []any{},
		"nil list of any":   []any(nil),
		"unsupported falls back": struct {
			A int `json:"a"`
		}{7},
	} {
		t.Run(name, func(t *testing.T) {
			got, err := appendJSON(nil, v)
			if err != nil {
				t.Fatal(err)
			}
			want, err := json.Marshal(v)
			if err != nil {
				t.Fatal(err)
			}
			if !bytes.Equal(got, want) {
				t.Fatalf("got %s, encoding/json %s", got, want)
			}
		})
	}
}

// FuzzAppendString: strings are escaped exactly as encoding/json escapes them.
func FuzzAppendString(f *testing.F) {
	for _, s := range []string{"", "plain", "a<b>&c", "\"\\/\b\f\n\r\t\x00\x1f\x7f", "é\u2028\u2029\U0001F600", "\xff\xfe", "a\xc3"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		want, err := json.Marshal(s)
		if err != nil {
			t.Fatal(err)
		}
		if got := appendString(nil, s); !bytes.Equal(got, want) {
			t.Fatalf("appendString(%q) = %s, encoding/json %s", s, got, want)
		}
	})
}
