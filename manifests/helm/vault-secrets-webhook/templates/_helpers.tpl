{{/* Name of the chart's objects: the release name, or release-chart. */}}
{{- define "vsw.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{/* Labels that select the webhook pods. */}}
{{- define "vsw.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels on every object; $component is "webhook" or "policy". */}}
{{- define "vsw.labels" -}}
{{ include "vsw.selectorLabels" .root }}
app.kubernetes.io/component: {{ .component }}
app.kubernetes.io/version: {{ .root.Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .root.Release.Service }}
helm.sh/chart: {{ printf "%s-%s" .root.Chart.Name .root.Chart.Version }}
{{- end -}}

{{/* image reference: repository@digest, else repository:tag. */}}
{{- define "vsw.image" -}}
{{- if .digest -}}
{{- printf "%s@%s" .repository .digest -}}
{{- else -}}
{{- printf "%s:%s" .repository .tag -}}
{{- end -}}
{{- end -}}

{{/*
Annotation (without vault.security.banzaicloud.io/) -> the webhook's
environment variable that sets its webhook-wide default. Kept in step with
envinject.Annotations in the webhook's source.
*/}}
{{- define "vsw.defaultEnvNames" -}}
mutate-probes: MUTATE_PROBES
vault-role: VAULT_ROLE
vault-path: VAULT_PATH
vault-auth-method: VAULT_AUTH_METHOD
vault-skip-verify: VAULT_SKIP_VERIFY
vault-tls-secret: VAULT_TLS_SECRET
vault-client-timeout: VAULT_CLIENT_TIMEOUT
vault-namespace: VAULT_NAMESPACE
vault-ignore-missing-secrets: VAULT_IGNORE_MISSING_SECRETS
vault-env-daemon: VAULT_ENV_DAEMON
vault-env-delay: VAULT_ENV_DELAY
vault-env-passthrough: VAULT_ENV_PASSTHROUGH
vault-env-image-pull-policy: VAULT_ENV_IMAGE_PULL_POLICY
run-as-non-root: RUN_AS_NON_ROOT
run-as-user: RUN_AS_USER
run-as-group: RUN_AS_GROUP
readonly-root-fs: READONLY_ROOT_FS
psp-allow-privilege-escalation: PSP_ALLOW_PRIVILEGE_ESCALATION
registry-skip-verify: REGISTRY_SKIP_VERIFY
log-level: VAULT_LOG_LEVEL
enable-json-log: ENABLE_JSON_LOG
transit-key-id: TRANSIT_KEY_ID
transit-path: TRANSIT_PATH
transit-batch-size: TRANSIT_BATCH_SIZE
service-account-token-volume-name: SERVICE_ACCOUNT_TOKEN_VOLUME_NAME
vault-agent: VAULT_AGENT
vault-agent-once: VAULT_AGENT_ONCE
vault-image: VAULT_IMAGE
vault-image-pull-policy: VAULT_IMAGE_PULL_POLICY
vault-serviceaccount: VAULT_SERVICEACCOUNT
vault-agent-cpu-request: VAULT_AGENT_CPU_REQUEST
vault-agent-cpu-limit: VAULT_AGENT_CPU_LIMIT
vault-agent-memory-request: VAULT_AGENT_MEMORY_REQUEST
vault-agent-memory-limit: VAULT_AGENT_MEMORY_LIMIT
vault-agent-share-process-namespace: VAULT_AGENT_SHARE_PROCESS_NAMESPACE
vault-env-image-volume: VAULT_ENV_IMAGE_VOLUME
{{- end -}}

{{/* A list of strings as CEL string literals, comma separated. */}}
{{- define "vsw.celStrings" -}}
{{- $out := list -}}
{{- range . -}}
{{- if or (contains "'" .) (contains "\\" .) -}}
{{- fail (printf "%q: quotes and backslashes are not allowed here" .) -}}
{{- end -}}
{{- $out = append $out (printf "'%s'" .) -}}
{{- end -}}
{{- join ", " $out -}}
{{- end -}}
