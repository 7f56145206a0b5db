package e2e

import (
	"bytes"
	"encoding/json"
	"flag"
	"os"
	"path/filepath"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

// whUpdate rewrites e2e/testdata/webhook/*.json (go test ./e2e -run Webhook -update).
var whUpdate = func() *bool {
	if f := flag.Lookup("update"); f != nil {
		if g, ok := f.Value.(flag.Getter); ok {
			if b, ok := g.Get().(bool); ok {
				return &b
			}
		}
	}
	return flag.Bool("update", false, "rewrite golden files")
}()

// whContainer is the part of a stored container the webhook is responsible
// for: what it wrote, and nothing the apiserver defaulted.
type whContainer struct {
	Name            string                         `json:"name"`
	Image           string                         `json:"image,omitempty"`
	Command         []string                       `json:"command,omitempty"`
	Args            []string                       `json:"args,omitempty"`
	RestartPolicy   *corev1.ContainerRestartPolicy `json:"restartPolicy,omitempty"`
	Env             []corev1.EnvVar                `json:"env,omitempty"`
	VolumeMounts    []corev1.VolumeMount           `json:"volumeMounts,omitempty"`
	SecurityContext *corev1.SecurityContext        `json:"securityContext,omitempty"`
	Resources       json.RawMessage                `json:"resources,omitempty"`
}

// whProjection is a stored pod reduced to the webhook's doing.
type whProjection struct {
	Mutated        string          `json:"mutated"`
	InitContainers []whContainer   `json:"initContainers,omitempty"`
	Containers     []whContainer   `json:"containers"`
	Volumes        []corev1.Volume `json:"volumes,omitempty"`
}

func whProject(t *testing.T, pod *corev1.Pod) whProjection {
	t.Helper()
	conv := func(cs []corev1.Container) []whContainer {
		var out []whContainer
		for _, c := range cs {
			w := whContainer{Name: c.Name, Image: c.Image, Command: c.Command, Args: c.Args, RestartPolicy: c.RestartPolicy}
			for _, e := range c.Env {
				if strings.HasPrefix(e.Name, "VAULT_") || e.Name == "KUBERNETES_SERVICE_ACCOUNT_TOKEN" {
					w.Env = append(w.Env, e)
				}
			}
			for _, m := range c.VolumeMounts {
				if strings.HasPrefix(m.Name, "vault-env") {
					w.VolumeMounts = append(w.VolumeMounts, m)
				}
			}
			if c.Name == "copy-vault-env" {
				w.SecurityContext = c.SecurityContext
				b, err := json.Marshal(c.Resources)
				if err != nil {
					t.Fatal(err)
				}
				w.Resources = b
			}
			out = append(out, w)
		}
		return out
	}
	p := whProjection{
		Mutated:        pod.Annotations["vault.security.banzaicloud.io/mutated"],
		InitContainers: conv(pod.Spec.InitContainers),
		Containers:     conv(pod.Spec.Containers),
	}
	for _, v := range pod.Spec.Volumes {
		if strings.HasPrefix(v.Name, "vault-env") {
			p.Volumes = append(p.Volumes, v)
		}
	}
	return p
}

// whCheckGolden compares the stored pod's projection with
// testdata/webhook/NAME.json; replace maps run-specific strings (namespace,
// ServiceAccount, addresses) to placeholders first.
func whCheckGolden(t *testing.T, name string, pod *corev1.Pod, replace map[string]string) {
	t.Helper()
	b, err := json.MarshalIndent(whProject(t, pod), "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	s := string(b) + "\n"
	// Longest first, so a name containing another is replaced whole.
	for len(replace) > 0 {
		longest := ""
		for k := range replace {
			if len(k) > len(longest) {
				longest = k
			}
		}
		s = strings.ReplaceAll(s, longest, replace[longest])
		delete(replace, longest)
	}
	file := filepath.Join("testdata", "webhook", name+".json")
	if *whUpdate {
		if err := os.WriteFile(file, []byte(s), 0o644); err != nil {
			t.Fatal(err)
		}
		return
	}
	want, err := os.ReadFile(file)
	if err != nil {
		t.Fatalf("no golden file (run with -update): %v", err)
	}
	if !bytes.Equal(want, []byte(s)) {
		t.Errorf("stored pod differs from %s (run with -update and review the diff):\n got: %s\nwant: %s", file, s, want)
	}
}
