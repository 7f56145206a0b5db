package admission

import (
	"bytes"
	"context"
	"encoding/json"
	"errors"
	"flag"
	"fmt"
	"net/http"
	"net/http/httptest"
	"os"
	"path/filepath"
	"sort"
	"strings"
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

var update = flag.Bool("update", false, "rewrite the golden files under testdata/golden")

// fakeLookups serves Secrets and ConfigMaps from maps keyed "ns/name".
type fakeLookups struct {
	secrets map[string]map[string]string
	cms     map[string]map[string]string
	fail    bool
}

func (f *fakeLookups) SecretData(_ context.Context, ns, name string) (map[string][]byte, error) {
	if f.fail {
		return nil, errors.New("connection refused")
	}
	d, ok := f.secrets[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("secret %s/%s: %w", ns, name, envinject.ErrNotFound)
	}
	out := map[string][]byte{}
	for k, v := range d {
		out[k] = []byte(v)
	}
	return out, nil
}

func (f *fakeLookups) ConfigMapData(_ context.Context, ns, name string) (map[string]string, error) {
	if f.fail {
		return nil, errors.New("connection refused")
	}
	d, ok := f.cms[ns+"/"+name]
	if !ok {
		return nil, fmt.Errorf("configmap %s/%s: %w", ns, name, envinject.ErrNotFound)
	}
	return d, nil
}

// manyEnvFrom is a pod whose container takes its environment from n
// Secrets (none of which exist).
func manyEnvFrom(n int) string {
	refs := make([]string, n)
	for i := range refs {
		refs[i] = fmt.Sprintf(`{"secretRef":{"name":"s%d"}}`, i)
	}
	return `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"envFrom":[` + strings.Join(refs, ",") + `]}]}}`
}

// fakeImages serves image configurations from a map keyed by image.
type fakeImages map[string]envinject.ImageConfig

func (f fakeImages) ImageConfig(_ context.Context, req envinject.ImageRequest) (envinject.ImageConfig, error) {
	c, ok := f[req.Image]
	if !ok {
		return envinject.ImageConfig{}, fmt.Errorf("manifest unknown: %s", req.Image)
	}
	return c, nil
}

// goldenCase is one review through the handler.
type goldenCase struct {
	name      string
	ns        string // default "apps"
	op        string // default CREATE
	dryRun    bool
	kind      string // default "Pod"
	pod       string // JSON
	cfg       func(*envinject.Config)
	secrets   map[string]map[string]string
	cms       map[string]map[string]string
	images    fakeImages
	lookupErr bool
}

const (
	podDirect = `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh","-c","echo $SECRET"],"env":[{"name":"SECRET","value":"vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY"}]}]}}`
	podPlain  = `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"PLAIN","value":"hello"}]}]}}`
)

// annotated returns podDirect with annotations.
func annotated(kv ...string) string {
	m := map[string]string{}
	for i := 0; i+1 < len(kv); i += 2 {
		k := kv[i]
		if !strings.Contains(k, "/") {
			k = envinject.AnnotationPrefix + k
		}
		m[k] = kv[i+1]
	}
	var p map[string]any
	if err := json.Unmarshal([]byte(podDirect), &p); err != nil {
		panic(err)
	}
	p["metadata"].(map[string]any)["annotations"] = m
	b, _ := json.Marshal(p)
	return string(b)
}

// agentPod is a two-container pod (app cats a rendered file, a plain
// sidecar) with the ServiceAccount token mounted, annotated with ann (JSON
// members); withRef gives app a vault: env reference too.
func agentPod(ann string, withRef bool) string {
	env := ""
	if withRef {
		env = `,"env":[{"name":"S","value":"vault:secret/data/x#y"}]`
	}
	return `{"metadata":{"name":"app","annotations":{` + ann + `}},"spec":{"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}],` +
		`"containers":[{"name":"app","image":"alpine","command":["cat","/vault/secrets/config"]` + env + `,"volumeMounts":[{"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]},` +
		`{"name":"side","image":"alpine","command":["sleep","1000"]}]}}`
}

func withEnv(env string) string {
	return `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[` + env + `]}]}}`
}

func withEnvFrom(envFrom string) string {
	return `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"envFrom":[` + envFrom + `]}]}}`
}

var refSecrets = map[string]map[string]string{
	"apps/aws":   {"AWS_SECRET_ACCESS_KEY": "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY", "REGION": "eu-west-1"},
	"apps/plain": {"USER": "admin"},
}
var refCMs = map[string]map[string]string{
	"apps/aws":   {"AWS_SECRET_ACCESS_KEY": "vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY"},
	"apps/plain": {"LOG": "debug"},
}

func goldenCases() []goldenCase {
	return []goldenCase{
		// Triggers: env values.
		{name: "value-direct", pod: podDirect},
		{name: "value-versioned", pod: withEnv(`{"name":"S","value":"vault:secret/data/a#k#2"}`)},
		{name: "value-write", pod: withEnv(`{"name":"S","value":">>vault:database/creds/app#password"}`)},
		{name: "value-transit", pod: withEnv(`{"name":"S","value":"vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w=="}`)},
		{name: "value-inline", pod: withEnv(`{"name":"DSN","value":"postgres://${vault:secret/data/db#user}:${vault:secret/data/db#password}@db:5432/app"}`)},
		{name: "value-inline-write", pod: withEnv(`{"name":"T","value":"token=${>>vault:auth/token/create#client_token}"}`)},
		{name: "value-vault-login", pod: withEnv(`{"name":"VAULT_TOKEN","value":"vault:login"}`)},
		{name: "no-references", pod: podPlain},
		{name: "no-env-at-all", pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"]}]}}`},
		// Triggers: Secrets and ConfigMaps.
		{name: "valuefrom-secret", pod: withEnv(`{"name":"K","valueFrom":{"secretKeyRef":{"name":"aws","key":"AWS_SECRET_ACCESS_KEY"}}}`), secrets: refSecrets},
		{name: "valuefrom-secret-plain-key", pod: withEnv(`{"name":"K","valueFrom":{"secretKeyRef":{"name":"aws","key":"REGION"}}}`), secrets: refSecrets},
		{name: "valuefrom-secret-missing", pod: withEnv(`{"name":"K","valueFrom":{"secretKeyRef":{"name":"nope","key":"k"}}}`), secrets: refSecrets},
		{name: "valuefrom-secret-optional-missing", pod: withEnv(`{"name":"K","valueFrom":{"secretKeyRef":{"name":"nope","key":"k","optional":true}}}`), secrets: refSecrets},
		{name: "valuefrom-configmap", pod: withEnv(`{"name":"K","valueFrom":{"configMapKeyRef":{"name":"aws","key":"AWS_SECRET_ACCESS_KEY"}}}`), cms: refCMs},
		{name: "valuefrom-configmap-plain", pod: withEnv(`{"name":"K","valueFrom":{"configMapKeyRef":{"name":"plain","key":"LOG"}}}`), cms: refCMs},
		{name: "envfrom-secret", pod: withEnvFrom(`{"secretRef":{"name":"aws"}}`), secrets: refSecrets},
		{name: "envfrom-secret-plain", pod: withEnvFrom(`{"secretRef":{"name":"plain"}}`), secrets: refSecrets},
		{name: "envfrom-configmap", pod: withEnvFrom(`{"prefix":"X_","configMapRef":{"name":"aws"}}`), cms: refCMs},
		{name: "envfrom-sets-vault-addr", pod: withEnvFrom(`{"configMapRef":{"name":"vaultcfg"}},{"secretRef":{"name":"aws"}}`), secrets: refSecrets,
			cms: map[string]map[string]string{"apps/vaultcfg": {"VAULT_ADDR": "https://team-vault:8200"}}},
		{name: "env-sets-vault-addr-and-proxy", pod: withEnv(`{"name":"VAULT_ADDR","value":"https://team-vault:8200"},{"name":"https_proxy","value":"http://proxy:3128"},{"name":"K","value":"vault:secret/data/a#k"}`)},
		{name: "envfrom-configmap-optional-missing", pod: withEnvFrom(`{"configMapRef":{"name":"nope","optional":true}}`), cms: refCMs},
		{name: "lookup-error", pod: withEnvFrom(`{"secretRef":{"name":"aws"}}`), lookupErr: true},
		{name: "from-path", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-env-from-path":"secret/data/app,secret/data/shared"}},"spec":{"containers":[{"name":"a","image":"alpine","command":["sh"]},{"name":"b","image":"alpine","command":["sleep","1"],"env":[{"name":"X","value":"1"}]}]}}`},
		// Container kinds.
		{name: "init-container", pod: `{"metadata":{"name":"app"},"spec":{"initContainers":[{"name":"migrate","image":"alpine","command":["migrate"],"env":[{"name":"DB","value":"vault:secret/data/db#dsn"}]},{"name":"plain","image":"alpine","command":["true"]}],"containers":[{"name":"app","image":"alpine","command":["sh"]}]}}`},
		{name: "native-sidecar", pod: `{"metadata":{"name":"app"},"spec":{"initContainers":[{"name":"proxy","image":"alpine","restartPolicy":"Always","command":["proxy"],"env":[{"name":"KEY","value":"vault:secret/data/proxy#key"}]}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/app#s"}]}]}}`},
		{name: "ephemeral-untouched", pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"]}],"ephemeralContainers":[{"name":"debug","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "two-containers-one-wrapped", pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"plain","image":"alpine","command":["sh"]},{"name":"app","image":"alpine","command":["sh"],"args":["-c","run"],"env":[{"name":"S","value":"vault:secret/data/x#y"}],"volumeMounts":[{"name":"data","mountPath":"/data"}]}],"volumes":[{"name":"data","emptyDir":{}}]}}`},
		// Settings written.
		{name: "user-vault-vars-win", pod: withEnv(`{"name":"VAULT_ADDR","value":"https://mine:8200"},{"name":"VAULT_ROLE","value":"mine"},{"name":"S","value":"vault:secret/data/x#y"}`)},
		{name: "existing-annotations-escaped", pod: `{"metadata":{"name":"app","annotations":{"example.com/owner":"team-a"}},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "service-account-role", pod: `{"metadata":{"name":"app"},"spec":{"serviceAccountName":"billing","containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "ann-vault-role", pod: annotated(envinject.AnnVaultRole, "reader")},
		{name: "ann-all-vault-env", pod: annotated(envinject.AnnVaultPath, "k8s-prod", envinject.AnnVaultAuthMethod, "jwt", envinject.AnnVaultSkipVerify, "true", envinject.AnnVaultClientTimeout, "30s",
			envinject.AnnVaultNamespace, "team-a", envinject.AnnIgnoreMissingSecrets, "true", envinject.AnnEnvDaemon, "true", envinject.AnnEnvDelay, "5s", envinject.AnnEnvPassthrough, "VAULT_ADDR,VAULT_ROLE",
			envinject.AnnLogLevel, "debug", envinject.AnnEnableJSONLog, "true", envinject.AnnTransitKeyID, "app-key", envinject.AnnTransitPath, "transit-prod", envinject.AnnTransitBatchSize, "50"),
			cfg: func(c *envinject.Config) { c.AllowSkipVerify = true }},
		{name: "ann-vault-tls-secret", pod: annotated(envinject.AnnVaultTLSSecret, "vault-tls")},
		{name: "ann-token-auth-mount", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/token-auth-mount":"vault-token:token"}},"spec":{"volumes":[{"name":"vault-token","secret":{"secretName":"vault-token"}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "ann-token-auth-mount-no-volume", pod: annotated(envinject.AnnTokenAuthMount, "vault-token:token")},
		{name: "ann-vault-agent", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-agent":"true","vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"}},"spec":{"volumes":[{"name":"kube-api-access","projected":{"sources":[{"serviceAccountToken":{"path":"token"}}]}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}],"volumeMounts":[{"name":"kube-api-access","mountPath":"/var/run/secrets/kubernetes.io/serviceaccount","readOnly":true}]}]}}`},
		{name: "ann-vault-agent-once", pod: annotated(envinject.AnnVaultAgent, "true", envinject.AnnVaultAgentConfigMap, "agent-config", envinject.AnnVaultAgentOnce, "true", envinject.AnnVaultImage, "hashicorp/vault:1.21", envinject.AnnVaultImagePullPolicy, "Always")},
		{name: "ann-vault-agent-no-configmap", pod: annotated(envinject.AnnVaultAgent, "true")},
		{name: "ann-mutate-probes", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/mutate-probes":"true"}},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}],"livenessProbe":{"exec":{"command":["check","$S"]}},"readinessProbe":{"httpGet":{"path":"/","port":8080}}}]}}`},
		{name: "ann-probes-not-mutated-by-default", pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}],"livenessProbe":{"exec":{"command":["check"]}}}]}}`},
		{name: "ann-security-context", pod: annotated(envinject.AnnRunAsNonRoot, "false", envinject.AnnRunAsUser, "1000", envinject.AnnRunAsGroup, "2000", envinject.AnnReadOnlyRootFS, "false", envinject.AnnAllowPrivEscalation, "true")},
		{name: "ann-run-as-user-zero", pod: annotated(envinject.AnnRunAsNonRoot, "false", envinject.AnnRunAsUser, "0", envinject.AnnRunAsGroup, "0")},
		{name: "ann-vault-env-image", pod: annotated(envinject.AnnEnvImage, "registry.example/vault-env:1.2.3", envinject.AnnEnvImagePullPolicy, "Always")},
		{name: "ann-sa-token-volume-name", pod: annotated(envinject.AnnSATokenVolumeName, "/var/run/secrets/vault")},
		{name: "ann-invalid-values", pod: annotated(envinject.AnnVaultSkipVerify, "maybe", envinject.AnnVaultClientTimeout, "soon", envinject.AnnVaultAuthMethod, "ldap"),
			cfg: func(c *envinject.Config) { c.AllowSkipVerify = true }},
		{name: "ann-mutate-bogus", pod: annotated(envinject.AnnMutate, "yes")},
		{name: "webhook-defaults", pod: podDirect, cfg: func(c *envinject.Config) {
			c.Defaults = map[string]string{envinject.AnnVaultSkipVerify: "true", envinject.AnnVaultPath: "cluster-a", envinject.AnnVaultRole: "fallback"}
		}},
		{name: "webhook-defaults-annotation-wins", pod: annotated(envinject.AnnVaultPath, "mine"), cfg: func(c *envinject.Config) {
			c.Defaults = map[string]string{envinject.AnnVaultPath: "cluster-a"}
		}},
		// vault-role templating.
		{name: "ann-vault-role-template", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-role":"{{.namespace}}-{{.serviceaccount}}"}},"spec":{"serviceAccountName":"billing","containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "ann-vault-role-template-all-keys", pod: `{"metadata":{"generateName":"web-7d9f-","annotations":{"vault.security.banzaicloud.io/vault-role":"{{.authmethod}}.{{.path}}.{{.namespace}}.{{.name}}{{.serviceaccount}}","vault.security.banzaicloud.io/vault-serviceaccount":"vault-reader","vault.security.banzaicloud.io/vault-path":"k8s-prod"}},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "ann-vault-role-template-unknown-key", pod: annotated(envinject.AnnVaultRole, "{{.namespace}}-{{.pod}}")},
		{name: "ann-vault-role-template-nested-unknown-key", pod: annotated(envinject.AnnVaultRole, `{{if .namespace}}{{.team}}{{end}}`)},
		{name: "ann-vault-role-template-parse-error", pod: annotated(envinject.AnnVaultRole, "{{.namespace")},
		{name: "ann-vault-role-template-empty", pod: annotated(envinject.AnnVaultRole, `{{""}}`)},
		{name: "webhook-default-role-template", pod: podDirect, cfg: func(c *envinject.Config) {
			c.Defaults = map[string]string{envinject.AnnVaultRole: "{{.namespace}}-apps"}
		}},
		// vault-skip-verify is the operator's unless VAULT_ALLOW_OBJECT_SKIP_VERIFY.
		{name: "ann-skip-verify-ignored", pod: annotated(envinject.AnnVaultSkipVerify, "true")},
		{name: "ann-skip-verify-false-ignored", pod: annotated(envinject.AnnVaultSkipVerify, "false"), cfg: func(c *envinject.Config) { c.Defaults = map[string]string{envinject.AnnVaultSkipVerify: "true"} }},
		{name: "ann-skip-verify-allowed", pod: annotated(envinject.AnnVaultSkipVerify, "true"), cfg: func(c *envinject.Config) { c.AllowSkipVerify = true }},
		// Warnings about annotations.
		{name: "warn-misspelt-annotation", pod: annotated("vault-rol", "reader", "vault-skip-verfy", "true")},
		{name: "warn-unknown-annotation", pod: annotated("completely-unrelated", "x")},
		{name: "warn-consul-template", pod: annotated("vault-ct-configmap", "ct-config", "vault-ct-once", "true")},
		{name: "warn-object-mutation", pod: annotated("mutate-configmap", "true", "inline-mutation", "true")},
		{name: "warn-renamed-agent-resources", pod: annotated("vault-agent-cpu", "100m", "vault-agent-memory", "128Mi")},
		{name: "warn-unmutated-pod", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-adr":"https://vault:8200"}},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"]}]}}`},
		// Vault Agent.
		{name: "agent-sidecar-files-only", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"`, false)},
		{name: "agent-sidecar-with-vault-env", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"`, true)},
		{name: "agent-init-files-only", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-once":"true"`, false)},
		{name: "agent-init-token-no-refs", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent":"true"`, false)},
		{name: "agent-resources", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-cpu-request":"0.1","vault.security.banzaicloud.io/vault-agent-cpu-limit":"500m","vault.security.banzaicloud.io/vault-agent-memory-request":"32Mi","vault.security.banzaicloud.io/vault-agent-memory-limit":"1Gi"`, false)},
		{name: "agent-resources-invalid", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-cpu-limit":"lots","vault.security.banzaicloud.io/vault-agent-memory-request":"-1Mi"`, false)},
		{name: "agent-env-variables", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-env-variables":"[{\"name\":\"SKIP_SETCAP\",\"value\":\"true\"},{\"Name\":\"HTTPS_PROXY\",\"VALUE\":\"http://proxy:3128\"}]"`, false)},
		{name: "agent-env-variables-invalid", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-env-variables":"[{\"name\":\"A=B\",\"value\":\"x\"}]"`, false)},
		{name: "agent-env-variables-not-json", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-env-variables":"A=B"`, false)},
		{name: "agent-share-process-namespace", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-agent-share-process-namespace":"true"`, false)},
		{name: "agent-configfile-path", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-configfile-path":"/etc/app/"`, false)},
		{name: "agent-configfile-path-invalid", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-configfile-path":"/etc/$(id)"`, false)},
		{name: "agent-configfile-path-reserved", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-configfile-path":"/vault"`, true)},
		{name: "agent-tls-secret", pod: agentPod(`"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-tls-secret":"vault-tls"`, true)},
		{name: "agent-existing-init-container", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"}},"spec":{"initContainers":[{"name":"setup","image":"alpine","command":["true"]}],"containers":[{"name":"app","image":"alpine","command":["cat","/vault/secrets/config"]}]}}`},
		{name: "agent-conflict-mount", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"}},"spec":{"volumes":[{"name":"s","emptyDir":{}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"volumeMounts":[{"name":"s","mountPath":"/vault/secrets"}]}]}}`},
		{name: "agent-conflict-container-name", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"}},"spec":{"containers":[{"name":"vault-agent","image":"alpine","command":["sh"]}]}}`},
		// vault-env as an image volume.
		{name: "image-volume", pod: annotated(envinject.AnnEnvImageVolume, "true")},
		{name: "image-volume-webhook-default", pod: podDirect, cfg: func(c *envinject.Config) { c.Defaults = map[string]string{envinject.AnnEnvImageVolume: "true"} }},
		{name: "image-volume-tls-and-pull-policy", pod: annotated(envinject.AnnEnvImageVolume, "true", envinject.AnnVaultTLSSecret, "vault-tls", envinject.AnnEnvImagePullPolicy, "Always", envinject.AnnEnvImage, "registry.example/vault-env:1.2.3")},
		{name: "image-volume-agent-sidecar", pod: agentPod(`"vault.security.banzaicloud.io/vault-env-image-volume":"true","vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"`, true)},
		{name: "image-volume-vault-agent-falls-back", pod: agentPod(`"vault.security.banzaicloud.io/vault-env-image-volume":"true","vault.security.banzaicloud.io/vault-agent":"true","vault.security.banzaicloud.io/vault-agent-configmap":"agent-config"`, true)},
		{name: "image-volume-configfile-path-falls-back", pod: agentPod(`"vault.security.banzaicloud.io/vault-env-image-volume":"true","vault.security.banzaicloud.io/vault-agent-configmap":"agent-config","vault.security.banzaicloud.io/vault-configfile-path":"/vault/files"`, true)},
		{name: "image-volume-init-container", pod: `{"metadata":{"name":"app","annotations":{"vault.security.banzaicloud.io/vault-env-image-volume":"true"}},"spec":{"initContainers":[{"name":"migrate","image":"alpine","command":["migrate"],"env":[{"name":"DB","value":"vault:secret/data/db#dsn"}]}],"containers":[{"name":"app","image":"alpine","command":["sh"]}]}}`},
		// Once only; skips.
		{name: "already-mutated-marker", pod: annotated("vault.security.banzaicloud.io/mutated", "true")},
		{name: "already-mutated-init", pod: `{"metadata":{"name":"app"},"spec":{"initContainers":[{"name":"copy-vault-env","image":"x","command":["/usr/local/bin/vault-env","copy","/vault/"]}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "skip-annotation", pod: annotated(envinject.AnnMutate, "skip")},
		{name: "excluded-kube-system", ns: "kube-system", pod: podDirect},
		{name: "excluded-kube-public", ns: "kube-public", pod: podDirect},
		{name: "excluded-own-namespace", ns: "vault-infra", pod: podDirect},
		{name: "excluded-by-flag", ns: "legacy", pod: podDirect, cfg: func(c *envinject.Config) { c.ExcludedNamespaces = []string{"legacy"} }},
		{name: "update-not-mutated", op: "UPDATE", pod: podDirect},
		{name: "dry-run", dryRun: true, pod: podDirect},
		{name: "not-a-pod", kind: "Secret", pod: `{"metadata":{"name":"s"},"data":{}}`},
		// Least privilege.
		{name: "least-privilege-valuefrom", pod: withEnv(`{"name":"K","valueFrom":{"secretKeyRef":{"name":"plain","key":"USER"}}}`), cfg: func(c *envinject.Config) { c.LeastPrivilege = true }},
		{name: "least-privilege-envfrom", pod: withEnvFrom(`{"configMapRef":{"name":"plain"}}`), cfg: func(c *envinject.Config) { c.LeastPrivilege = true }},
		{name: "least-privilege-plain", pod: podPlain, cfg: func(c *envinject.Config) { c.LeastPrivilege = true }},
		// Review namespace and the lookup bound (limits.go).
		{name: "namespace-differs-from-pod", pod: `{"metadata":{"name":"app","namespace":"other"},"spec":{"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "too-many-lookups", pod: manyEnvFrom(envinject.MaxLookupsPerReview + 1)},
		{name: "lookups-at-the-bound", pod: manyEnvFrom(envinject.MaxLookupsPerReview)},
		// vault-addr guard.
		{name: "vault-addr-default-allowed", pod: annotated(envinject.AnnVaultAddr, "https://vault.vault-infra:8200")},
		{name: "vault-addr-allow-listed", pod: annotated(envinject.AnnVaultAddr, "https://vault.team-b:8200"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"https://vault.team-b:8200"} }},
		{name: "vault-addr-empty", pod: annotated(envinject.AnnVaultAddr, " ")},
		{name: "vault-addr-allow-listed-path", pod: annotated(envinject.AnnVaultAddr, "https://gw.team-b/vault/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"https://gw.team-b/vault"} }},
		{name: "vault-addr-allow-list-no-default-port", pod: annotated(envinject.AnnVaultAddr, "https://vault.team-b/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"https://vault.team-b:443"} }},
		{name: "vault-addr-not-allow-listed", pod: annotated(envinject.AnnVaultAddr, "https://attacker.example:8200")},
		{name: "vault-addr-metadata-ipv4", pod: annotated(envinject.AnnVaultAddr, "http://169.254.169.254/latest/meta-data"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-ipv6", pod: annotated(envinject.AnnVaultAddr, "http://[fd00:ec2::254]/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-gcp-ipv6", pod: annotated(envinject.AnnVaultAddr, "http://[fd20:ce::254]/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-nat64", pod: annotated(envinject.AnnVaultAddr, "http://[64:ff9b::a9fe:a9fe]/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-6to4", pod: annotated(envinject.AnnVaultAddr, "http://[2002:a9fe:a9fe::]/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-ipv4-compatible", pod: annotated(envinject.AnnVaultAddr, "http://[::a9fe:a9fe]/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-metadata-gcp", pod: annotated(envinject.AnnVaultAddr, "http://metadata.google.internal./computeMetadata/v1"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-decimal-ip", pod: annotated(envinject.AnnVaultAddr, "http://2852039166/"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-userinfo", pod: annotated(envinject.AnnVaultAddr, "https://user:pw@vault.team-b:8200"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		{name: "vault-addr-scheme", pod: annotated(envinject.AnnVaultAddr, "file:///etc/passwd"), cfg: func(c *envinject.Config) { c.AllowedVaultAddrs = []string{"*"} }},
		// Commands from the image.
		{name: "no-command-no-registry", pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"nginx:1.27","env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "no-command-from-image", images: fakeImages{"nginx:1.27": {Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx", "-g", "daemon off;"}}},
			pod: `{"metadata":{"name":"app"},"spec":{"imagePullSecrets":[{"name":"regcred"}],"containers":[{"name":"app","image":"nginx:1.27","env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "no-command-args-replace-cmd", images: fakeImages{"nginx:1.27": {Entrypoint: []string{"/docker-entrypoint.sh"}, Cmd: []string{"nginx"}, Warnings: []string{"image nginx:1.27 resolved for linux/amd64 only"}}},
			pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"nginx:1.27","args":["-T"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "no-command-image-empty", images: fakeImages{"scratch-app": {}},
			pod: `{"metadata":{"name":"app"},"spec":{"containers":[{"name":"app","image":"scratch-app","env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		// Conflicts.
		{name: "conflict-vault-mount", pod: `{"metadata":{"name":"app"},"spec":{"volumes":[{"name":"v","emptyDir":{}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}],"volumeMounts":[{"name":"v","mountPath":"/vault"}]}]}}`},
		{name: "conflict-volume-name", pod: `{"metadata":{"name":"app"},"spec":{"volumes":[{"name":"vault-env","emptyDir":{}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
		{name: "conflict-no-token-volume-name", pod: `{"metadata":{"name":"app"},"spec":{"volumes":[{"name":"vault-env-no-sa-token","emptyDir":{}}],"containers":[{"name":"app","image":"alpine","command":["sh"],"env":[{"name":"S","value":"vault:secret/data/x#y"}]}]}}`},
	}
}

// mutator is the Mutator a case runs against: the test configuration with
// the case's changes, lookups and images.
func (tc goldenCase) mutator(t *testing.T) *envinject.Mutator {
	t.Helper()
	cfg := testConfig()
	if tc.cfg != nil {
		tc.cfg(&cfg)
	}
	var images envinject.ImageConfigs
	if tc.images != nil {
		images = tc.images
	}
	m, err := envinject.NewMutator(cfg, &fakeLookups{secrets: tc.secrets, cms: tc.cms, fail: tc.lookupErr}, images)
	if err != nil {
		t.Fatal(err)
	}
	return m
}

func (tc goldenCase) review() []byte {
	ns := tc.ns
	if ns == "" {
		ns = "apps"
	}
	op := tc.op
	if op == "" {
		op = "CREATE"
	}
	kind, resource := "Pod", "pods"
	if tc.kind != "" {
		kind, resource = tc.kind, strings.ToLower(tc.kind)+"s"
	}
	r := map[string]any{
		"apiVersion": "admission.k8s.io/v1",
		"kind":       "AdmissionReview",
		"request": map[string]any{
			"uid":       "00000000-0000-0000-0000-" + fmt.Sprintf("%012d", len(tc.name)),
			"kind":      map[string]string{"group": "", "version": "v1", "kind": kind},
			"resource":  map[string]string{"group": "", "version": "v1", "resource": resource},
			"namespace": ns,
			"operation": op,
			"userInfo":  map[string]any{"username": "admin"},
			"object":    json.RawMessage(tc.pod),
			"dryRun":    tc.dryRun,
		},
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		panic(fmt.Sprintf("%s: %v", tc.name, err))
	}
	return append(b, '\n')
}

func testConfig() envinject.Config {
	return envinject.Config{
		VaultAddr:     "https://vault.vault-infra:8200",
		VaultEnvImage: "ghcr.io/vault-secrets-webhook/vault-env:latest",
		Namespace:     "vault-infra",
	}
}

// runReview sends a review through the handler and returns the HTTP code
// and body.
func runReview(t testing.TB, h http.Handler, body []byte) (int, []byte) {
	t.Helper()
	req := httptest.NewRequest(http.MethodPost, "/pods?timeout=10s", bytes.NewReader(body))
	req.Header.Set("Content-Type", "application/json")
	rec := httptest.NewRecorder()
	h.ServeHTTP(rec, req)
	return rec.Code, rec.Body.Bytes()
}

// readable renders a response with its patch decoded, for the golden file.
func readable(t *testing.T, body []byte) ([]byte, []byte) {
	t.Helper()
	var out struct {
		APIVersion string `json:"apiVersion"`
		Kind       string `json:"kind"`
		Response   struct {
			UID       string          `json:"uid"`
			Allowed   bool            `json:"allowed"`
			Status    json.RawMessage `json:"status,omitempty"`
			Patch     []byte          `json:"patch,omitempty"`
			PatchType string          `json:"patchType,omitempty"`
			Warnings  []string        `json:"warnings,omitempty"`
		} `json:"response"`
	}
	if err := json.Unmarshal(body, &out); err != nil {
		t.Fatalf("response is not an AdmissionReview: %v\n%s", err, body)
	}
	if (out.Response.Patch == nil) != (out.Response.PatchType == "") {
		t.Fatalf("patch and patchType must come together: %s", body)
	}
	r := map[string]any{"uid": out.Response.UID, "allowed": out.Response.Allowed}
	if out.Response.Status != nil {
		r["status"] = out.Response.Status
	}
	if out.Response.Warnings != nil {
		r["warnings"] = out.Response.Warnings
	}
	if out.Response.Patch != nil {
		r["patchType"] = out.Response.PatchType
		r["patch"] = json.RawMessage(out.Response.Patch)
	}
	b, err := json.MarshalIndent(r, "", "  ")
	if err != nil {
		t.Fatal(err)
	}
	return append(b, '\n'), out.Response.Patch
}

func TestGolden(t *testing.T) {
	cases := goldenCases()
	if len(cases) < 40 {
		t.Fatalf("only %d golden cases", len(cases))
	}
	dir := filepath.Join("testdata", "golden")
	seen := map[string]bool{}
	for _, tc := range cases {
		if seen[tc.name] {
			t.Fatalf("duplicate case %s", tc.name)
		}
		seen[tc.name] = true
		t.Run(tc.name, func(t *testing.T) {
			m := tc.mutator(t)
			review := tc.review()
			code, body := runReview(t, &Handler{Mutator: m}, review)
			if code != http.StatusOK {
				t.Fatalf("HTTP %d: %s", code, body)
			}
			resp, patch := readable(t, body)
			files := map[string][]byte{"review.json": review, "response.json": resp}
			if patch != nil {
				var obj struct {
					Request struct {
						Object json.RawMessage `json:"object"`
					} `json:"request"`
				}
				if err := json.Unmarshal(review, &obj); err != nil {
					t.Fatal(err)
				}
				after, err := applyPatch(obj.Request.Object, patch)
				if err != nil {
					t.Fatalf("patch does not apply: %v", err)
				}
				pod, err := decodePodStrict(after)
				if err != nil {
					t.Fatalf("patched object is not a Pod: %v", err)
				}
				if err := validateMutated(pod); err != nil {
					t.Fatalf("patched pod is invalid: %v", err)
				}
				// A second pass over the mutated pod is a no-op.
				again := goldenCase{name: tc.name, ns: tc.ns, pod: string(after), secrets: tc.secrets, cms: tc.cms, images: tc.images}
				_, body2 := runReview(t, &Handler{Mutator: m}, again.review())
				if _, p2 := readable(t, body2); p2 != nil {
					t.Fatalf("second pass patched again: %s", p2)
				}
				var pretty bytes.Buffer
				if err := json.Indent(&pretty, after, "", "  "); err != nil {
					t.Fatal(err)
				}
				pretty.WriteByte('\n')
				files["pod.json"] = pretty.Bytes()
			}
			caseDir := filepath.Join(dir, tc.name)
			if *update {
				if err := os.RemoveAll(caseDir); err != nil {
					t.Fatal(err)
				}
				if err := os.MkdirAll(caseDir, 0o755); err != nil {
					t.Fatal(err)
				}
				for name, b := range files {
					if err := os.WriteFile(filepath.Join(caseDir, name), b, 0o644); err != nil {
						t.Fatal(err)
					}
				}
				return
			}
			entries, err := os.ReadDir(caseDir)
			if err != nil {
				t.Fatalf("no golden files (run go test ./admission -run TestGolden -update): %v", err)
			}
			var have []string
			for _, e := range entries {
				have = append(have, e.Name())
			}
			var want []string
			for name := range files {
				want = append(want, name)
			}
			sort.Strings(want)
			if strings.Join(have, ",") != strings.Join(want, ",") {
				t.Fatalf("golden files %v, want %v (stale: run with -update)", have, want)
			}
			for name, b := range files {
				g, err := os.ReadFile(filepath.Join(caseDir, name))
				if err != nil {
					t.Fatal(err)
				}
				if !bytes.Equal(g, b) {
					t.Errorf("%s differs from golden (run with -update and review the diff):\n got: %s\nwant: %s", name, b, g)
				}
			}
		})
	}
	entries, err := os.ReadDir(dir)
	if err != nil {
		t.Fatal(err)
	}
	for _, e := range entries {
		if seen[e.Name()] {
			continue
		}
		if *update {
			if err := os.RemoveAll(filepath.Join(dir, e.Name())); err != nil {
				t.Fatal(err)
			}
			continue
		}
		t.Errorf("stale golden directory %s (no such case; run with -update)", e.Name())
	}
}
