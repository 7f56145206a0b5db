// Command vaultget is the floor of the vault-env benchmark: the least a
// program can do to get secrets out of Vault. It reads each path given as an
// argument with one plain HTTP GET (all paths concurrently, over one
// client), checks each answer is 200, and prints the wall clock (Unix
// nanoseconds) after the last answer, then exits 0.
//
// Environment:
//
//	VAULT_ADDR    Vault's address, e.g. http://127.0.0.1:8200 (required)
//	VAULT_TOKEN   token sent as X-Vault-Token (unless VAULTGET_K8S_ROLE is set)
//	VAULTGET_K8S_ROLE  log in first with kubernetes auth at auth/kubernetes
//	              with this role and the JWT in the file named by
//	              KUBERNETES_SERVICE_ACCOUNT_TOKEN
//	KUBERNETES_SERVICE_ACCOUNT_TOKEN  path of the ServiceAccount JWT
//
// Arguments are API paths below /v1/, e.g. secret/data/bench/one.
package main

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"io"
	"net/http"
	"os"
	"strconv"
	"strings"
	"sync"
	"time"
)

func main() {
	if err := run(); err != nil {
		fmt.Fprintln(os.Stderr, "vaultget:", err)
		os.Exit(1)
	}
	os.Stdout.WriteString(strconv.FormatInt(time.Now().UnixNano(), 10) + "\n")
}

func run() error {
	addr := strings.TrimSuffix(os.Getenv("VAULT_ADDR"), "/")
	if addr == "" {
		return errors.New("VAULT_ADDR is required")
	}
	hc := &http.Client{Timeout: 10 * time.Second, Transport: &http.Transport{MaxIdleConnsPerHost: 16}}
	token := os.Getenv("VAULT_TOKEN")
	if role := os.Getenv("VAULTGET_K8S_ROLE"); role != "" {
		jwt, err := os.ReadFile(os.Getenv("KUBERNETES_SERVICE_ACCOUNT_TOKEN"))
		if err != nil {
			return fmt.Errorf("failed to read KUBERNETES_SERVICE_ACCOUNT_TOKEN: %w", err)
		}
		body, _ := json.Marshal(map[string]string{"role": role, "jwt": strings.TrimSpace(string(jwt))})
		resp, err := hc.Post(addr+"/v1/auth/kubernetes/login", "application/json", bytes.NewReader(body))
		if err != nil {
			return fmt.Errorf("failed to log in: %w", err)
		}
		var out struct {
			Auth struct {
				ClientToken string `json:"client_token"`
			} `json:"auth"`
		}
		err = json.NewDecoder(resp.Body).Decode(&out)
		resp.Body.Close()
		if err != nil || resp.StatusCode != 200 {
			return fmt.Errorf("failed to log in: HTTP %d", resp.StatusCode)
		}
		token = out.Auth.ClientToken
	}
	paths := os.Args[1:]
	errs := make([]error, len(paths))
	var wg sync.WaitGroup
	for i, p := range paths {
		wg.Go(func() {
			req, err := http.NewRequest(http.MethodGet, addr+"/v1/"+p, nil)
			if err != nil {
				errs[i] = err
				return
			}
			req.Header.Set("X-Vault-Token", token)
			resp, err := hc.Do(req)
			if err != nil {
				errs[i] = fmt.Errorf("failed to read %s: %w", p, err)
				return
			}
			io.Copy(io.Discard, resp.Body)
			resp.Body.Close()
			if resp.StatusCode != 200 {
				errs[i] = fmt.Errorf("failed to read %s: HTTP %d", p, resp.StatusCode)
			}
		})
	}
	wg.Wait()
	return errors.Join(errs...)
}
