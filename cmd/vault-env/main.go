// Command vault-env resolves Vault references in its environment and then
// runs the application with the resolved values, in memory only.
//
// Usage:
//
//	vault-env copy DIR      copy this executable to DIR/vault-env (mode 0555)
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
//	VAULT_ADDR                       Vault address (default https://127.0.0.1:8200)
//	VAULT_CACERT                     PEM file of the CA that signed Vault's certificate
//	VAULT_SKIP_VERIFY                true: do not verify Vault's certificate
//	VAULT_NAMESPACE                  Vault Enterprise namespace
//	VAULT_CLIENT_TIMEOUT             per-request timeout, and the bound of login retries (default 10s)
//	VAULT_AUTH_METHOD                kubernetes (default) or jwt
//	VAULT_PATH                       mount of the auth method (default kubernetes)
//	VAULT_ROLE                       role to log in as (default: the ServiceAccount name in the JWT)
//	KUBERNETES_SERVICE_ACCOUNT_TOKEN file holding the JWT (default /var/run/secrets/kubernetes.io/serviceaccount/token)
//	VAULT_TOKEN                      use this token instead of logging in; "vault:login": log in and
//	                                 give the new token to the application as VAULT_TOKEN
//	VAULT_TOKEN_FILE                 read the token from this file (e.g. written by a Vault agent)
//	VAULT_REVOKE_TOKEN               true: revoke vault-env's token before exec (revokes its leases too)
//	VAULT_IGNORE_MISSING_SECRETS     true: a missing path or key is a warning; the variable is not set
//	VAULT_ENV_PASSTHROUGH            comma list of the settings above to keep in the application's environment
//	                                 (never VAULT_TOKEN)
//	VAULT_ENV_FROM_PATH              comma list of paths; each key becomes a variable (explicit variables win)
//	VAULT_ENV_DAEMON                 true: run the application as a child, renew the token and leases
//	VAULT_ENV_DELAY                  wait this long after resolving, before starting the application
//	VAULT_ENV_GRACE_PERIOD           daemon mode: SIGTERM-to-SIGKILL delay when a lease ends (default 10s)
//	VAULT_LOG_LEVEL                  debug, info (default), warn, error
//	VAULT_JSON_LOG                   true: log JSON lines instead of text (always to stderr; times in UTC)
//	VAULT_TRANSIT_KEY_ID             transit key that decrypts vault:vN: values
//	VAULT_TRANSIT_PATH               transit mount (default transit)
//	VAULT_TRANSIT_BATCH_SIZE         ciphertexts per decrypt request (default 25)
//
// All of these are removed from the application's environment unless listed
// in VAULT_ENV_PASSTHROUGH. Durations are Go durations (10s) or plain seconds.
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
	if err := run(context.Background(), os.Args, os.Environ()); err != nil {
		var ee *exitError
		if errors.As(err, &ee) {
			os.Exit(ee.code)
		}
		fmt.Fprintf(os.Stderr, "vault-env: %v\n", err)
		os.Exit(1)
	}
}
