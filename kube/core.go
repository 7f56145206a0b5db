package kube

import (
	"cmp"
	"context"
	"fmt"

	authenticationv1 "k8s.io/api/authentication/v1"
	corev1 "k8s.io/api/core/v1"
)

// GetSecret reads a Secret. Its data is secret: callers must not log it.
func (c *Client) GetSecret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return getCore[corev1.Secret](ctx, c, namespace, "secret", name)
}

// GetConfigMap reads a ConfigMap.
func (c *Client) GetConfigMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return getCore[corev1.ConfigMap](ctx, c, namespace, "configmap", name)
}

// GetServiceAccount reads a ServiceAccount.
func (c *Client) GetServiceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return getCore[corev1.ServiceAccount](ctx, c, namespace, "serviceaccount", name)
}

// GetPod reads a Pod.
func (c *Client) GetPod(ctx context.Context, namespace, name string) (*corev1.Pod, error) {
	return getCore[corev1.Pod](ctx, c, namespace, "pod", name)
}

// getCore reads the core object namespace/name of kind (lower case, the
// resource is its plural).
func getCore[T any](ctx context.Context, c *Client, namespace, kind, name string) (*T, error) {
	var v T
	if err := c.Get(ctx, CorePath(namespace, kind+"s", name), &v); err != nil {
		return nil, fmt.Errorf("failed to get %s %s/%s: %w", kind, namespace, name, err)
	}
	return &v, nil
}

// CreateToken asks the TokenRequest API for a token of a ServiceAccount
// (POST .../serviceaccounts/NAME/token). req carries the audiences,
// expirationSeconds and an optional boundObjectRef; the answer's
// Status.Token is a secret.
func (c *Client) CreateToken(ctx context.Context, namespace, serviceAccount string, req *authenticationv1.TokenRequest) (*authenticationv1.TokenRequest, error) {
	in := *req
	in.APIVersion = cmp.Or(in.APIVersion, "authentication.k8s.io/v1")
	in.Kind = cmp.Or(in.Kind, "TokenRequest")
	var out authenticationv1.TokenRequest
	if err := c.Create(ctx, CorePath(namespace, "serviceaccounts", serviceAccount, "token"), &in, &out); err != nil {
		return nil, fmt.Errorf("failed to create token for serviceaccount %s/%s: %w", namespace, serviceAccount, err)
	}
	return &out, nil
}
