package registry

import (
	"slices"
	"testing"
)

func TestResolve(t *testing.T) {
	img := ImageConfig{Entrypoint: []string{"/entry", "-x"}, Cmd: []string{"serve", "--port=80"}}
	tests := []struct {
		name          string
		cfg           ImageConfig
		command, args []string
		want          []string
	}{
		{"neither: entrypoint + cmd", img, nil, nil, []string{"/entry", "-x", "serve", "--port=80"}},
		{"args only: entrypoint + args, cmd dropped", img, nil, []string{"worker"}, []string{"/entry", "-x", "worker"}},
		{"command only: image ignored", img, []string{"/bin/sh"}, nil, []string{"/bin/sh"}},
		{"command and args", img, []string{"/bin/sh"}, []string{"-c", "echo"}, []string{"/bin/sh", "-c", "echo"}},
		{"image with cmd only", ImageConfig{Cmd: []string{"redis-server"}}, nil, nil, []string{"redis-server"}},
		{"image with cmd only, args given", ImageConfig{Cmd: []string{"redis-server"}}, nil, []string{"--port", "1"}, []string{"--port", "1"}},
		{"empty image, nothing given", ImageConfig{}, nil, nil, nil},
		{"empty slices are absent", img, []string{}, []string{}, []string{"/entry", "-x", "serve", "--port=80"}},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got := Resolve(tt.cfg, tt.command, tt.args)
			if !slices.Equal(got, tt.want) {
				t.Fatalf("Resolve = %q, want %q", got, tt.want)
			}
			if len(got) > 0 && len(tt.cfg.Entrypoint) > 0 && &got[0] == &tt.cfg.Entrypoint[0] {
				t.Fatal("result aliases the config")
			}
		})
	}
}
