package kube

import (
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
)

// GetSecret reads a Secret. Its data is secret: callers must not log it.
func (c *Client) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	var s corev1.Secret
	if err := c.Get(ctx, CorePath(namespace, "secrets", name), &s); err != nil {
		return nil, fmt.Errorf("failed to get secret %s/%s: %w", namespace, name, err)
	}
	return &s, nil
}

// GetConfigMap reads a ConfigMap.
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	var cm corev1.ConfigMap
	if err := c.Get(ctx, CorePath(namespace, "configmaps", name), &cm); err != nil {
		return nil, fmt.Errorf("failed to get configmap %s/%s: %w", namespace, name, err)
	}
	return &cm, nil
}

// GetServiceAccount reads a ServiceAccount.
func (c *Client) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	var sa corev1.ServiceAccount
	if err := c.Get(ctx, CorePath(namespace, "serviceaccounts", name), &sa); err != nil {
		return nil, fmt.Errorf("failed to get serviceaccount %s/%s: %w", namespace, name, err)
	}
	return &sa, nil
}

// GetPod reads a Pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	var p corev1.Pod
	if err := c.Get(ctx, CorePath(namespace, "pods", name), &p); err != nil {
		return nil, fmt.Errorf("failed to get pod %s/%s: %w", namespace, name, err)
	}
	return &p, nil
}

// CreateToken asks the TokenRequest API for a token of a ServiceAccount
// (POST .../serviceaccounts/NAME/token). req carries the audiences,
// expirationSeconds and an optional boundObjectRef; the answer's
// Status.Token is a secret.
func (c *Client) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	in := *req
	if in.APIVersion == "" {
		in.APIVersion = "authentication.k8s.io/v1"
	}
	if in.Kind == "" {
		in.Kind = "TokenRequest"
	}
	var out authenticationv1.TokenRequest
	if err := c.Create(ctx, CorePath(namespace, "serviceaccounts", serviceAccount, "token"), &in, &out); err != nil {
		return nil, fmt.Errorf("failed to create token for serviceaccount %s/%s: %w", namespace, serviceAccount, err)
	}
	return &out, nil
}
