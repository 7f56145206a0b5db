package vaultclient

// The adapter this package used to be: envinject.Vault over the official
// client, github.com/hashicorp/vault/api v1.22.0. It is the oracle the
// net/http client is compared with (oracle_test.go); vault/api is a
// test-only dependency of this package.

import (
	"bytes"
	"context"
	"crypto/tls"
	"errors"
	"fmt"
	"net"
	"net/http"
	"net/url"
	"reflect"
	"strings"
	"time"

	"github.com/hashicorp/vault/api"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

type apiClient struct {
	c *api.Client
}

var _ envinject.Vault = (*apiClient)(nil)

// newAPIClient is the old vaultclient.New, with the retry waits a
// parameter (the old code had 100ms and 1s).
func newAPIClient(cfg Config, minWait, maxWait time.Duration) (*apiClient, error) {
	tr := &http.Transport{
		Proxy:                 http.ProxyFromEnvironment,
		DialContext:           (&net.Dialer{Timeout: 10 * time.Second, KeepAlive: 30 * time.Second}).DialContext,
		ForceAttemptHTTP2:     strings.HasPrefix(strings.ToLower(cfg.Addr), "https://"),
		MaxIdleConns:          16,
		MaxIdleConnsPerHost:   16,
		IdleConnTimeout:       90 * time.Second,
		TLSHandshakeTimeout:   10 * time.Second,
		ExpectContinueTimeout: time.Second,
		TLSClientConfig:       &tls.Config{MinVersion: tls.VersionTLS12},
	}
	ac := &api.Config{
		Address: cfg.Addr,
		HttpClient: &http.Client{
			Transport:     tr,
			CheckRedirect: func(*http.Request, []*http.Request) error { return http.ErrUseLastResponse },
		},
		Timeout:      cfg.Timeout,
		MaxRetries:   cfg.MaxRetries,
		MinRetryWait: minWait,
		MaxRetryWait: maxWait,
	}
	if err := ac.ConfigureTLS(&api.TLSConfig{CACert: cfg.CACert, Insecure: cfg.SkipVerify}); err != nil {
		return nil, fmt.Errorf("failed to configure vault TLS: %w", err)
	}
	c, err := api.NewClient(ac)
	if err != nil {
		return nil, fmt.Errorf("failed to create vault client: %w", err)
	}
	c.ClearToken()
	c.ClearNamespace()
	if cfg.Namespace != "" {
		c.SetNamespace(cfg.Namespace)
	}
	return &apiClient{c: c}, nil
}

func (c *apiClient) Read(ctx context.Context, path string, query url.Values) (*envinject.Secret, error) {
	s, err := c.c.Logical().ReadWithDataWithContext(ctx, path, query)
	if err != nil {
		return nil, apiConvertError(err)
	}
	return apiConvert(s), nil
}

func (c *apiClient) Write(ctx context.Context, path string, data map[string]any) (*envinject.Secret, error) {
	s, err := c.c.Logical().WriteWithContext(ctx, path, data)
	if err != nil {
		return nil, apiConvertError(err)
	}
	return apiConvert(s), nil
}

func (c *apiClient) SetToken(token []byte) { c.c.SetToken(string(token)) }

func (c *apiClient) ClearToken() { c.c.ClearToken() }

func apiConvert(s *api.Secret) *envinject.Secret {
	if s == nil {
		return nil
	}
	out := &envinject.Secret{
		Data:          s.Data,
		LeaseID:       s.LeaseID,
		LeaseDuration: time.Duration(s.LeaseDuration) * time.Second,
		Renewable:     s.Renewable,
		Warnings:      s.Warnings,
	}
	if s.Auth != nil {
		out.Auth = &envinject.Auth{
			ClientToken:   []byte(s.Auth.ClientToken),
			Accessor:      s.Auth.Accessor,
			LeaseDuration: time.Duration(s.Auth.LeaseDuration) * time.Second,
			Renewable:     s.Auth.Renewable,
		}
	}
	return out
}

func apiConvertError(err error) error {
	var re *api.ResponseError
	if errors.As(err, &re) {
		return &envinject.StatusError{Code: re.StatusCode, Messages: re.Errors}
	}
	return err
}

// diffSecrets describes how got differs from want ("" when equal). Tokens
// compare by bytes (nil equals empty).
func diffSecrets(got, want *envinject.Secret) string {
	switch {
	case got == nil && want == nil:
		return ""
	case got == nil || want == nil:
		return fmt.Sprintf("secret presence: got %v, want %v", got != nil, want != nil)
	}
	if !reflect.DeepEqual(got.Data, want.Data) {
		return fmt.Sprintf("data: got %#v, want %#v", got.Data, want.Data)
	}
	if got.LeaseID != want.LeaseID || got.LeaseDuration != want.LeaseDuration || got.Renewable != want.Renewable {
		return fmt.Sprintf("lease: got %q %v %v, want %q %v %v", got.LeaseID, got.LeaseDuration, got.Renewable, want.LeaseID, want.LeaseDuration, want.Renewable)
	}
	if !reflect.DeepEqual(got.Warnings, want.Warnings) {
		return fmt.Sprintf("warnings: got %#v, want %#v", got.Warnings, want.Warnings)
	}
	switch ga, wa := got.Auth, want.Auth; {
	case ga == nil && wa == nil:
	case ga == nil || wa == nil:
		return fmt.Sprintf("auth presence: got %v, want %v", ga != nil, wa != nil)
	case !bytes.Equal(ga.ClientToken, wa.ClientToken) || ga.Accessor != wa.Accessor || ga.LeaseDuration != wa.LeaseDuration || ga.Renewable != wa.Renewable:
		return "auth differs"
	}
	return ""
}

// diffErrors: both nil, or the same StatusError (code and messages), or
// both some other error.
func diffErrors(got, want error) string {
	if (got == nil) != (want == nil) {
		return fmt.Sprintf("error: got %v, want %v", got, want)
	}
	var gs, ws *envinject.StatusError
	gok, wok := errors.As(got, &gs), errors.As(want, &ws)
	if gok != wok {
		return fmt.Sprintf("error kind: got %v, want %v", got, want)
	}
	if gok && (gs.Code != ws.Code || !reflect.DeepEqual(gs.Messages, ws.Messages)) {
		return fmt.Sprintf("status error: got %d %q, want %d %q", gs.Code, gs.Messages, ws.Code, ws.Messages)
	}
	return ""
}
