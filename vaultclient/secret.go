package vaultclient

import (
	"bytes"
	"encoding/json"
	"errors"
	"fmt"
	"strings"
	"time"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject"
)

// errEmptyBody is a body of only white space: vault/api's io.EOF from
// ParseSecret (an error on success, "not found" on 404).
var errEmptyBody = errors.New("failed to parse vault response: empty body")

// wireSecret is the JSON shape of a Vault response, field for field the
// types of vault/api's Secret, so that what it rejects is rejected here.
type wireSecret struct {
	RequestID     string        `json:"request_id"`
	LeaseID       string        `json:"lease_id"`
	LeaseDuration int           `json:"lease_duration"`
	Renewable     bool          `json:"renewable"`
	Data          dataMap       `json:"data"`
	Warnings      []string      `json:"warnings"`
	Auth          *wireAuth     `json:"auth"`
	WrapInfo      *wireWrapInfo `json:"wrap_info"`
	MountType     string        `json:"mount_type"`
}

func (s *wireSecret) zero() bool {
	return s.RequestID == "" && s.LeaseID == "" && s.LeaseDuration == 0 && !s.Renewable &&
		s.Data == nil && s.Warnings == nil && s.Auth == nil && s.WrapInfo == nil && s.MountType == ""
}

type wireAuth struct {
	ClientToken      tokenBytes        `json:"client_token"`
	Accessor         string            `json:"accessor"`
	Policies         []string          `json:"policies"`
	TokenPolicies    []string          `json:"token_policies"`
	IdentityPolicies []string          `json:"identity_policies"`
	Metadata         map[string]string `json:"metadata"`
	Orphan           bool              `json:"orphan"`
	EntityID         string            `json:"entity_id"`
	LeaseDuration    int               `json:"lease_duration"`
	Renewable        bool              `json:"renewable"`
	MFARequirement   *struct {
		MFARequestID   string `json:"mfa_request_id"`
		MFAConstraints map[string]*struct {
			Any []*struct {
				Type                  string `json:"type"`
				ID                    string `json:"id"`
				UsesPasscode          bool   `json:"uses_passcode"`
				Name                  string `json:"name"`
				SelfEnrollmentEnabled bool   `json:"self_enrollment_enabled"`
			} `json:"any"`
		} `json:"mfa_constraints"`
	} `json:"mfa_requirement"`
}

type wireWrapInfo struct {
	Token           string    `json:"token"`
	Accessor        string    `json:"accessor"`
	TTL             int       `json:"ttl"`
	CreationTime    time.Time `json:"creation_time"`
	CreationPath    string    `json:"creation_path"`
	WrappedAccessor string    `json:"wrapped_accessor"`
}

// dataMap decodes like a map[string]any field with json.Decoder.UseNumber
// (what vault/api does for the whole response), while the rest of the
// response is decoded with json.Unmarshal, which makes no copy of the
// buffer it is given.
type dataMap map[string]any

func (m *dataMap) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		*m = nil
		return nil
	}
	dec := json.NewDecoder(bytes.NewReader(b))
	dec.UseNumber()
	mm := map[string]any(*m) // a repeated key merges, as into a map field
	if err := dec.Decode(&mm); err != nil {
		return err
	}
	*m = dataMap(mm)
	return nil
}

// tokenBytes is a JSON string decoded into a []byte without a string in
// between (see unquote).
type tokenBytes []byte

func (t *tokenBytes) UnmarshalJSON(b []byte) error {
	if string(b) == "null" {
		return nil // as into a string: no effect
	}
	v, ok := unquote(b)
	if !ok {
		return errors.New("failed to decode client_token: not a JSON string")
	}
	clear(*t) // a repeated key replaces
	*t = v
	return nil
}

// parseSecret is vault/api's ParseSecret. An empty body is (nil, nil), a
// body of white space errEmptyBody. The caller zeroes body afterwards; the
// token in auth.client_token is copied out as []byte.
func parseSecret(body []byte) (*envinject.Secret, error) {
	if len(body) == 0 {
		return nil, nil
	}
	if len(bytes.TrimLeft(body, " \t\r\n")) == 0 {
		return nil, errEmptyBody
	}
	var w wireSecret
	if err := json.Unmarshal(body, &w); err != nil {
		if w.Auth != nil {
			clear(w.Auth.ClientToken)
		}
		return nil, fmt.Errorf("failed to parse vault response: %w", err)
	}
	if w.zero() {
		// No known field: the body may be raw data (e.g. sys/ endpoints
		// that answer without a "data" wrapper).
		var raw map[string]any
		dec := json.NewDecoder(bytes.NewReader(body))
		dec.UseNumber()
		if err := dec.Decode(&raw); err != nil {
			return nil, fmt.Errorf("failed to parse vault response: %w", err)
		}
		errs, ok := raw["errors"]
		if ok && len(raw) == 1 {
			return nil, nil
		}
		if ok {
			return nil, rawErrors(errs)
		}
		if len(raw) > 0 {
			w.Data = raw
		}
	}
	out := &envinject.Secret{
		Data:          w.Data,
		LeaseID:       w.LeaseID,
		LeaseDuration: time.Duration(w.LeaseDuration) * time.Second,
		Renewable:     w.Renewable,
		Warnings:      w.Warnings,
	}
	if w.Auth != nil {
		out.Auth = &envinject.Auth{
			ClientToken:   []byte(w.Auth.ClientToken),
			Accessor:      w.Auth.Accessor,
			LeaseDuration: time.Duration(w.Auth.LeaseDuration) * time.Second,
			Renewable:     w.Auth.Renewable,
		}
		if out.Auth.ClientToken == nil {
			out.Auth.ClientToken = []byte{} // vault/api's "" converts to non-nil
		}
	}
	return out, nil
}

// rawErrors is vault/api's answer to "errors" next to other raw fields: the
// errors joined by spaces (a JSON round trip to []string first).
func rawErrors(v any) error {
	b, err := json.Marshal(v)
	if err != nil {
		return fmt.Errorf("failed to parse vault errors: %w", err)
	}
	var msgs []string
	if err := json.Unmarshal(b, &msgs); err != nil {
		return fmt.Errorf("failed to parse vault errors: %w", err)
	}
	return &RawError{Message: strings.Join(msgs, " ")}
}

// RawError is a successful status whose body holds raw fields and an
// "errors" array (vault/api returns such a body as a plain error).
type RawError struct {
	Message string
}

func (e *RawError) Error() string { return "vault answered with errors: " + e.Message }
