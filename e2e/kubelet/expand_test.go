package kubelet

import "testing"

func TestExpand(t *testing.T) {
	vars := map[string]string{"A": "alpha", "B": "$(A)", "EMPTY": "", "WITH SPACE": "ws"}
	tests := []struct {
		name, in, want string
	}{
		{"plain", "hello", "hello"},
		{"empty", "", ""},
		{"one ref", "$(A)", "alpha"},
		{"embedded", "x-$(A)-y", "x-alpha-y"},
		{"two refs", "$(A)$(A)", "alphaalpha"},
		{"unknown kept", "$(NOPE)", "$(NOPE)"},
		{"empty value", "[$(EMPTY)]", "[]"},
		{"escaped", "$$(A)", "$(A)"},
		{"double escaped", "$$$$", "$$"},
		{"escape then ref", "$$$(A)", "$alpha"},
		{"no recursion", "$(B)", "$(A)"},
		{"trailing dollar", "cost$", "cost$"},
		{"shell var kept", "$HOME/x", "$HOME/x"},
		{"brace kept", "${A}", "${A}"},
		{"unterminated", "$(A", "$(A"},
		{"name runs to the first paren", "$( $(A)", "$( $(A)"},
		{"unterminated then ref", "$(A $$ $(A)", "$(A $$ $(A)"},
		{"dangling open then ref", "$(x$(A)", "$(x$(A)"},
		{"empty name", "$()", "$()"},
		{"name with space", "$(WITH SPACE)", "ws"},
		{"utf8 after dollar", "$é", "$é"},
		{"nested parens", "$(A))", "alpha)"},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Expand(tt.in, mapLookup(vars)); got != tt.want {
				t.Errorf("Expand(%q) = %q, want %q", tt.in, got, tt.want)
			}
		})
	}
}

func FuzzExpand(f *testing.F) {
	for _, s := range []string{"$(A)", "$$", "$(", "x$", "$$(A)$(B", "$(A)$(UNKNOWN)"} {
		f.Add(s)
	}
	f.Fuzz(func(t *testing.T, s string) {
		// Unknown references are kept verbatim, so with an empty mapping the
		// only change is $$ -> $: the output is never longer than the input.
		out := Expand(s, mapLookup())
		if len(out) > len(s) {
			t.Errorf("Expand(%q) = %q grew with no variables", s, out)
		}
		// Expanding with a mapping that knows every name to "" never panics
		// and removes every well-formed reference.
		_ = Expand(s, func(string) (string, bool) { return "", true })
	})
}
