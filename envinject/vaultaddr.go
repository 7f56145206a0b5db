package envinject

import (
	"fmt"
	"net/netip"
	"net/url"
	"slices"
	"strings"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/netguard"
)

// VaultAddrError says why a vault-addr annotation was refused. Message is
// safe to show to the user who created the pod.
type VaultAddrError struct{ Reason string }

func (e *VaultAddrError) Error() string {
	return "annotation " + AnnotationPrefix + AnnVaultAddr + " refused: " + e.Reason
}

// metadataHosts are cloud instance-metadata names that are refused whatever
// the allow-list says.
var metadataHosts = []string{
	"metadata.google.internal",
	"metadata",
	"metadata.azure.internal",
	"instance-data",
	"instance-data.ec2.internal",
}

// checkVaultAddr validates a vault-addr annotation: an absolute http(s) URL
// without userinfo, query or fragment, never an instance-metadata address,
// and allowed by the operator's allow-list. allow entries are either "*"
// (any address that passes the other checks) or a URL that must match
// exactly (sameAddr). The webhook-wide address itself is always allowed.
// An allow-listed address is accepted even when it is private or loopback:
// in-cluster Vaults live there.
func checkVaultAddr(raw, webhookAddr string, allow []string) (string, error) {
	if raw == "" {
		return "", &VaultAddrError{Reason: "empty: remove the annotation to use the webhook's Vault address"}
	}
	u, err := url.Parse(raw)
	if err != nil || !u.IsAbs() || u.Host == "" {
		return "", &VaultAddrError{Reason: "not an absolute URL"}
	}
	if u.Scheme != "http" && u.Scheme != "https" {
		return "", &VaultAddrError{Reason: "scheme must be http or https"}
	}
	if u.User != nil {
		return "", &VaultAddrError{Reason: "userinfo is not allowed"}
	}
	if u.RawQuery != "" || u.Fragment != "" || u.Opaque != "" {
		return "", &VaultAddrError{Reason: "query and fragment are not allowed"}
	}
	host := strings.ToLower(strings.TrimSuffix(u.Hostname(), "."))
	if host == "" {
		return "", &VaultAddrError{Reason: "no host"}
	}
	if slices.Contains(metadataHosts, host) {
		return "", &VaultAddrError{Reason: "cloud metadata addresses are never allowed"}
	}
	if ip, err := netip.ParseAddr(host); err == nil {
		// netguard sees through the IPv6 forms of an IPv4 address (mapped,
		// compatible, NAT64, 6to4); link-local addresses are refused too.
		if c := netguard.Classify(ip); c == netguard.Metadata || c == netguard.LinkLocal {
			return "", &VaultAddrError{Reason: "cloud metadata addresses are never allowed"}
		}
	} else if looksNumeric(host) {
		// 2852039166, 0xa9fea9fe, 0251.0376.0251.0376: resolvers that accept
		// inet_aton forms would reach an IP we cannot vet.
		return "", &VaultAddrError{Reason: "numeric host names must be canonical IP addresses"}
	}
	canonical := u.String()
	if sameAddr(u, webhookAddr) {
		return canonical, nil
	}
	for _, a := range allow {
		if a == "*" || sameAddr(u, a) {
			return canonical, nil
		}
	}
	return "", &VaultAddrError{Reason: fmt.Sprintf("%s://%s is not in the webhook's allow-list (--allowed-vault-addrs)", u.Scheme, u.Host)}
}

// looksNumeric reports whether host is an inet_aton style IPv4 form (one to
// four dot-separated decimal, octal or 0x-hex numbers) that a lenient
// resolver would treat as an address.
func looksNumeric(host string) bool {
	parts := strings.Split(host, ".")
	if len(parts) > 4 {
		return false
	}
	for _, p := range parts {
		digits := p
		hex := strings.HasPrefix(p, "0x")
		if hex {
			digits = p[2:]
		}
		if digits == "" && !hex {
			return false
		}
		for _, r := range digits {
			if !(r >= '0' && r <= '9' || hex && r >= 'a' && r <= 'f') {
				return false
			}
		}
	}
	return true
}

// sameAddr matches an address against an allow-list entry: the same
// scheme, the same host compared case-insensitively, the same port as
// written (no default port is filled in: https://v and https://v:443 are
// different entries) and the same path, a trailing slash aside.
func sameAddr(u *url.URL, entry string) bool {
	o, err := url.Parse(entry)
	if err != nil || o.Host == "" {
		return false
	}
	return u.Scheme == o.Scheme && strings.EqualFold(u.Hostname(), o.Hostname()) && u.Port() == o.Port() &&
		strings.TrimSuffix(u.EscapedPath(), "/") == strings.TrimSuffix(o.EscapedPath(), "/")
}
