package kube

import "time"

// Test hooks, compiled into tests only.

// SetTokenClock replaces the token cache's clock.
func SetTokenClock(c *Client, now func() time.Time) { c.token.now = now }

// InClusterConfigFrom is InClusterConfig with the environment and the
// ServiceAccount directory given.
var InClusterConfigFrom = inClusterConfig

// SetMaxResponseBytes lowers the response body limit.
func SetMaxResponseBytes(c *Client, n int64) { c.maxBody = n }
