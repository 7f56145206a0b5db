// Package vault holds the port between vault-env's runtime (package
// vaultenv) and its Vault client (package vaultclient, on vault/api): the
// Client interface and the values that cross it. It is a leaf, so the
// runtime and its tests never link vault/api, and the client does not
// import the runtime.
package vault
