package kubelet

import (
	"fmt"
	"path"
	"strings"

	corev1 "k8s.io/api/core/v1"
)

// ImageKind is what the stand-in knows how to run for an image.
type ImageKind int

const (
	// ImageVaultEnv is our vault-env image: its program is the vault-env
	// built from this checkout, bind-mounted at /usr/local/bin/vault-env.
	ImageVaultEnv ImageKind = iota + 1
	// ImageShell is alpine or busybox: the argv runs with this machine's
	// own tools, found through the container's PATH.
	ImageShell
	// ImageTestApp is the test program e2e/cmd/testapp, bind-mounted at
	// /usr/local/bin/testapp; it is also the image's ENTRYPOINT.
	ImageTestApp
)

// In-image paths of the programs the stand-in provides.
const (
	VaultEnvPath = "/usr/local/bin/vault-env"
	TestAppPath  = "/usr/local/bin/testapp"
)

// Repository returns the last path element of an image's repository:
// "ghcr.io/x/vault-env:v1@sha256:..." -> "vault-env".
func Repository(image string) string {
	s, _, _ := strings.Cut(image, "@")
	if i := strings.LastIndexByte(s, ':'); i > strings.LastIndexByte(s, '/') {
		s = s[:i]
	}
	return s[strings.LastIndexByte(s, '/')+1:]
}

// ClassifyImage maps an image reference to what the stand-in runs for it.
func ClassifyImage(image string) (ImageKind, error) {
	switch Repository(image) {
	case "vault-env":
		return ImageVaultEnv, nil
	case "alpine", "busybox":
		return ImageShell, nil
	case "testapp":
		return ImageTestApp, nil
	}
	return 0, fmt.Errorf("image %q is not one the kubelet stand-in can run (vault-env, alpine, busybox, testapp)", image)
}

// Argv computes a container's argv as the runtime would: command replaces
// the image's ENTRYPOINT and args its CMD, each element $(VAR)-expanded
// with env. The stand-in knows only testapp's ENTRYPOINT, so any other
// image needs a command. For vault-env, argv[0] becomes VaultEnvPath; for
// testapp, an argv[0] named testapp becomes TestAppPath (other programs,
// e.g. /vault/vault-env after the webhook's mutation, run as given).
func Argv(c *corev1.Container, kind ImageKind, env map[string]string) ([]string, error) {
	lookup := mapLookup(env)
	var argv []string
	for _, s := range c.Command {
		argv = append(argv, Expand(s, lookup))
	}
	if len(argv) == 0 {
		if kind != ImageTestApp {
			return nil, fmt.Errorf("container %s has no command and the kubelet stand-in does not know the ENTRYPOINT of image %s", c.Name, c.Image)
		}
		argv = []string{TestAppPath}
	}
	for _, s := range c.Args {
		argv = append(argv, Expand(s, lookup))
	}
	switch kind {
	case ImageVaultEnv:
		argv[0] = VaultEnvPath
	case ImageTestApp:
		if path.Base(argv[0]) == "testapp" {
			argv[0] = TestAppPath
		}
	}
	return argv, nil
}

// imageEnv is the environment an image brings: the stand-in's images all
// have the usual PATH; HOSTNAME is the pod name and HOME follows the user.
func imageEnv(podName string, uid *int64) map[string]string {
	home := "/root"
	if uid != nil && *uid != 0 {
		home = "/"
	}
	return map[string]string{"PATH": DefaultPath, "HOSTNAME": podName, "HOME": home}
}
