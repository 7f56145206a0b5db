package envinject

import (
	"errors"
	"slices"
	"testing"

	corev1 "k8s.io/api/core/v1"
)

func TestCheckVaultAddr(t *testing.T) {
	const own = "https://vault.vault-infra:8200"
	tests := []struct {
		name  string
		raw   string
		allow []string
		ok    bool
	}{
		{"own address", "https://vault.vault-infra:8200", nil, true},
		{"own address case", "https://VAULT.Vault-Infra:8200", nil, true},
		{"own address trailing dot", "https://vault.vault-infra.:8200", nil, false},
		{"own address trailing slash", "https://vault.vault-infra:8200/", nil, true},
		{"own address other path", "https://vault.vault-infra:8200/v1", nil, false},
		{"empty", "", []string{"*"}, false},
		{"other without allow-list", "https://vault.other:8200", nil, false},
		{"allow-listed", "https://vault.other:8200/", []string{"https://vault.other:8200"}, true},
		{"allow-list default port not filled in", "https://vault.other/", []string{"https://vault.other:443"}, false},
		{"allow-list port not dropped", "https://vault.other:443", []string{"https://vault.other"}, false},
		{"allow-list path", "https://gw.example/vault/", []string{"https://gw.example/vault"}, true},
		{"allow-list path differs", "https://gw.example/other", []string{"https://gw.example/vault"}, false},
		{"allow-list path missing", "https://gw.example/", []string{"https://gw.example/vault"}, false},
		{"allow-list path prefix only", "https://gw.example/vault/x", []string{"https://gw.example/vault"}, false},
		{"allow-list loopback", "http://127.0.0.1:8200", []string{"http://127.0.0.1:8200"}, true},
		{"allow-list private", "https://10.0.0.5:8200", []string{"https://10.0.0.5:8200"}, true},
		{"allow-list scheme differs", "http://vault.other:8200", []string{"https://vault.other:8200"}, false},
		{"allow-list port differs", "https://vault.other:8201", []string{"https://vault.other:8200"}, false},
		{"wildcard", "https://anything.example:8200", []string{"*"}, true},
		{"aws metadata", "http://169.254.169.254/", []string{"*"}, false},
		{"aws metadata allow-listed explicitly", "http://169.254.169.254/", []string{"http://169.254.169.254"}, false},
		{"ecs metadata", "http://169.254.170.2/", []string{"*"}, false},
		{"ipv4-mapped ipv6", "http://[::ffff:169.254.169.254]/", []string{"*"}, false},
		{"aws ipv6", "http://[fd00:ec2::254]/", []string{"*"}, false},
		{"gcp ipv6", "http://[fd20:ce::254]/", []string{"*"}, false},
		{"nat64", "http://[64:ff9b::a9fe:a9fe]/", []string{"*"}, false},
		{"nat64 dotted", "http://[64:ff9b::169.254.169.254]/", []string{"*"}, false},
		{"6to4", "http://[2002:a9fe:a9fe::]/", []string{"*"}, false},
		{"ipv4-compatible", "http://[::a9fe:a9fe]/", []string{"*"}, false},
		{"ipv4-compatible dotted", "http://[::169.254.169.254]/", []string{"*"}, false},
		{"nat64 ordinary", "https://[64:ff9b::a00:1]:8200", []string{"*"}, true},
		{"link-local ipv6 zone", "http://[fe80::1%25eth0]/", []string{"*"}, false},
		{"gcp", "http://metadata.google.internal/", []string{"*"}, false},
		{"gcp upper", "http://METADATA.GOOGLE.INTERNAL./", []string{"*"}, false},
		{"alibaba", "http://100.100.100.200/", []string{"*"}, false},
		{"decimal", "http://2852039166/", []string{"*"}, false},
		{"hex", "http://0xa9fea9fe/", []string{"*"}, false},
		{"octal dotted", "http://0251.0376.0251.0376/", []string{"*"}, false},
		{"short dotted", "http://169.254.43518/", []string{"*"}, false},
		{"host with digits ok", "https://db1.example:8200", []string{"*"}, true},
		{"userinfo", "https://u:p@vault.other:8200", []string{"*"}, false},
		{"user only", "https://u@vault.other:8200", []string{"*"}, false},
		{"query", "https://vault.other:8200/?x=1", []string{"*"}, false},
		{"fragment", "https://vault.other:8200/#x", []string{"*"}, false},
		{"file", "file:///etc/passwd", []string{"*"}, false},
		{"gopher", "gopher://vault:70", []string{"*"}, false},
		{"relative", "vault:8200", []string{"*"}, false},
		{"empty host", "https://:8200", []string{"*"}, false},
	}
	for _, tc := range tests {
		t.Run(tc.name, func(t *testing.T) {
			_, err := checkVaultAddr(tc.raw, own, tc.allow)
			if (err == nil) != tc.ok {
				t.Fatalf("checkVaultAddr(%q) err = %v, want ok=%v", tc.raw, err, tc.ok)
			}
			var ve *VaultAddrError
			if err != nil && !errors.As(err, &ve) {
				t.Fatalf("error is %T, want *VaultAddrError", err)
			}
		})
	}
}

func TestPlatformValues(t *testing.T) {
	pod := &corev1.Pod{Spec: corev1.PodSpec{
		NodeSelector: map[string]string{"kubernetes.io/arch": "arm64"},
		Affinity: &corev1.Affinity{NodeAffinity: &corev1.NodeAffinity{RequiredDuringSchedulingIgnoredDuringExecution: &corev1.NodeSelector{
			NodeSelectorTerms: []corev1.NodeSelectorTerm{{MatchExpressions: []corev1.NodeSelectorRequirement{
				{Key: "kubernetes.io/os", Operator: corev1.NodeSelectorOpIn, Values: []string{"linux"}},
				{Key: "kubernetes.io/arch", Operator: corev1.NodeSelectorOpNotIn, Values: []string{"s390x"}},
			}}},
		}}},
	}}
	tests := []struct {
		label string
		want  []string
	}{
		{"kubernetes.io/arch", []string{"arm64"}},
		{"kubernetes.io/os", []string{"linux"}},
		{"example.com/none", nil},
	}
	for _, tc := range tests {
		t.Run(tc.label, func(t *testing.T) {
			if got := platformValues(pod, tc.label); !slices.Equal(got, tc.want) {
				t.Fatalf("got %v, want %v", got, tc.want)
			}
		})
	}
}
