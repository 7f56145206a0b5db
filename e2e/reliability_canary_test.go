package e2e

// The canary (issue 8): one pod through the whole sandbox with a unique
// secret value, then a search of everything the system wrote for it.

import (
	"bufio"
	"bytes"
	"encoding/base64"
	"errors"
	"io"
	"io/fs"
	"net/http"
	"os"
	"path/filepath"
	"strings"
	"syscall"
	"testing"
	"time"

	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"
)

// TestReliabilityCanary creates a Vault secret holding a unique canary, a
// Kubernetes Secret and a Pod that reference it (directly and through a
// secretKeyRef), lets the sandbox's node run the Pod, and then requires
// the canary to appear in the application's environment and nowhere else:
// not in any file of the sandbox directory (every component's log, etcd's
// data), not in etcd's stored objects, not in the admission patch or the
// stored Pod, not in the child's VAULT_* variables.
func TestReliabilityCanary(t *testing.T) {
	t.Parallel()
	env := relSandbox(t)
	ns := createNamespace(t)
	sa := uniqueName(t, "canary")
	createServiceAccount(t, ns, sa)
	vaultRole(t, ns, sa)

	canary := "CANARY" + randomSuffix(t, 32)
	forms := map[string]string{
		"raw":    canary,
		"base64": base64.StdEncoding.EncodeToString([]byte(canary)),
		// base64 of a value embedded in a longer text shifts with its
		// offset; the three alignments of the canary's middle cover it.
		"base64@0": relB64Core(canary, 0),
		"base64@1": relB64Core(canary, 1),
		"base64@2": relB64Core(canary, 2),
	}
	secretPath := "canary/" + randomSuffix(t, 10)
	vaultPut(t, secretPath, map[string]string{"value": canary})
	reference := "vault:secret/data/" + secretPath + "#value"

	c := kubeClient(t)
	ctx := testContext(t)
	ks := &corev1.Secret{
		TypeMeta:   metav1.TypeMeta{APIVersion: "v1", Kind: "Secret"},
		ObjectMeta: metav1.ObjectMeta{Name: "canary-ref"},
		Data:       map[string][]byte{"ref": []byte(reference)},
	}
	if err := c.Create(ctx, "/api/v1/namespaces/"+ns+"/secrets", ks, nil); err != nil {
		t.Fatalf("failed to create secret: %v", err)
	}
	pod := &corev1.Pod{
		ObjectMeta: metav1.ObjectMeta{Name: "canary"},
		Spec: corev1.PodSpec{
			ServiceAccountName: sa,
			RestartPolicy:      corev1.RestartPolicyNever,
			Containers: []corev1.Container{{
				Name:    "app",
				Image:   "testapp:canary",
				Command: []string{"/usr/local/bin/testapp"},
				Env: []corev1.EnvVar{
					{Name: "CANARY_DIRECT", Value: reference},
					{Name: "CANARY_VIA_SECRET", ValueFrom: &corev1.EnvVarSource{SecretKeyRef: &corev1.SecretKeySelector{
						LocalObjectReference: corev1.LocalObjectReference{Name: "canary-ref"}, Key: "ref",
					}}},
					{Name: "PLAIN", Value: "plain"},
				},
			}},
		},
	}

	// The admission patch, as the sandbox's webhook answers it.
	patch := relSandboxPatch(t, ns, pod)
	stored := createPod(t, ns, pod)
	if len(stored.Spec.InitContainers) == 0 {
		t.Fatalf("the stored pod was not mutated: %+v", stored.Spec)
	}
	out, code := runContainer(t, ns, "canary", "", "")
	if code != 0 {
		t.Fatalf("the pod's container exited %d; output:\n%s", code, relRedact(out, forms))
	}

	// 1. Where the canary must be: the application's environment.
	appEnv := relParseEnv(out)
	for _, k := range []string{"CANARY_DIRECT", "CANARY_VIA_SECRET"} {
		if appEnv[k] != canary {
			t.Errorf("%s in the app's environment is not the secret value", k)
		}
	}
	// 2. The child's VAULT_* variables: none holds the canary, and no token
	// was handed over.
	for k, v := range appEnv {
		if strings.HasPrefix(k, "VAULT_") && relContainsAny([]byte(v), forms) != "" {
			t.Errorf("the app's %s holds the canary", k)
		}
	}
	if _, ok := appEnv["VAULT_TOKEN"]; ok {
		t.Errorf("the app received a VAULT_TOKEN")
	}
	// The output outside the app's own environment lines (vault-env's and
	// its init containers' logs) must not hold it either.
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "CANARY_DIRECT=") || strings.HasPrefix(line, "CANARY_VIA_SECRET=") {
			continue
		}
		if f := relContainsAny([]byte(line), forms); f != "" {
			t.Errorf("the canary (%s) appears in a log line outside the app's environment: %q", f, relRedact(line, forms))
		}
	}

	// 3. The admission patch and the stored pod.
	if f := relContainsAny(patch, forms); f != "" {
		t.Errorf("the admission patch holds the canary (%s)", f)
	}
	if f := relContainsAny(getRaw(t, "/api/v1/namespaces/"+ns+"/pods/canary"), forms); f != "" {
		t.Errorf("the stored pod holds the canary (%s)", f)
	}

	// 4. Everything etcd stores.
	if f := relContainsAny(etcdDump(t), forms); f != "" {
		t.Errorf("etcd holds the canary (%s)", f)
	}

	// 5. Every file in the sandbox directory: each component's log, PID
	// files, PKI, etcd's data and WAL, the registry's storage, the node's
	// containerd state, snapshots and pod logs, the kubelet's pod volumes.
	var searched int
	var bytesSearched int64
	err := filepath.WalkDir(env.Dir, func(path string, d fs.DirEntry, err error) error {
		if err != nil {
			if os.IsNotExist(err) || os.IsPermission(err) {
				return nil // a file that went away (rotation, WAL segment) or a socket
			}
			return err
		}
		if !d.Type().IsRegular() {
			return nil
		}
		rel, _ := filepath.Rel(env.Dir, path)
		switch {
		case strings.HasPrefix(rel, "bin"+string(filepath.Separator)):
			return nil // our own binaries
		case strings.HasPrefix(rel, filepath.Join("node", "pod-logs", ns+"_canary_")):
			return nil // the app's own output, checked line by line above
		}
		n, found, err := relFileContains(path, forms)
		if err != nil {
			if os.IsNotExist(err) || errors.Is(err, syscall.EINVAL) {
				return nil // gone, or a pod's network namespace (nsfs)
			}
			return err
		}
		searched++
		bytesSearched += n
		if found != "" {
			t.Errorf("the canary (%s) appears in %s", found, path)
		}
		return nil
	})
	if err != nil {
		t.Fatalf("failed to search the sandbox directory: %v", err)
	}
	t.Logf("rel-canary: searched %d files (%d bytes) under %s, etcd, the patch (%d bytes) and the stored pod", searched, bytesSearched, env.Dir, len(patch))
	if searched < 5 {
		t.Errorf("only %d files searched: is %s the sandbox directory?", searched, env.Dir)
	}
}

