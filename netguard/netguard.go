// Package netguard classifies IP addresses by the harm a request to them
// could do from inside a cluster (cloud instance metadata, link-local,
// loopback) and refuses them at dial time. The registry client's dialer and
// the webhook's vault-addr check share it, so both see through the same
// IPv6 embeddings of an IPv4 address: IPv4-mapped (::ffff:a.b.c.d),
// IPv4-compatible (::a.b.c.d), NAT64 (64:ff9b::a.b.c.d) and 6to4
// (2002:AABB:CCDD::).
package netguard

import (
	"errors"
	"fmt"
	"net/netip"
	"syscall"
)

// Class is what an address reaches.
type Class int

const (
	Ordinary  Class = iota // none of the below
	Loopback               // 127.0.0.0/8, ::1, and the unspecified 0.0.0.0 and :: (which Linux dials as loopback)
	LinkLocal              // fe80::/10 (IPv4 link-local is Metadata)
	Metadata               // cloud instance-metadata services, and all of 169.254.0.0/16
)

func (c Class) String() string {
	if c < Ordinary || c > Metadata {
		c = Ordinary
	}
	return [...]string{"ordinary", "loopback", "link-local", "cloud metadata"}[c]
}

// metadata holds the instance-metadata addresses: AWS, GCP, Azure,
// OpenStack and AWS ECS live in 169.254.0.0/16; AWS's IPv6 endpoint, GCP's
// IPv6 endpoint, Alibaba Cloud and Oracle Cloud.
var metadata = []netip.Prefix{
	netip.MustParsePrefix("169.254.0.0/16"),
	netip.MustParsePrefix("fd00:ec2::254/128"),
	netip.MustParsePrefix("fd20:ce::254/128"),
	netip.MustParsePrefix("100.100.100.200/32"),
	netip.MustParsePrefix("192.0.0.192/32"),
}

var (
	nat64     = netip.MustParsePrefix("64:ff9b::/96")
	sixToFour = netip.MustParsePrefix("2002::/16")
	v4compat  = netip.MustParsePrefix("::/96")
)

// Classify says what ip reaches. An IPv6 address that embeds an IPv4
// address (see the package documentation) is classified as that IPv4
// address; the zone is ignored.
func Classify(ip netip.Addr) Class {
	ip = embedded(ip.WithZone(""))
	for _, p := range metadata {
		if p.Contains(ip) {
			return Metadata
		}
	}
	switch {
	case ip.IsLoopback(), ip.IsUnspecified():
		return Loopback
	case ip.IsLinkLocalUnicast(), ip.IsLinkLocalMulticast():
		return LinkLocal
	}
	return Ordinary
}

// embedded returns the IPv4 address an IPv6 address carries, or ip itself.
func embedded(ip netip.Addr) netip.Addr {
	if ip.Is4In6() {
		return ip.Unmap()
	}
	if !ip.Is6() {
		return ip
	}
	b := ip.As16()
	switch {
	case nat64.Contains(ip):
		return netip.AddrFrom4([4]byte(b[12:16]))
	case sixToFour.Contains(ip):
		return netip.AddrFrom4([4]byte(b[2:6]))
	case v4compat.Contains(ip) && !ip.IsLoopback() && !ip.IsUnspecified():
		return netip.AddrFrom4([4]byte(b[12:16]))
	}
	return ip
}

// ErrRefused is wrapped by the errors of Check and of Control's function.
var ErrRefused = errors.New("address refused")

// RefusedError names a refused address and its class.
type RefusedError struct {
	Addr  netip.Addr
	Class Class
}

func (e *RefusedError) Error() string {
	return fmt.Sprintf("refusing to connect to %s, a %s address", e.Addr, e.Class)
}

func (e *RefusedError) Unwrap() error { return ErrRefused }

// Check refuses metadata, link-local and (unless allowLoopback) loopback
// addresses.
func Check(ip netip.Addr, allowLoopback bool) error {
	c := Classify(ip)
	if c == Ordinary || c == Loopback && allowLoopback {
		return nil
	}
	return &RefusedError{Addr: ip, Class: c}
}

// Control returns a net.Dialer Control function that applies Check to the
// address being connected to, after name resolution: a name that resolves
// to a refused address is refused, whatever the name.
func Control(allowLoopback bool) func(network, address string, _ syscall.RawConn) error {
	return func(network, address string, _ syscall.RawConn) error {
		ap, err := netip.ParseAddrPort(address)
		if err != nil {
			return fmt.Errorf("failed to parse dialed address %q: %w", address, ErrRefused)
		}
		return Check(ap.Addr(), allowLoopback)
	}
}
