package main

import (
	"context"
	"fmt"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// kubeLookups reads Secrets and ConfigMaps for the mutation decision.
type kubeLookups struct{ c *kube.Client }

func (l kubeLookups) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := l.c.GetSecret(ctx, namespace, name)
	if err != nil {
		if kube.IsNotFound(err) {
			return nil, fmt.Errorf("failed to get secret %s/%s: %w", namespace, name, admission.ErrNotFound)
		}
		return nil, fmt.Errorf("failed to get secret %s/%s: %w", namespace, name, err)
	}
	data := s.Data
	// stringData is write-only and never returned, so Data is complete.
	return data, nil
}

func (l kubeLookups) ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error) {
	cm, err := l.c.GetConfigMap(ctx, namespace, name)
	if err != nil {
		if kube.IsNotFound(err) {
			return nil, fmt.Errorf("failed to get configmap %s/%s: %w", namespace, name, admission.ErrNotFound)
		}
		return nil, fmt.Errorf("failed to get configmap %s/%s: %w", namespace, name, err)
	}
	return cm.Data, nil
}