// relB64Core returns the base64 text that encodes the canary's middle when
// it starts at offset (mod 3) within a longer value.
func relB64Core(s string, offset int) string {
	enc := base64.StdEncoding.EncodeToString(append(make([]byte, offset), s...))
	// Drop the characters that mix in the padding bytes before and after.
	start := (offset*8 + 5) / 6
	start = (start + 3) / 4 * 4
	end := len(enc) - 4
	if start >= end {
		return s
	}
	return enc[start:end]
}

// relContainsAny returns the name of the first form found in b, or "".
func relContainsAny(b []byte, forms map[string]string) string {
	for name, f := range forms {
		if bytes.Contains(b, []byte(f)) {
			return name
		}
	}
	return ""
}

// relFileContains searches a file of any size for any form, streaming it
// with an overlap so a match across two reads is found.
func relFileContains(path string, forms map[string]string) (int64, string, error) {
	f, err := os.Open(path)
	if err != nil {
		return 0, "", err
	}
	defer f.Close()
	longest := 0
	for _, v := range forms {
		longest = max(longest, len(v))
	}
	r := bufio.NewReaderSize(f, 1<<20)
	buf := make([]byte, 0, 1<<20+longest)
	chunk := make([]byte, 1<<20)
	var total int64
	for {
		n, err := r.Read(chunk)
		total += int64(n)
		buf = append(buf, chunk[:n]...)
		if found := relContainsAny(buf, forms); found != "" {
			return total, found, nil
		}
		if len(buf) > longest {
			buf = append(buf[:0], buf[len(buf)-longest:]...)
		}
		if err == io.EOF {
			return total, "", nil
		}
		if err != nil {
			return total, "", err
		}
	}
}

// relParseEnv reads the KEY=VALUE lines testapp prints.
func relParseEnv(out string) map[string]string {
	m := map[string]string{}
	for _, line := range strings.Split(out, "\n") {
		if strings.HasPrefix(line, "ARG[") {
			continue
		}
		if k, v, ok := strings.Cut(line, "="); ok && k != "" && !strings.ContainsAny(k, " \t") {
			m[k] = v
		}
	}
	return m
}

// relRedact masks every form of the canary in s, for failure messages.
func relRedact(s string, forms map[string]string) string {
	for _, f := range forms {
		s = strings.ReplaceAll(s, f, "<canary>")
	}
	return s
}

// relSandboxPatch sends pod as a review to the sandbox's own webhook and
// returns the JSONPatch it answers with.
func relSandboxPatch(t *testing.T, ns string, pod *corev1.Pod) []byte {
	t.Helper()
	relSandbox(t)
	addr, tlsConfig := webhookEndpoint(t)
	c := &http.Client{Timeout: 30 * time.Second, Transport: &http.Transport{TLSClientConfig: tlsConfig}}
	defer c.CloseIdleConnections()
	p := pod.DeepCopy()
	p.Namespace = ns
	p.TypeMeta = metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"}
	res, err := relPost(testContext(t), c, "https://"+addr+"/pods", relReview(t, p))
	if err != nil {
		t.Fatalf("failed to ask the sandbox webhook: %v", err)
	}
	if res.HTTPStatus != http.StatusOK || !res.Allowed || len(res.Patch) == 0 {
		t.Fatalf("sandbox webhook: HTTP %d allowed=%v code=%d %q, patch %d bytes", res.HTTPStatus, res.Allowed, res.Code, res.Message, len(res.Patch))
	}
	return res.Patch
}
