// Package vaultclient is the one place that imports github.com/hashicorp/vault/api:
// authentication (kubernetes/jwt, token, token file), reads (KV v1/v2), writes,
// transit decryption and lease renewal.
package vaultclient

import _ "github.com/hashicorp/vault/api"
