// Command vault-env resolves Vault references in its environment and then
// runs the application with the resolved values, in memory only.
//
// Usage:
//
//	vault-env copy DIR      copy this executable to DIR/vault-env (mode 0555), then
//	                        create the directories VAULT_ENV_COPY_DIRS lists (comma-
//	                        separated, relative to DIR: mount points of the volumes
//	                        the webhook mounts below DIR, which is read-only elsewhere)
//	vault-env ARGV...       resolve, then exec ARGV (or supervise it in daemon mode)
//
// The copy form is what the webhook's init container runs, so the image needs
// no shell. (An application whose argv is exactly ["copy", X] cannot be
// wrapped.)
//
// # References
//
// Values of the form vault:PATH#KEY[#VERSION], >>vault:PATH#KEY[#JSON],
// vault:vN:CIPHERTEXT (transit), key templates ${...} and inline
// ${vault:...} are resolved; see package envinject/ref for the grammar.
// Every other value passes through byte for byte.
//
// # Environment
//
// The settings are listed in the README (generated from vaultenv.Settings)
// and explained in package vaultenv's doc.
//
// Exit status: 0 never (exec replaces the process) in exec mode; 1 when
// resolving fails (the application is not started); in daemon mode the
// application's status, or 128+N when it was killed by signal N.
package main

import (
	"context"
	"errors"
	"fmt"
	"os"
)

// version is stamped at build time (-X main.version=…, from git describe in the
// Makefile, scripts/reproducible and the Dockerfile), so an audited binary says
// which commit it was built from. vault-env takes no flags of its own (its argv
// is the application's), so it is not printed.
var version = "devel"

func main() {
	// First: no core dump, no ptrace or /proc/PID/{mem,environ} for other
	// processes of the uid, before the environment's token or any login
	// exists in memory. execve resets it for the application (exec mode and
	// daemon mode's child alike).
	if err := setNotDumpable(); err != nil {
		fmt.Fprintf(os.Stderr, "vault-env: failed to mark the process non-dumpable: %v\n", err)
		os.Exit(1)
	}
	if err := run(context.Background(), os.Args, os.Environ()); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintf(os.Stderr, "vault-env: %v\n", err)
		os.Exit(1)
	}
}
