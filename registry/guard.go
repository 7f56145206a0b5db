package registry

import (
	"context"
	"errors"
	"fmt"
	"net"
	"net/http"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/netguard"
)

// The registry a pod names, the token realm that registry names and every
// redirect are chosen by whoever controls the image reference, so the
// client guards what it connects to (server-side request forgery):
//
//   - Every connection of the built-in transports is checked after name
//     resolution (netguard.Control): cloud metadata and link-local addresses
//     are refused, and loopback addresses too, except for the image's own
//     registry host[:port] (Docker's rule for 127.0.0.0/8 registries; inside
//     a pod, loopback is the webhook itself). A host[:port] listed in
//     Options.InsecureHosts is trusted and dialed unchecked. With a proxy
//     (HTTPS_PROXY) the check applies to the proxy's address: the proxy
//     resolves the registry's name and must refuse internal addresses
//     itself.
//   - A token realm must be https, unless it is listed in InsecureHosts or
//     is the image's registry itself spoken to in plain HTTP.
//   - Credentials go to a realm only on the registry's host or its domain
//     (auth.docker.io for registry-1.docker.io, gitlab.com for
//     registry.gitlab.com) or a listed host; another realm is asked
//     anonymously.
//   - Redirects are followed at most five times, never from https to http
//     (unless the target is listed), and every target is dialed through
//     the same check.

// dialHostKey carries, in a request's context, the image registry's
// host[:port] whose loopback address may be dialed.
type dialHostKey struct{}

func withRegistryHost(ctx context.Context, host string) context.Context {
	return context.WithValue(ctx, dialHostKey{}, host)
}

// trusted reports whether host (host or host:port) is listed in
// Options.InsecureHosts.
func (c *Client) trusted(hostport string) bool {
	if c.insecureHosts[strings.ToLower(hostport)] {
		return true
	}
	h, _, err := net.SplitHostPort(hostport)
	return err == nil && c.insecureHosts[strings.ToLower(h)]
}

// dial connects the built-in transports, refusing metadata, link-local and
// (but for the registry's own address) loopback addresses.
func (c *Client) dial(ctx context.Context, network, addr string) (net.Conn, error) {
	d := net.Dialer{Timeout: 3 * time.Second, KeepAlive: 30 * time.Second}
	if !c.trusted(addr) {
		own, _ := ctx.Value(dialHostKey{}).(string)
		d.Control = netguard.Control(sameHostPort(addr, own))
	}
	return d.DialContext(ctx, network, addr)
}

// sameHostPort compares a dialed host:port with a registry host whose port
// may be implicit (then 443 or 80).
func sameHostPort(addr, registryHost string) bool {
	if registryHost == "" {
		return false
	}
	h, p, err := net.SplitHostPort(addr)
	if err != nil {
		return false
	}
	rh, rp, err := net.SplitHostPort(registryHost)
	if err != nil {
		rh, rp = strings.Trim(registryHost, "[]"), ""
	}
	if !strings.EqualFold(h, rh) {
		return false
	}
	return p == rp || rp == "" && (p == "443" || p == "80")
}

// mayGetCredentials reports whether a token realm on realmHost may be sent
// the credentials of registryHost: the same host name, a host of the
// registry's parent domain or the parent itself (auth.docker.io and
// registry-1.docker.io; gitlab.com and registry.gitlab.com). IP addresses
// must match exactly; ports do not matter (a token server beside the
// registry). Listing a host in InsecureHosts does not change this.
func mayGetCredentials(realmHost, registryHost string) bool {
	realm, reg := hostname(realmHost), hostname(registryHost)
	if realm == reg {
		return true
	}
	if net.ParseIP(reg) != nil || net.ParseIP(realm) != nil {
		return false
	}
	_, parent, ok := strings.Cut(reg, ".")
	if !ok || !strings.Contains(parent, ".") {
		return false // a top-level domain is no one's parent
	}
	return realm == parent || strings.HasSuffix(realm, "."+parent)
}

func hostname(hostport string) string {
	h, _, err := net.SplitHostPort(hostport)
	if err != nil {
		h = hostport
	}
	return strings.ToLower(strings.TrimSuffix(strings.Trim(h, "[]"), "."))
}

// errRedirect is wrapped by refused redirects.
var errRedirect = errors.New("redirect refused")

// checkRedirect is the http.Client's CheckRedirect.
func (c *Client) checkRedirect(req *http.Request, via []*http.Request) error {
	if len(via) >= 5 {
		return errors.New("more than 5 redirects")
	}
	if req.URL.Scheme != "https" && via[len(via)-1].URL.Scheme == "https" && !c.trusted(req.URL.Host) {
		return fmt.Errorf("%w: from https to %s", errRedirect, req.URL.Scheme)
	}
	return nil
}
