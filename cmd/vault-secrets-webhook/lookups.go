package main

import (
	"context"
	"fmt"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/internal/ttlcache"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
)

// Object cache bounds. A pod's review reads the same few objects (its
// ServiceAccount, the Secrets and ConfigMaps its env names, its pull
// secrets) once per container and again for each pod of a ReplicaSet
// created in a burst; a cache of objectCacheTTL turns those into one
// apiserver GET. The staleness is acceptable: the kubelet itself reads a
// Secret or ConfigMap for a pod's env only when the container starts,
// seconds after admission, so a change made within 2 s of a pod's creation
// has no defined outcome even without this cache, and a pod admitted with
// the old value is exactly what a pod created 2 s earlier would get. Only
// successful reads are cached (a missing object is asked for again), and
// values are never logged.
const (
	objectCacheTTL   = 2 * time.Second
	objectCacheSize  = 1024
	objectGetTimeout = 10 * time.Second
)

// objects reads Secrets, ConfigMaps and ServiceAccounts through
// short-lived caches (see objectCacheTTL).
type objects struct {
	c       *kube.Client
	secrets *ttlcache.Cache[*corev1.Secret]
	cms     *ttlcache.Cache[*corev1.ConfigMap]
	sas     *ttlcache.Cache[*corev1.ServiceAccount]
}

func newObjects(c *kube.Client) *objects {
	return &objects{
		c:       c,
		secrets: ttlcache.New[*corev1.Secret](objectCacheSize, objectGetTimeout, time.Now),
		cms:     ttlcache.New[*corev1.ConfigMap](objectCacheSize, objectGetTimeout, time.Now),
		sas:     ttlcache.New[*corev1.ServiceAccount](objectCacheSize, objectGetTimeout, time.Now),
	}
}

func (o *objects) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return cached(ctx, o.secrets, namespace, name, o.c.GetSecret)
}

func (o *objects) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return cached(ctx, o.cms, namespace, name, o.c.GetConfigMap)
}

func (o *objects) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return cached(ctx, o.sas, namespace, name, o.c.GetServiceAccount)
}

// cached reads namespace/name through cache, with get on a miss.
func cached[V any](ctx context.Context, cache *ttlcache.Cache[V], namespace, name string, get func(context.Context, string, string) (V, error)) (V, error) {
	v, _, err := cache.Get(ctx, namespace+"/"+name, func(ctx context.Context) (V, time.Duration, error) {
		v, err := get(ctx, namespace, name)
		return v, objectCacheTTL, err
	})
	return v, err
}

// kubeLookups reads Secrets and ConfigMaps for the mutation decision.
type kubeLookups struct{ o *objects }

func (l kubeLookups) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := l.o.secret(ctx, namespace, name)
	if err != nil {
		return nil, lookupError(err)
	}
	// stringData is write-only and never returned, so Data is complete.
	return s.Data, nil
}

func (l kubeLookups) ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error) {
	cm, err := l.o.configMap(ctx, namespace, name)
	if err != nil {
		return nil, lookupError(err)
	}
	return cm.Data, nil
}

// lookupError marks a missing object as envinject.ErrNotFound; the kube
// client's error already names the object.
func lookupError(err error) error {
	if kube.IsNotFound(err) {
		return fmt.Errorf("%w: %w", envinject.ErrNotFound, err)
	}
	return err
}
