package kubelet

import (
	"context"
	"fmt"
	"sync"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// apiObjects reads the pod namespace's Secrets and ConfigMaps once each.
type apiObjects struct {
	ctx        context.Context
	c          *kube.Client
	ns         string
	mu         sync.Mutex
	secrets    map[string]*corev1.Secret
	configMaps map[string]*corev1.ConfigMap
}

func (a *apiObjects) Secret(name string) (*corev1.Secret, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if s, ok := a.secrets[name]; ok {
		return s, nil
	}
	s, err := a.c.GetSecret(a.ctx, a.ns, name)
	if kube.IsNotFound(err) {
		return nil, fmt.Errorf("secret %s/%s: %w", a.ns, name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if a.secrets == nil {
		a.secrets = map[string]*corev1.Secret{}
	}
	a.secrets[name] = s
	return s, nil
}

func (a *apiObjects) ConfigMap(name string) (*corev1.ConfigMap, error) {
	a.mu.Lock()
	defer a.mu.Unlock()
	if cm, ok := a.configMaps[name]; ok {
		return cm, nil
	}
	cm, err := a.c.GetConfigMap(a.ctx, a.ns, name)
	if kube.IsNotFound(err) {
		return nil, fmt.Errorf("configmap %s/%s: %w", a.ns, name, ErrNotFound)
	}
	if err != nil {
		return nil, err
	}
	if a.configMaps == nil {
		a.configMaps = map[string]*corev1.ConfigMap{}
	}
	a.configMaps[name] = cm
	return cm, nil
}
