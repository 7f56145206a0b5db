package netguard

import (
	"context"
	"errors"
	"net"
	"net/netip"
	"testing"
	"time"
)

func TestClassify(t *testing.T) {
	tests := []struct {
		name string
		addr string
		want Class
	}{
		{"AWS/GCP/Azure metadata", "169.254.169.254", Metadata},
		{"ECS task metadata", "169.254.170.2", Metadata},
		{"IPv4-mapped metadata", "::ffff:169.254.169.254", Metadata},
		{"NAT64 metadata", "64:ff9b::a9fe:a9fe", Metadata},
		{"NAT64 metadata, dotted", "64:ff9b::169.254.169.254", Metadata},
		{"6to4 metadata", "2002:a9fe:a9fe::", Metadata},
		{"6to4 metadata with host part", "2002:a9fe:a9fe:1::1", Metadata},
		{"IPv4-compatible metadata", "::a9fe:a9fe", Metadata},
		{"AWS IPv6 metadata", "fd00:ec2::254", Metadata},
		{"GCP IPv6 metadata", "fd20:ce::254", Metadata},
		{"NAT64 of AWS IPv6 is not a thing", "64:ff9b::fd00:254", Ordinary},
		{"Alibaba metadata", "100.100.100.200", Metadata},
		{"NAT64 Alibaba metadata", "64:ff9b::6464:64c8", Metadata},
		{"Oracle metadata", "192.0.0.192", Metadata},
		{"IPv6 link-local", "fe80::1", LinkLocal},
		{"IPv6 link-local with zone", "fe80::1%eth0", LinkLocal},
		{"IPv4 loopback", "127.0.0.1", Loopback},
		{"IPv4 loopback, other", "127.3.2.1", Loopback},
		{"IPv6 loopback", "::1", Loopback},
		{"IPv4-mapped loopback", "::ffff:127.0.0.1", Loopback},
		{"NAT64 loopback", "64:ff9b::7f00:1", Loopback},
		{"6to4 loopback", "2002:7f00:1::", Loopback},
		{"IPv4-compatible loopback", "::7f00:1", Loopback},
		{"unspecified IPv4", "0.0.0.0", Loopback},
		{"unspecified IPv6", "::", Loopback},
		{"ordinary IPv4", "10.0.0.1", Ordinary},
		{"ordinary IPv6", "2001:db8::1", Ordinary},
		{"NAT64 ordinary", "64:ff9b::a00:1", Ordinary},
		{"6to4 ordinary", "2002:a00:1::", Ordinary},
		{"near metadata", "169.255.0.1", Ordinary},
		{"near GCP IPv6", "fd20:ce::253", Ordinary},
	}
	for _, tt := range tests {
		t.Run(tt.name, func(t *testing.T) {
			if got := Classify(netip.MustParseAddr(tt.addr)); got != tt.want {
				t.Errorf("Classify(%s) = %v, want %v", tt.addr, got, tt.want)
			}
		})
	}
}

func TestCheck(t *testing.T) {
	tests := []struct {
		addr          string
		allowLoopback bool
		refused       bool
	}{
		{"127.0.0.1", false, true},
		{"127.0.0.1", true, false},
		{"169.254.169.254", true, true},
		{"fe80::1", true, true},
		{"10.1.2.3", false, false},
	}
	for _, tt := range tests {
		err := Check(netip.MustParseAddr(tt.addr), tt.allowLoopback)
		if refused := errors.Is(err, ErrRefused); refused != tt.refused {
			t.Errorf("Check(%s, %t) = %v, want refused %t", tt.addr, tt.allowLoopback, err, tt.refused)
		}
	}
}

// TestControl dials a real listener on loopback: refused without
// allowLoopback, connected with it.
func TestControl(t *testing.T) {
	ln, err := net.Listen("tcp", "127.0.0.1:0")
	if err != nil {
		t.Fatal(err)
	}
	defer ln.Close()
	accepted := make(chan struct{}, 4)
	go func() {
		for {
			c, err := ln.Accept()
			if err != nil {
				return
			}
			accepted <- struct{}{}
			c.Close()
		}
	}()
	ctx, cancel := context.WithTimeout(t.Context(), 5*time.Second)
	defer cancel()
	d := net.Dialer{Control: Control(false)}
	if c, err := d.DialContext(ctx, "tcp", ln.Addr().String()); !errors.Is(err, ErrRefused) {
		if c != nil {
			c.Close()
		}
		t.Fatalf("dial without allowLoopback = %v, want ErrRefused", err)
	}
	// "localhost" resolves to loopback: refused by address, whatever the name.
	_, port, _ := net.SplitHostPort(ln.Addr().String())
	if _, err := d.DialContext(ctx, "tcp", net.JoinHostPort("localhost", port)); !errors.Is(err, ErrRefused) {
		t.Fatalf("dial of localhost = %v, want ErrRefused", err)
	}
	d.Control = Control(true)
	c, err := d.DialContext(ctx, "tcp", ln.Addr().String())
	if err != nil {
		t.Fatalf("dial with allowLoopback: %v", err)
	}
	c.Close()
	<-accepted
	// Control runs before connect(2): a refused dial never reaches the
	// listener, so the one accepted connection is the allowed one.
	if n := len(accepted); n != 0 {
		t.Fatalf("%d more connections reached the listener", n)
	}
}
