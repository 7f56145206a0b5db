// Command mysqllogin is the program of the sandbox's `mysqllogin` image
// (built by scripts/image): the application of the daemon-mode e2e test. It
// logs in to a MySQL or MariaDB server again and again with the user and
// password it was started with, and prints one line per attempt:
//
//	login ok USER
//	login failed USER: REASON
//
// Settings (environment):
//
//   - MYSQL_ADDR: HOST:PORT of the server (required)
//   - MYSQL_USER, MYSQL_PASSWORD: the credentials (required; the password is
//     never printed)
//   - MYSQL_INTERVAL: a Go duration between attempts (default 2s)
//
// It handles no signal: SIGTERM ends it the default way, so its parent sees
// that it died of SIGTERM.
//
// The client is the smallest that logs in: protocol 4.1 handshake v10 and
// the mysql_native_password method (also after an authentication switch
// request), no TLS, no database, then COM_QUIT. Standard library only.
package main

import (
	"bufio"
	"bytes"
	"cmp"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"fmt"
	"io"
	"net"
	"os"
	"time"
)

func main() {
	addr, user, password := os.Getenv("MYSQL_ADDR"), os.Getenv("MYSQL_USER"), os.Getenv("MYSQL_PASSWORD")
	if addr == "" || user == "" || password == "" {
		fmt.Fprintln(os.Stderr, "mysqllogin: MYSQL_ADDR, MYSQL_USER and MYSQL_PASSWORD must be set")
		os.Exit(2)
	}
	interval := 2 * time.Second
	if s := os.Getenv("MYSQL_INTERVAL"); s != "" {
		d, err := time.ParseDuration(s)
		if err != nil || d <= 0 {
			fmt.Fprintf(os.Stderr, "mysqllogin: failed to parse MYSQL_INTERVAL %q: want a duration such as 2s\n", s)
			os.Exit(2)
		}
		interval = d
	}
	for {
		if err := login(addr, user, password, 10*time.Second); err != nil {
			fmt.Printf("login failed %s: %v\n", user, err)
		} else {
			fmt.Printf("login ok %s\n", user)
		}
		time.Sleep(interval)
	}
}

// Capability flags of the client (and those it needs from the server).
const (
	clientLongPassword     = 0x00000001
	clientProtocol41       = 0x00000200
	clientSecureConnection = 0x00008000
	clientPluginAuth       = 0x00080000
	needed                 = clientProtocol41 | clientSecureConnection | clientPluginAuth
	nativePassword         = "mysql_native_password"
	charsetUTF8            = 33 // utf8_general_ci
)

// ErrServer is a server's ERR packet.
type ErrServer struct {
	Code    uint16
	Message string
}

func (e *ErrServer) Error() string { return fmt.Sprintf("server error %d: %s", e.Code, e.Message) }

// errProtocol is an answer this client does not understand.
var errProtocol = errors.New("unexpected answer from the server")

// login opens a connection, authenticates, and quits.
func login(addr, user, password string, timeout time.Duration) error {
	conn, err := net.DialTimeout("tcp", addr, timeout)
	if err != nil {
		return fmt.Errorf("failed to connect: %w", err)
	}
	defer conn.Close()
	if err := conn.SetDeadline(time.Now().Add(timeout)); err != nil {
		return fmt.Errorf("failed to set deadline: %w", err)
	}
	c := &packets{r: bufio.NewReader(conn), w: conn}
	hello, err := c.read()
	if err != nil {
		return fmt.Errorf("failed to read handshake: %w", err)
	}
	scramble, plugin, err := parseHandshake(hello)
	if err != nil {
		return err
	}
	plugin = cmp.Or(plugin, nativePassword)
	var auth []byte
	if plugin == nativePassword {
		auth = scrambleNative(scramble, password)
	} // another method: send none, expect a switch to native
	resp := binary.LittleEndian.AppendUint32(nil, clientLongPassword|needed)
	resp = binary.LittleEndian.AppendUint32(resp, 1<<24-1)
	resp = append(resp, charsetUTF8)
	resp = append(resp, make([]byte, 23)...)
	resp = append(append(resp, user...), 0)
	resp = append(append(resp, byte(len(auth))), auth...)
	resp = append(append(resp, nativePassword...), 0)
	if err := c.write(resp); err != nil {
		return fmt.Errorf("failed to send handshake response: %w", err)
	}
	for range 2 { // the answer, or an auth switch then the answer
		p, err := c.read()
		if err != nil {
			return fmt.Errorf("failed to read authentication result: %w", err)
		}
		switch {
		case len(p) > 0 && p[0] == 0x00:
			c.seq = 0
			_ = c.write([]byte{0x01}) // COM_QUIT; the server closes
			return nil
		case len(p) > 0 && p[0] == 0xff:
			return parseErr(p)
		case len(p) > 0 && p[0] == 0xfe:
			name, data, _ := bytes.Cut(p[1:], []byte{0})
			if string(name) != nativePassword {
				return fmt.Errorf("%w: authentication method %q is not supported", errProtocol, name)
			}
			if err := c.write(scrambleNative(bytes.TrimSuffix(data, []byte{0}), password)); err != nil {
				return fmt.Errorf("failed to send authentication switch response: %w", err)
			}
		default:
			return fmt.Errorf("%w: packet type %#x", errProtocol, first(p))
		}
	}
	return fmt.Errorf("%w: more than one authentication switch", errProtocol)
}

