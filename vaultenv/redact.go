package vaultenv

import "log/slog"

// Secret-holding types log as their String methods (slog.LogValuer): the
// JSON handler would otherwise encode their exported fields.

// LogValue implements slog.LogValuer.
func (s *Session) LogValue() slog.Value { return slog.StringValue(s.String()) }

// LogValue implements slog.LogValuer.
func (r *Result) LogValue() slog.Value { return slog.StringValue(r.String()) }

// LogValue implements slog.LogValuer.
func (c *Config) LogValue() slog.Value { return slog.StringValue(c.String()) }
