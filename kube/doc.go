// Package kube is a small REST client for the Kubernetes API that speaks
// k8s.io/api types over net/http. It is deliberately not client-go.
package kube

import _ "k8s.io/api/core/v1"
