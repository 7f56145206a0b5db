package e2e

import (
	"crypto/tls"
	"crypto/x509"
	"fmt"
	"net"
	"net/url"
	"strconv"
	"strings"
	"testing"
	"time"

	admissionregistrationv1 "k8s.io/api/admissionregistration/v1"
	corev1 "k8s.io/api/core/v1"
	discoveryv1 "k8s.io/api/discovery/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/sandbox"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// stuckReasons are the waiting reasons of a container that will not start
// without a change to the pod or the cluster: waiting longer helps nothing.
var stuckReasons = map[string]bool{
	"ErrImagePull": true, "ImagePullBackOff": true, "InvalidImageName": true,
	"CreateContainerConfigError": true, "CreateContainerError": true,
}

// runContainer waits for the sandbox's node to run container (default: the
// first) of the stored Pod ns/pod, its init containers first, and returns
// the container's log, preceded by each init container's log with its lines
// prefixed "[init NAME] ", and its exit code. A container that restarted
// counts by its first termination. With until set, it returns as soon as the
// container's log holds until (exit code 0 then). A failed init container
// ends the wait with its own exit code. The test fails when the pod cannot
// start (image or configuration errors) or containerTimeout passes.
func runContainer(t testing.TB, ns, pod, container, until string) (output string, exitCode int) {
	t.Helper()
	c := kubeClient(t)
	ctx := testContext(t)
	deadline := time.Now().Add(containerTimeout)
	for {
		p, err := c.GetPod(ctx, ns, pod)
		if err != nil {
			t.Fatalf("failed to read pod %s/%s: %v", ns, pod, err)
		}
		if container == "" {
			container = p.Spec.Containers[0].Name
		}
		for _, s := range p.Status.InitContainerStatuses {
			checkStarts(t, p, s)
			if term := firstTermination(s); term != nil && term.ExitCode != 0 && !isSidecar(p, s.Name) {
				return initLogs(t, p), int(term.ExitCode)
			}
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name != container {
				continue
			}
			checkStarts(t, p, s)
			if term := firstTermination(s); term != nil {
				return initLogs(t, p) + terminatedLog(t, ns, pod, container), int(term.ExitCode)
			}
			if until != "" && s.State.Running != nil {
				if log := podLog(t, ns, pod, container, false); strings.Contains(log, until) {
					return initLogs(t, p) + log, 0
				}
			}
		}
		if time.Now().After(deadline) {
			t.Fatalf("timed out after %s waiting for container %s of pod %s/%s; status:\n%s", containerTimeout, container, ns, pod, podSummary(p))
		}
		time.Sleep(pollInterval)
	}
}

// terminatedLog returns the log of the run of container that terminated. A
// container that restarts (restartPolicy Always) may start again between a
// status read and the log read: the status is read again right before, and
// the log of the previous run is taken once the container restarted.
func terminatedLog(t testing.TB, ns, pod, container string) string {
	t.Helper()
	var log string
	// A log read right after the exit is reported can still be empty: a
	// loaded full run saw it empty through 600ms of retries. An empty log is
	// read again for up to 5s.
	for deadline := time.Now().Add(5 * time.Second); time.Now().Before(deadline); {
		p, err := kubeClient(t).GetPod(testContext(t), ns, pod)
		if err != nil {
			t.Fatalf("failed to read pod %s/%s: %v", ns, pod, err)
		}
		for _, s := range p.Status.ContainerStatuses {
			if s.Name == container {
				log = podLog(t, ns, pod, container, s.State.Terminated == nil || s.RestartCount > 0)
			}
		}
		if log != "" {
			return log
		}
		time.Sleep(pollInterval)
	}
	return log
}

// firstTermination is how the container ended the first time, if it did.
func firstTermination(s corev1.ContainerStatus) *corev1.ContainerStateTerminated {
	if s.RestartCount > 0 && s.LastTerminationState.Terminated != nil {
		return s.LastTerminationState.Terminated
	}
	return s.State.Terminated
}

func isSidecar(p *corev1.Pod, name string) bool {
	for _, c := range p.Spec.InitContainers {
		if c.Name == name {
			return c.RestartPolicy != nil && *c.RestartPolicy == corev1.ContainerRestartPolicyAlways
		}
	}
	return false
}

// checkStarts fails the test when container status s can never start.
func checkStarts(t testing.TB, p *corev1.Pod, s corev1.ContainerStatus) {
	t.Helper()
	if w := s.State.Waiting; w != nil && stuckReasons[w.Reason] {
		t.Fatalf("container %s of pod %s/%s cannot start: %s: %s", s.Name, p.Namespace, p.Name, w.Reason, w.Message)
	}
}

// initLogs returns the logs of p's init containers that ran, each line
// prefixed "[init NAME] ".
func initLogs(t testing.TB, p *corev1.Pod) string {
	t.Helper()
	var b strings.Builder
	for _, s := range p.Status.InitContainerStatuses {
		if s.State.Running == nil && s.State.Terminated == nil {
			continue
		}
		for _, line := range strings.SplitAfter(podLog(t, p.Namespace, p.Name, s.Name, false), "\n") {
			if line != "" {
				b.WriteString("[init " + s.Name + "] " + line)
			}
		}
	}
	return b.String()
}

// podLog returns a container's log as `kubectl logs` shows it (through the
// apiserver and the kubelet); previous asks for the last terminated run.
func podLog(t testing.TB, ns, pod, container string, previous bool) string {
	t.Helper()
	out, err := shipKubectl(t, nil, "-n", ns, "logs", pod, "-c", container, fmt.Sprintf("--previous=%t", previous))
	if err != nil {
		t.Fatalf("failed to read the log of container %s of pod %s/%s: %v", container, ns, pod, err)
	}
	return string(out)
}

// podSummary describes a pod's phase, conditions and container states for
// a failure message.
func podSummary(p *corev1.Pod) string {
	var b strings.Builder
	fmt.Fprintf(&b, "phase %s", p.Status.Phase)
	for _, c := range p.Status.Conditions {
		fmt.Fprintf(&b, "\n  condition %s=%s %s %s", c.Type, c.Status, c.Reason, c.Message)
	}
	for _, list := range [][]corev1.ContainerStatus{p.Status.InitContainerStatuses, p.Status.ContainerStatuses} {
		for _, s := range list {
			switch {
			case s.State.Waiting != nil:
				fmt.Fprintf(&b, "\n  %s: waiting %s %s", s.Name, s.State.Waiting.Reason, s.State.Waiting.Message)
			case s.State.Running != nil:
				fmt.Fprintf(&b, "\n  %s: running (restarts %d)", s.Name, s.RestartCount)
			case s.State.Terminated != nil:
				fmt.Fprintf(&b, "\n  %s: terminated %s exit %d", s.Name, s.State.Terminated.Reason, s.State.Terminated.ExitCode)
			}
		}
	}
	return b.String()
}

// webhookEndpoint returns the address of a ready pod behind the sandbox
// webhook's Service (on the node's bridge, reachable from this host) and a
// TLS configuration that trusts the caBundle the webhook published and
// names the Service, as the apiserver does.
func webhookEndpoint(t testing.TB) (addr string, config *tls.Config) {
	t.Helper()
	env := sandbox.Get(t)
	c := kubeClient(t)
	ctx := testContext(t)
	var mwc admissionregistrationv1.MutatingWebhookConfiguration
	if err := c.Get(ctx, kube.GroupPath("admissionregistration.k8s.io", "v1", "", "mutatingwebhookconfigurations", env.WebhookConfigName), &mwc); err != nil {
		t.Fatalf("failed to read the webhook configuration: %v", err)
	}
	pool := x509.NewCertPool()
	if len(mwc.Webhooks) == 0 || !pool.AppendCertsFromPEM(mwc.Webhooks[0].ClientConfig.CABundle) {
		t.Fatal("the webhook configuration has no caBundle")
	}
	poll(t, waitTimeout, "a ready endpoint of the webhook's Service", func() (bool, error) {
		var slices discoveryv1.EndpointSliceList
		path := kube.GroupPath("discovery.k8s.io", "v1", env.WebhookNamespace, "endpointslices", "") +
			"?labelSelector=" + url.QueryEscape("kubernetes.io/service-name="+env.WebhookService)
		if err := c.Get(ctx, path, &slices); err != nil {
			return false, err
		}
		for _, s := range slices.Items {
			for _, e := range s.Endpoints {
				if e.Conditions.Ready != nil && *e.Conditions.Ready && len(e.Addresses) > 0 && len(s.Ports) > 0 && s.Ports[0].Port != nil {
					addr = net.JoinHostPort(e.Addresses[0], strconv.Itoa(int(*s.Ports[0].Port)))
					return true, nil
				}
			}
		}
		return false, nil
	})
	return addr, &tls.Config{RootCAs: pool, ServerName: env.WebhookService + "." + env.WebhookNamespace + ".svc", MinVersion: tls.VersionTLS12}
}
