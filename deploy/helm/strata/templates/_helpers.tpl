{{- define "strata.name" -}}
{{- .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strata.fullname" -}}
{{- if contains .Chart.Name .Release.Name -}}
{{- .Release.Name | trunc 63 | trimSuffix "-" -}}
{{- else -}}
{{- printf "%s-%s" .Release.Name .Chart.Name | trunc 63 | trimSuffix "-" -}}
{{- end -}}
{{- end -}}

{{- define "strata.labels" -}}
helm.sh/chart: {{ printf "%s-%s" .Chart.Name .Chart.Version }}
{{ include "strata.selectorLabels" . }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end -}}

{{- define "strata.selectorLabels" -}}
app.kubernetes.io/name: {{ include "strata.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: gateway
{{- end -}}

{{- define "strata.redisName" -}}
{{- printf "%s-redis" (include "strata.fullname" .) | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "strata.secretName" -}}
{{- default (include "strata.fullname" .) .Values.secretEnv.existingSecret -}}
{{- end -}}

{{/* The config file: values.config, plus the chart's Redis and PostgreSQL when enabled. */}}
{{- define "strata.config" -}}
{{- $cfg := deepCopy .Values.config -}}
{{- if .Values.redis.enabled -}}
{{- $shared := default (dict) (get $cfg "shared") -}}
{{- $_ := set $shared "redis_url" (printf "redis://%s:6379/0" (include "strata.redisName" .)) -}}
{{- $_ := set $shared "namespace" .Values.redis.namespace -}}
{{- $_ := set $cfg "shared" $shared -}}
{{- end -}}
{{- $usage := default (dict) (get $cfg "usage") -}}
{{- if .Values.postgres.enabled -}}
{{- $_ := set $usage "database_url" "${STRATA_DATABASE_URL}" -}}
{{- else if not (hasKey $usage "database_url") -}}
{{- $_ := set $usage "database_url" "sqlite:/var/lib/strata/usage.db" -}}
{{- end -}}
{{- $_ := set $cfg "usage" $usage -}}
{{- toYaml $cfg -}}
{{- end -}}
