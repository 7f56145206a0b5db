package ref_test

import (
	"testing"

	"github.com/vault-secrets-webhook/vault-secrets-webhook/envinject/ref"
)

// benchValues is what a container's environment looks like: mostly plain
// values, some references of each form.
var benchValues = []string{
	"info", "8080", "postgres.shop.svc.cluster.local", "redis://redis.shop.svc.cluster.local:6379/0",
	"checkout-v2,fast-search", "http://otel-collector.observability:4317",
	"vault:secret/data/accounts/aws#AWS_SECRET_ACCESS_KEY",
	"vault:secret/data/shop/postgres#password#2",
	">>vault:database/creds/shop#password",
	"postgres://shop:${vault:secret/data/shop/postgres#password}@db:5432/shop",
	"vault:v1:8SDd3WHDOjf7mq69CyCqYjBXAiQQAVZRkFM13ok481zoCmHnSeDX9vyf7w==",
	"vault:secret/data/shop/tls#${.cert | b64dec}",
}

// BenchmarkContains is the webhook's per-value question.
func BenchmarkContains(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range benchValues {
			ref.Contains(v)
		}
	}
}

// BenchmarkParse is vault-env's per-value parse (plain values included: they
// are parsed too, and must be cheap).
func BenchmarkParse(b *testing.B) {
	b.ReportAllocs()
	for b.Loop() {
		for _, v := range benchValues {
			ref.Parse(v)
		}
	}
}
