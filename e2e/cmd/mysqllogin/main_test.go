package main

import (
	"bytes"
	"crypto/sha1"
	"encoding/binary"
	"errors"
	"testing"
)

// handshake builds an initial handshake v10 packet as MariaDB sends it.
func handshake(scramble []byte, caps uint32, plugin string) []byte {
	p := append([]byte{10}, "10.11.19-MariaDB\x00"...)
	p = binary.LittleEndian.AppendUint32(p, 7) // connection id
	p = append(p, scramble[:8]...)
	p = append(p, 0)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps))
	p = append(p, 33)
	p = binary.LittleEndian.AppendUint16(p, 2)
	p = binary.LittleEndian.AppendUint16(p, uint16(caps>>16))
	p = append(p, 21)
	p = append(p, make([]byte, 10)...)
	p = append(append(p, scramble[8:]...), 0)
	return append(append(p, plugin...), 0)
}

func TestParseHandshake(t *testing.T) {
	scramble := []byte("abcdefghijklmnopqrst")
	got, plugin, err := parseHandshake(handshake(scramble, needed|clientLongPassword, nativePassword))
	if err != nil || !bytes.Equal(got, scramble) || plugin != nativePassword {
		t.Fatalf("parseHandshake = %q, %q, %v; want %q, %q", got, plugin, err, scramble, nativePassword)
	}
	for name, p := range map[string][]byte{
		"old protocol":    append([]byte{9}, handshake(scramble, needed, nativePassword)[1:]...),
		"no protocol 4.1": handshake(scramble, clientSecureConnection|clientPluginAuth, nativePassword),
		"short":           handshake(scramble, needed, "")[:30],
		"empty":           nil,
	} {
		if _, _, err := parseHandshake(p); !errors.Is(err, errProtocol) {
			t.Errorf("%s: err = %v, want errProtocol", name, err)
		}
	}
	var se *ErrServer
	refused := []byte("\xff\x6a\x04Host '10.0.0.9' is not allowed to connect")
	if _, _, err := parseHandshake(refused); !errors.As(err, &se) || se.Code != 1130 || se.Message != "Host '10.0.0.9' is not allowed to connect" {
		t.Errorf("refusal: err = %v, want server error 1130", err)
	}
	if err := parseErr([]byte("\xff\x15\x04#28000Access denied")); !errors.As(err, &se) || se.Code != 1045 || se.Message != "Access denied" {
		t.Errorf("parseErr with SQL state = %v", err)
	}
}

// TestScrambleNative checks the answer the way the server does: it holds
// SHA1(SHA1(password)), recovers SHA1(password) from the answer and hashes it.
func TestScrambleNative(t *testing.T) {
	scramble := []byte("0123456789abcdefghij")
	h1 := sha1.Sum([]byte("s3cret"))
	stored := sha1.Sum(h1[:])
	answer := scrambleNative(scramble, "s3cret")
	mask := sha1.Sum(append(append([]byte(nil), scramble...), stored[:]...))
	for i := range mask {
		mask[i] ^= answer[i]
	}
	if sha1.Sum(mask[:]) != stored {
		t.Fatal("the server would refuse the answer")
	}
	if scrambleNative(scramble, "") != nil {
		t.Error("an empty password must send an empty answer")
	}
	if bytes.Equal(scrambleNative(scramble, "s3cret"), scrambleNative([]byte("jihgfedcba9876543210"), "s3cret")) {
		t.Error("the answer does not depend on the scramble")
	}
}
