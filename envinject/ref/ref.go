// Package ref is the grammar of Vault references in environment values. It is
// shared by the webhook (which only asks whether a value needs vault-env) and
// vault-env (which parses and resolves). Stdlib only.
package ref

import "strings"

// Contains reports whether value needs vault-env to resolve it: a whole-value
// reference (vault:, >>vault:, transit vault:v1:) or an inline ${vault:…} /
// ${>>vault:…} anywhere inside it.
//
// This is the contract the webhook relies on; the full parser lives beside it.
func Contains(value string) bool {
	return strings.HasPrefix(value, "vault:") ||
		strings.HasPrefix(value, ">>vault:") ||
		strings.Contains(value, "${vault:") ||
		strings.Contains(value, "${>>vault:")
}
