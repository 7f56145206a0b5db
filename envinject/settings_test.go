package envinject

import (
	"reflect"
	"testing"
)

// TestSettingsOfPodsWithoutAnnotations: a pod that sets none of the
// webhook's annotations gets from the defaults NewMutator parsed exactly
// what parsing its annotations over the defaults gives.
func TestSettingsOfPodsWithoutAnnotations(t *testing.T) {
	for _, defaults := range []map[string]string{
		nil,
		{AnnVaultRole: "shared", AnnVaultServiceAccount: "vault-sa", AnnAgentCPURequest: "0.1", AnnEnvDaemon: "TRUE"},
		{AnnVaultPath: "k8s", AnnRunAsUser: "1000", AnnMutateProbes: "true"},
	} {
		m, err := NewMutator(Config{VaultAddr: "https://vault:8200", VaultEnvImage: "vault-env:1", LeastPrivilege: true, Defaults: defaults}, nil, nil)
		if err != nil {
			t.Fatal(err)
		}
		for _, ann := range []map[string]string{nil, {"app": "x", "vault.security.banzaicloud.io": "not a setting"}} {
			for _, sa := range []string{"default", "app-sa"} {
				got, err := m.settings(ann, sa)
				if err != nil {
					t.Fatal(err)
				}
				want, err := parseSettings(ann, defaults, &m.cfg, sa)
				if err != nil {
					t.Fatal(err)
				}
				if !reflect.DeepEqual(got, want) {
					t.Errorf("defaults %v, annotations %v, ServiceAccount %s:\n got %+v\nwant %+v", defaults, ann, sa, got, want)
				}
			}
		}
	}
}
