package registry

import "slices"

// Resolve returns the argv a container runtime starts for a container with
// the given image config and the pod's command and args (kubelet
// semantics):
//
//	command and args:   command + args
//	command only:       command (the image's ENTRYPOINT and CMD are ignored)
//	args only:          ENTRYPOINT + args (CMD is dropped)
//	neither:            ENTRYPOINT + CMD
//
// The result is a fresh slice. Kubernetes' $(VAR) expansion is not applied.
func Resolve(cfg ImageConfig, command, args []string) (argv []string) {
	switch {
	case len(command) > 0:
		return slices.Concat(command, args)
	case len(args) > 0:
		return slices.Concat(cfg.Entrypoint, args)
	default:
		return slices.Concat(cfg.Entrypoint, cfg.Cmd)
	}
}
