package e2e

import (
	"context"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	metav1 "k8s.io/apimachinery/pkg/apis/meta/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// whRegister registers a MutatingWebhookConfiguration named name that sends
// pod CREATEs carrying the label selectorKey=selectorValue to
// https://addr/pods (failurePolicy Fail), trusting caBundle (nil: the webhook
// publishes it itself), and deletes it when the test ends. It returns once
// the apiserver applies the configuration: until its informer has seen it,
// a pod with the label would be admitted without this webhook. image is the
// webhook's --vault-env-image, which tells its patch from the sandbox's own
// webhook's (which the apiserver calls after this one, name order).
func whRegister(t *testing.T, ctx context.Context, c *kube.Client, name, hookName, addr string, caBundle []byte, selectorKey, selectorValue, image string) {
	t.Helper()
	fail := admissionregistrationv1.Fail
	none := admissionregistrationv1.SideEffectClassNone
	timeout := int32(10)
	url := "https://" + addr + "/pods"
	mwc := &admissionregistrationv1.MutatingWebhookConfiguration{
		TypeMeta:   metav1.TypeMeta{APIVersion: "admissionregistration.k8s.io/v1", Kind: "MutatingWebhookConfiguration"},
		ObjectMeta: metav1.ObjectMeta{Name: name},
		Webhooks: []admissionregistrationv1.MutatingWebhook{{
			Name:                    hookName,
			AdmissionReviewVersions: []string{"v1"},
			SideEffects:             &none,
			FailurePolicy:           &fail,
			TimeoutSeconds:          &timeout,
			ClientConfig:            admissionregistrationv1.WebhookClientConfig{URL: &url, CABundle: caBundle},
			Rules: []admissionregistrationv1.RuleWithOperations{{
				Operations: []admissionregistrationv1.OperationType{admissionregistrationv1.Create},
				Rule:       admissionregistrationv1.Rule{APIGroups: []string{""}, APIVersions: []string{"v1"}, Resources: []string{"pods"}},
			}},
			ObjectSelector: &metav1.LabelSelector{MatchLabels: map[string]string{selectorKey: selectorValue}},
		}},
	}
	path := "/apis/admissionregistration.k8s.io/v1/mutatingwebhookconfigurations"
	if err := c.Create(ctx, path, mwc, nil); err != nil {
		t.Fatalf("failed to create MutatingWebhookConfiguration: %v", err)
	}
	t.Cleanup(func() {
		cctx, cancel := context.WithTimeout(context.Background(), 30*time.Second)
		defer cancel()
		if err := c.Delete(cctx, path+"/"+name); err != nil && !kube.IsNotFound(err) {
			t.Errorf("failed to delete %s: %v", name, err)
		}
	})
	// A dry-run pod with the label: mutated with image, or failed calling
	// the hook (a webhook not serving yet), means the apiserver calls it.
	probe := &corev1.Pod{TypeMeta: metav1.TypeMeta{APIVersion: "v1", Kind: "Pod"},
		ObjectMeta: metav1.ObjectMeta{GenerateName: "probe-", Labels: map[string]string{selectorKey: selectorValue}},
		Spec: corev1.PodSpec{Containers: []corev1.Container{whApp("app", []corev1.EnvVar{{Name: "X", Value: "vault:secret/data/probe#x"}}, nil)}}}
	poll(t, waitTimeout, "the apiserver to apply MutatingWebhookConfiguration "+name, func() (bool, error) {
		var out corev1.Pod
		err := c.Create(ctx, "/api/v1/namespaces/default/pods?dryRun=All", probe, &out)
		if err != nil {
			return strings.Contains(err.Error(), hookName), nil
		}
		return len(out.Spec.InitContainers) > 0 && out.Spec.InitContainers[0].Image == image, nil
	})
}
