package kubelet

import (
	"fmt"
	"strings"
	"testing"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

type fakeObjects struct {
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (f fakeObjects) Secret(name string) (*corev1.Secret, error) {
	if s, ok := f.secrets[name]; ok {
		return s, nil
	}
	return nil, fmt.Errorf("secret %s: %w", name, ErrNotFound)
}

func (f fakeObjects) ConfigMap(name string) (*corev1.ConfigMap, error) {
	if c, ok := f.configMaps[name]; ok {
		return c, nil
	}
	return nil, fmt.Errorf("configmap %s: %w", name, ErrNotFound)
}

var testObjects = fakeObjects{
	secrets: map[string]*corev1.Secret{
		"db": {Data: map[string][]byte{"user": []byte("admin"), "password": []byte("pw")}},
	},
	configMaps: map[string]*corev1.ConfigMap{
		"cfg":   {Data: map[string]string{"mode": "fast", "bad=key": "x", "LEVEL": "info"}, BinaryData: map[string][]byte{"bin": []byte("b")}},
		"other": {Data: map[string]string{"mode": "slow"}},
	},
}

var testPod = &corev1.Pod{
	ObjectMeta: metav1.ObjectMeta{
		Name: "web-1", Namespace: "shop", UID: "uid-1",
		Labels:      map[string]string{"app": "web", "tier": "front"},
		Annotations: map[string]string{"note": `say "hi"`},
	},
	Spec: corev1.PodSpec{ServiceAccountName: "web-sa", NodeName: "node-a"},
}

func ptr[T any](v T) *T { return &v }

func TestContainerEnv(t *testing.T) {
	service := map[string]string{"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443"}
	field := func(p string) *corev1.EnvVarSource {
		return &corev1.EnvVarSource{FieldRef: &corev1.ObjectFieldSelector{FieldPath: p}}
	}
	tests := []struct {
		name    string
		c       corev1.Container
		want    map[string]string // subset
		absent  []string
		wantErr string
	}{
		{
			name: "plain values and expansion order",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "A", Value: "a"},
				{Name: "B", Value: "$(A)-$(C)-$(KUBERNETES_SERVICE_PORT)"},
				{Name: "C", Value: "c"},
				{Name: "D", Value: "$$(A)"},
				{Name: "E"},
			}},
			want: map[string]string{"A": "a", "B": "a-$(C)-6443", "C": "c", "D": "$(A)", "E": "", "KUBERNETES_SERVICE_HOST": "127.0.0.1"},
		},
		{
			name: "envFrom first with prefix, env overrides, later envFrom wins",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "other"}}},
					{Prefix: "DB_", SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}},
				},
				Env: []corev1.EnvVar{{Name: "LEVEL", Value: "debug-$(DB_user)"}},
			},
			want:   map[string]string{"mode": "slow", "LEVEL": "debug-admin", "DB_user": "admin", "DB_password": "pw"},
			absent: []string{"bad=key", "bin"},
		},
		{
			name: "envFrom values are not expanded",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}}}},
				Env:     []corev1.EnvVar{{Name: "user", Value: "$(password)"}},
			},
			want: map[string]string{"user": "pw"},
		},
		{
			name: "optional missing sources are skipped",
			c: corev1.Container{
				EnvFrom: []corev1.EnvFromSource{
					{SecretRef: &corev1.SecretEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
					{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Optional: ptr(true)}},
				},
				Env: []corev1.EnvVar{
					{Name: "S1", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k", Optional: ptr(true)}}},
					{Name: "S2", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "nokey", Optional: ptr(true)}}},
					{Name: "C1", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "nokey", Optional: ptr(true)}}},
				},
			},
			absent: []string{"S1", "S2", "C1"},
		},
		{
			name: "valueFrom keys and fields, not expanded",
			c: corev1.Container{Env: []corev1.EnvVar{
				{Name: "PW", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "password"}}},
				{Name: "MODE", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "mode"}}},
				{Name: "BIN", ValueFrom: &corev1.EnvVarSource{ConfigMapKeyRef: &corev1.ConfigMapKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "cfg"}, Key: "bin"}}},
				{Name: "NAME", ValueFrom: field("metadata.name")},
				{Name: "NS", ValueFrom: field("metadata.namespace")},
				{Name: "UID", ValueFrom: field("metadata.uid")},
				{Name: "APP", ValueFrom: field("metadata.labels['app']")},
				{Name: "LABELS", ValueFrom: field("metadata.labels")},
				{Name: "NOTE", ValueFrom: field("metadata.annotations['note']")},
				{Name: "SA", ValueFrom: field("spec.serviceAccountName")},
				{Name: "NODE", ValueFrom: field("spec.nodeName")},
				{Name: "IP", ValueFrom: field("status.podIP")},
				{Name: "REF", Value: "$(NAME).$(NS)"},
			}},
			want: map[string]string{
				"PW": "pw", "MODE": "fast", "BIN": "b", "NAME": "web-1", "NS": "shop", "UID": "uid-1",
				"APP": "web", "LABELS": "app=\"web\"\ntier=\"front\"", "NOTE": `say "hi"`, "SA": "web-sa",
				"NODE": "node-a", "IP": "127.0.0.1", "REF": "web-1.shop",
			},
		},
		{
			name:    "missing secret",
			c:       corev1.Container{Name: "app", Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}, Key: "k"}}}}},
			wantErr: "failed to resolve env X of container app",
		},
		{
			name:    "missing key",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{LocalObjectReference: corev1.LocalObjectReference{Name: "db"}, Key: "k"}}}}},
			wantErr: `secret db has no key "k"`,
		},
		{
			name:    "missing envFrom configmap",
			c:       corev1.Container{EnvFrom: []corev1.EnvFromSource{{ConfigMapRef: &corev1.ConfigMapEnvSource{LocalObjectReference: corev1.LocalObjectReference{Name: "nope"}}}}},
			wantErr: "failed to read envFrom configmap nope",
		},
		{
			name:    "unsupported field",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: field("spec.hostname")}}},
			wantErr: `field "spec.hostname" is not supported`,
		},
		{
			name:    "resourceFieldRef",
			c:       corev1.Container{Env: []corev1.EnvVar{{Name: "X", ValueFrom: &corev1.EnvVarSource{ResourceFieldRef: &corev1.ResourceFieldSelector{Resource: "limits.cpu"}}}}},
			wantErr: "not supported",
		},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			got, err := ContainerEnv(testPod, &tt.c, testObjects, service)
			if tt.wantErr != "" {
				if err == nil || !strings.Contains(err.Error(), tt.wantErr) {
					t.Fatalf("err = %v, want it to contain %q", err, tt.wantErr)
				}
				return
			}
			if err != nil {
				t.Fatal(err)
			}
			for k, v := range tt.want {
				if g, ok := got[k]; !ok || g != v {
					t.Errorf("%s = %q (set %v), want %q", k, g, ok, v)
				}
			}
			for _, k := range tt.absent {
				if _, ok := got[k]; ok {
					t.Errorf("%s is set, want it absent", k)
				}
			}
		})
	}
}

func TestProcessEnv(t *testing.T) {
	got := ProcessEnv(map[string]string{"PATH": "/bin", "HOME": "/root"}, map[string]string{"PATH": "/x", "A": "1"})
	want := "A=1,HOME=/root,PATH=/x"
	if strings.Join(got, ",") != want {
		t.Errorf("ProcessEnv = %v, want %s", got, want)
	}
}

func TestServiceEnv(t *testing.T) {
	got, err := ServiceEnv("127.0.0.1:6443")
	if err != nil {
		t.Fatal(err)
	}
	want := map[string]string{
		"KUBERNETES_SERVICE_HOST": "127.0.0.1", "KUBERNETES_SERVICE_PORT": "6443",
		"KUBERNETES_PORT": "tcp://127.0.0.1:6443", "KUBERNETES_PORT_6443_TCP_ADDR": "127.0.0.1",
	}
	for k, v := range want {
		if got[k] != v {
			t.Errorf("%s = %q, want %q", k, got[k], v)
		}
	}
	if _, err := ServiceEnv("no-port"); err == nil {
		t.Error("want error without a port")
	}
}