// parseHandshake returns the 20-byte scramble and the authentication method
// of an initial handshake packet (protocol version 10).
func parseHandshake(p []byte) (scramble []byte, plugin string, err error) {
	if len(p) > 0 && p[0] == 0xff {
		return nil, "", parseErr(p)
	}
	if len(p) < 1 || p[0] != 10 {
		return nil, "", fmt.Errorf("%w: handshake protocol %d, want 10", errProtocol, first(p))
	}
	_, rest, ok := bytes.Cut(p[1:], []byte{0}) // server version
	// connection id (4), scramble part 1 (8), filler (1), capabilities low (2),
	// charset (1), status (2), capabilities high (2), scramble length (1),
	// reserved (10), scramble part 2 (12 + NUL), method name.
	if !ok || len(rest) < 4+8+1+2+1+2+2+1+10+13 {
		return nil, "", fmt.Errorf("%w: short handshake", errProtocol)
	}
	scramble = append([]byte(nil), rest[4:12]...)
	caps := uint32(binary.LittleEndian.Uint16(rest[13:15])) | uint32(binary.LittleEndian.Uint16(rest[18:20]))<<16
	if caps&needed != needed {
		return nil, "", fmt.Errorf("%w: server capabilities %#x lack protocol 4.1 authentication", errProtocol, caps)
	}
	rest = rest[31:]
	scramble = append(scramble, rest[:12]...)
	name, _, _ := bytes.Cut(rest[13:], []byte{0})
	return scramble, string(name), nil
}

// scrambleNative is mysql_native_password's answer:
// SHA1(password) XOR SHA1(scramble + SHA1(SHA1(password))).
func scrambleNative(scramble []byte, password string) []byte {
	if password == "" {
		return nil
	}
	h1 := sha1.Sum([]byte(password))
	h2 := sha1.Sum(h1[:])
	h3 := sha1.Sum(append(append([]byte(nil), scramble...), h2[:]...))
	for i := range h3 {
		h3[i] ^= h1[i]
	}
	return h3[:]
}

// parseErr decodes an ERR packet (with or without an SQL state).
func parseErr(p []byte) error {
	if len(p) < 3 {
		return fmt.Errorf("%w: short error packet", errProtocol)
	}
	e := &ErrServer{Code: binary.LittleEndian.Uint16(p[1:3])}
	msg := p[3:]
	if len(msg) >= 6 && msg[0] == '#' {
		msg = msg[6:]
	}
	e.Message = string(msg)
	return e
}

func first(p []byte) byte {
	if len(p) == 0 {
		return 0
	}
	return p[0]
}

// packets reads and writes MySQL packets: a 3-byte little-endian length and
// a sequence number, then the payload (single packets only: nothing this
// client exchanges reaches 16 MiB).
type packets struct {
	r   *bufio.Reader
	w   io.Writer
	seq byte
}

func (c *packets) read() ([]byte, error) {
	var h [4]byte
	if _, err := io.ReadFull(c.r, h[:]); err != nil {
		return nil, err
	}
	n := int(h[0]) | int(h[1])<<8 | int(h[2])<<16
	c.seq = h[3] + 1
	p := make([]byte, n)
	if _, err := io.ReadFull(c.r, p); err != nil {
		return nil, err
	}
	return p, nil
}

func (c *packets) write(p []byte) error {
	h := []byte{byte(len(p)), byte(len(p) >> 8), byte(len(p) >> 16), c.seq}
	c.seq++
	_, err := c.w.Write(append(h, p...))
	return err
}
