//go:build tools

// Package tools pins the Vault server the sandbox runs (a dev server on
// 127.0.0.1). It is a separate module so the product never links Vault's server.
package tools

import _ "github.com/hashicorp/vault"
