package main

import (
	"context"
	"errors"
	"fmt"
	"log/slog"
	"os"
	"strings"

	corev1 "k8s.io/api/core/v1"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/kube"
	"github.com/vault-secrets-webhook/vault-secrets-webhook/registry"
)

// registryImages looks up a container image's ENTRYPOINT/CMD in its
// registry, authenticating with the pod's pull secrets, then its
// ServiceAccount's, then the operator's default (read through the kube
// client; in least-privilege mode no Secret is read and lookups are
// anonymous).
type registryImages struct {
	rc            *registry.Client
	objs          *objects // nil: anonymous only
	defaultSecret string   // NAMESPACE/NAME or ""
	log           *slog.Logger
}

func newImages(cfg *config, objs *objects, log *slog.Logger) (*registryImages, error) {
	opts := registry.Options{
		InsecureHosts:   cfg.RegistryInsecure,
		DefaultPlatform: cfg.RegistryPlatform,
		Timeout:         cfg.RegistryTimeout,
	}
	if cfg.RegistryCAFile != "" {
		b, err := os.ReadFile(cfg.RegistryCAFile)
		if err != nil {
			return nil, fmt.Errorf("failed to read registry CA file: %w", err)
		}
		opts.CABundle = b
	}
	if err := opts.Validate(); err != nil {
		return nil, err
	}
	ri := &registryImages{rc: registry.New(opts), defaultSecret: cfg.DefaultPullSecret, log: log}
	if !cfg.LeastPrivilege {
		ri.objs = objs
	}
	return ri, nil
}

func (r *registryImages) ImageConfig(ctx context.Context, req envinject.ImageRequest) (envinject.ImageConfig, error) {
	secrets, warnings := r.pullSecrets(ctx, req)
	ic, err := r.rc.ImageConfig(ctx, registry.Request{
		Image:              req.Image,
		Namespace:          req.Namespace,
		PullSecrets:        secrets,
		Platform:           registry.PodPlatform(req.OSValues, req.ArchValues),
		InsecureSkipVerify: req.SkipVerify,
	})
	if err != nil {
		var re *registry.Error
		if errors.Is(err, registry.ErrTimeout) || errors.Is(err, registry.ErrUnavailable) || !errors.As(err, &re) {
			return envinject.ImageConfig{}, err
		}
		// Not found, unauthorized, no platform, invalid, refused: the pod's
		// to fix. The user sees the curated text; the detail (status codes,
		// addresses) is logged.
		r.log.Info("image lookup refused", "namespace", req.Namespace, "image", req.Image, "error", err.Error())
		return envinject.ImageConfig{}, &envinject.Denied{Reason: envinject.RefusedImageLookup,
			Message: re.Public() + "; set the container's command explicitly or fix the image reference or pull secret"}
	}
	return envinject.ImageConfig{Entrypoint: ic.Entrypoint, Cmd: ic.Cmd, Warnings: append(warnings, ic.Warnings...)}, nil
}

// pullSecretKeys is the data key of each docker-config Secret type.
var pullSecretKeys = map[corev1.SecretType]string{
	corev1.SecretTypeDockerConfigJson: corev1.DockerConfigJsonKey,
	corev1.SecretTypeDockercfg:        corev1.DockerConfigKey,
}

// pullSecrets gathers pull secrets in priority order. A secret that cannot
// be read is skipped with a warning, as the kubelet does.
func (r *registryImages) pullSecrets(ctx context.Context, req envinject.ImageRequest) ([]registry.PullSecret, []string) {
	if r.objs == nil {
		return nil, nil
	}
	type ref struct{ ns, name string }
	var refs []ref
	for _, n := range req.PullSecrets {
		refs = append(refs, ref{req.Namespace, n})
	}
	if req.ServiceAccount != "" {
		sa, err := r.objs.serviceAccount(ctx, req.Namespace, req.ServiceAccount)
		switch {
		case err == nil:
			for _, s := range sa.ImagePullSecrets {
				refs = append(refs, ref{req.Namespace, s.Name})
			}
		case !kube.IsNotFound(err):
			r.log.Warn("failed to read ServiceAccount for pull secrets", "namespace", req.Namespace, "serviceAccount", req.ServiceAccount, "error", err.Error())
		}
	}
	if ns, name, ok := strings.Cut(r.defaultSecret, "/"); ok {
		refs = append(refs, ref{ns, name})
	}
	var out []registry.PullSecret
	var warnings []string
	seen := map[ref]bool{}
	for _, x := range refs {
		if seen[x] {
			continue
		}
		seen[x] = true
		s, err := r.objs.secret(ctx, x.ns, x.name)
		if err != nil {
			warnings = append(warnings, fmt.Sprintf("image pull secret %s/%s not readable by the webhook", x.ns, x.name))
			continue
		}
		dataKey, ok := pullSecretKeys[s.Type]
		if !ok {
			warnings = append(warnings, fmt.Sprintf("image pull secret %s/%s has type %s, not a docker config", x.ns, x.name, s.Type))
			continue
		}
		// registry-skip-verify never applies to the operator's secret, by
		// whichever path the pod reaches it.
		operator := x.ns+"/"+x.name == r.defaultSecret
		out = append(out, registry.PullSecret{Type: string(s.Type), Data: s.Data[dataKey], AlwaysVerifyTLS: operator})
	}
	return out, warnings
}
