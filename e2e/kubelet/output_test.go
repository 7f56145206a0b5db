package kubelet

import (
	"bytes"
	"sync"
	"testing"
)

func TestWatcher(t *testing.T) {
	tests := []struct {
		name   string
		needle string
		writes []string
		want   bool
	}{
		{"in one write", "ready", []string{"x ready y"}, true},
		{"split across writes", "ready", []string{"xx rea", "d", "y"}, true},
		{"absent", "ready", []string{"rea", "x", "dy"}, false},
		{"one byte needle", "!", []string{"a", "b!"}, true},
		{"empty needle never matches", "", []string{"anything"}, false},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			var out bytes.Buffer
			m := newWatcher(tt.needle)
			w := m.stream(&out)
			for _, s := range tt.writes {
				if _, err := w.Write([]byte(s)); err != nil {
					t.Fatal(err)
				}
			}
			got := false
			select {
			case <-m.seen:
				got = true
			default:
			}
			if got != tt.want {
				t.Errorf("seen = %v, want %v", got, tt.want)
			}
			var all string
			for _, s := range tt.writes {
				all += s
			}
			if out.String() != all {
				t.Errorf("passed through %q, want %q", out.String(), all)
			}
		})
	}
	// Writes after a match, and matches in both streams, do not panic.
	m := newWatcher("x")
	var a, b bytes.Buffer
	_, _ = m.stream(&a).Write([]byte("x"))
	_, _ = m.stream(&b).Write([]byte("xx"))
}

func TestPrefixWriter(t *testing.T) {
	var out bytes.Buffer
	var mu sync.Mutex
	w := &prefixWriter{mu: &mu, w: &out, prefix: []byte("[init a] ")}
	for _, s := range []string{"one\ntw", "o\n", "", "three"} {
		n, err := w.Write([]byte(s))
		if err != nil || n != len(s) {
			t.Fatalf("Write(%q) = %d, %v", s, n, err)
		}
	}
	want := "[init a] one\n[init a] two\n[init a] three"
	if out.String() != want {
		t.Errorf("got %q, want %q", out.String(), want)
	}
}
