// Command childclock is the stand-in application of the vault-env benchmark.
// The first thing it does is read the wall clock; it prints that time (Unix
// nanoseconds), the number of SECRET_* variables it received, and how many
// of its variables still hold an unresolved reference ("vault:" prefix or
// "${vault:"), as one line "NANOS SECRETS UNRESOLVED", then exits 0.
//
// The benchmark records the time just before it starts vault-env; the
// difference is vault-env's exec-to-child time. It takes no flags and reads
// its whole environment only to count.
package main

import (
	"os"
	"strconv"
	"strings"
	"time"
)

func main() {
	now := time.Now().UnixNano()
	secrets, unresolved := 0, 0
	for _, kv := range os.Environ() {
		k, v, _ := strings.Cut(kv, "=")
		if strings.HasPrefix(k, "SECRET_") {
			secrets++
		}
		if strings.HasPrefix(v, "vault:") || strings.HasPrefix(v, ">>vault:") || strings.Contains(v, "${vault:") {
			unresolved++
		}
	}
	os.Stdout.WriteString(strconv.FormatInt(now, 10) + " " + strconv.Itoa(secrets) + " " + strconv.Itoa(unresolved) + "\n")
}
