package main

import (
	"context"
	"fmt"
	"sync"
	"time"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/admission"
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

// ttlCache is a small, size-bounded cache with a fixed TTL that coalesces
// concurrent misses of one key into one fetch. Cached values are shared:
// callers must not modify them.
type ttlCache[V any] struct {
	ttl     time.Duration
	max     int
	now     func() time.Time
	mu      sync.Mutex
	entries map[string]*ttlEntry[V]
}

type ttlEntry[V any] struct {
	done    chan struct{} // closed when val/err are set
	val     V
	err     error
	expires time.Time
}

func newTTLCache[V any](ttl time.Duration, max int, now func() time.Time) *ttlCache[V] {
	return &ttlCache[V]{ttl: ttl, max: max, now: now, entries: map[string]*ttlEntry[V]{}}
}

// get returns the cached value of key, or waits for the fetch of key in
// flight, or fetches it. The fetch runs with ctx's values but not its
// cancellation (a caller that gives up does not fail the others waiting),
// bounded by objectGetTimeout; each caller stops waiting when its own ctx
// is done.
func (c *ttlCache[V]) get(ctx context.Context, key string, fetch func(context.Context) (V, error)) (V, error) {
	c.mu.Lock()
	e, ok := c.entries[key]
	if ok {
		select {
		case <-e.done:
			if c.now().Before(e.expires) {
				c.mu.Unlock()
				return e.val, nil
			}
			ok = false // expired: fetch again
		default: // in flight: wait below
		}
	}
	if !ok {
		c.makeRoom()
		e = &ttlEntry[V]{done: make(chan struct{})}
		c.entries[key] = e
		go c.fill(ctx, key, e, fetch)
	}
	c.mu.Unlock()
	select {
	case <-e.done:
		return e.val, e.err
	case <-ctx.Done():
		var zero V
		return zero, ctx.Err()
	}
}

func (c *ttlCache[V]) fill(ctx context.Context, key string, e *ttlEntry[V], fetch func(context.Context) (V, error)) {
	fctx, cancel := context.WithTimeout(context.WithoutCancel(ctx), objectGetTimeout)
	defer cancel()
	val, err := fetch(fctx)
	c.mu.Lock()
	defer c.mu.Unlock()
	e.val, e.err, e.expires = val, err, c.now().Add(c.ttl)
	if err != nil && c.entries[key] == e {
		delete(c.entries, key) // failures are not cached
	}
	close(e.done)
}

// makeRoom drops expired entries when the cache is full, then, if still
// full, any finished entry. Called with mu held.
func (c *ttlCache[V]) makeRoom() {
	if len(c.entries) < c.max {
		return
	}
	now := c.now()
	for k, e := range c.entries {
		select {
		case <-e.done:
			if !now.Before(e.expires) {
				delete(c.entries, k)
			}
		default:
		}
	}
	for k, e := range c.entries {
		if len(c.entries) < c.max {
			return
		}
		select {
		case <-e.done:
			delete(c.entries, k)
		default:
		}
	}
}

func (c *ttlCache[V]) len() int {
	c.mu.Lock()
	defer c.mu.Unlock()
	return len(c.entries)
}

// objects reads Secrets, ConfigMaps and ServiceAccounts through
// short-lived caches (see objectCacheTTL).
type objects struct {
	c       *kube.Client
	secrets *ttlCache[*corev1.Secret]
	cms     *ttlCache[*corev1.ConfigMap]
	sas     *ttlCache[*corev1.ServiceAccount]
}

func newObjects(c *kube.Client) *objects {
	return &objects{
		c:       c,
		secrets: newTTLCache[*corev1.Secret](objectCacheTTL, objectCacheSize, time.Now),
		cms:     newTTLCache[*corev1.ConfigMap](objectCacheTTL, objectCacheSize, time.Now),
		sas:     newTTLCache[*corev1.ServiceAccount](objectCacheTTL, objectCacheSize, time.Now),
	}
}

func (o *objects) secret(ctx context.Context, namespace, name string) (*corev1.Secret, error) {
	return o.secrets.get(ctx, namespace+"/"+name, func(ctx context.Context) (*corev1.Secret, error) {
		return o.c.GetSecret(ctx, namespace, name)
	})
}

func (o *objects) configMap(ctx context.Context, namespace, name string) (*corev1.ConfigMap, error) {
	return o.cms.get(ctx, namespace+"/"+name, func(ctx context.Context) (*corev1.ConfigMap, error) {
		return o.c.GetConfigMap(ctx, namespace, name)
	})
}

func (o *objects) serviceAccount(ctx context.Context, namespace, name string) (*corev1.ServiceAccount, error) {
	return o.sas.get(ctx, namespace+"/"+name, func(ctx context.Context) (*corev1.ServiceAccount, error) {
		return o.c.GetServiceAccount(ctx, namespace, name)
	})
}

// kubeLookups reads Secrets and ConfigMaps for the mutation decision.
type kubeLookups struct{ o *objects }

func (l kubeLookups) SecretData(ctx context.Context, namespace, name string) (map[string][]byte, error) {
	s, err := l.o.secret(ctx, namespace, name)
	if err != nil {
		if kube.IsNotFound(err) {
			return nil, fmt.Errorf("failed to get secret %s/%s: %w", namespace, name, admission.ErrNotFound)
		}
		return nil, fmt.Errorf("failed to get secret %s/%s: %w", namespace, name, err)
	}
	// stringData is write-only and never returned, so Data is complete.
	return s.Data, nil
}

func (l kubeLookups) ConfigMapData(ctx context.Context, namespace, name string) (map[string]string, error) {
	cm, err := l.o.configMap(ctx, namespace, name)
	if err != nil {
		if kube.IsNotFound(err) {
			return nil, fmt.Errorf("failed to get configmap %s/%s: %w", namespace, name, admission.ErrNotFound)
		}
		return nil, fmt.Errorf("failed to get configmap %s/%s: %w", namespace, name, err)
	}
	return cm.Data, nil
}
