{{/* Names, labels and shared fragments of the food-saga chart. */}}

{{- define "food-saga.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* <release>-food-saga: the prefix of every object's name (kept short of 63 with room for a suffix). */}}
{{- define "food-saga.fullname" -}}
{{- printf "%s-food-saga" .Release.Name | trunc 40 | trimSuffix "-" -}}
{{- end -}}

{{- define "food-saga.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{- define "food-saga.labels" -}}
helm.sh/chart: {{ include "food-saga.chart" . }}
app.kubernetes.io/part-of: food-saga
app.kubernetes.io/managed-by: {{ .Release.Service }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
{{- end -}}

{{/* Selector labels of one component; call with (dict "root" $ "component" "gateway"). */}}
{{- define "food-saga.selectorLabels" -}}
app.kubernetes.io/name: {{ include "food-saga.name" .root }}
app.kubernetes.io/instance: {{ .root.Release.Name }}
app.kubernetes.io/component: {{ .component }}
{{- end -}}

{{- define "food-saga.componentLabels" -}}
{{ include "food-saga.labels" .root }}
{{ include "food-saga.selectorLabels" . }}
{{- end -}}

{{- define "food-saga.serviceAccountName" -}}
{{- if .Values.serviceAccount.create -}}
{{- default (include "food-saga.fullname" .) .Values.serviceAccount.name -}}
{{- else -}}
{{- default "default" .Values.serviceAccount.name -}}
{{- end -}}
{{- end -}}

{{/* The Secret with jwt-secret, database-password, psp-api-key, notify-api-key and nats-password-<user> (the
     bundled PostgreSQL and NATS subcharts compute the same name: <release>-food-saga-secrets). */}}
{{- define "food-saga.secretName" -}}
{{- default (printf "%s-food-saga-secrets" .Release.Name) .Values.global.secrets.existingSecret -}}
{{- end -}}

{{/* Image of a deploy/docker/Dockerfile target; call with (dict "root" $ "target" "gateway"). */}}
{{- define "food-saga.image" -}}
{{- $img := .root.Values.image -}}
{{- $repo := $img.repository -}}
{{- if $img.registry }}{{ $repo = printf "%s/%s" $img.registry $img.repository }}{{ end -}}
{{- printf "%s/%s:%s" $repo .target (default .root.Chart.AppVersion $img.tag) -}}
{{- end -}}

{{- define "food-saga.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:4222" .Release.Name -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/* DATABASE_URL without the password: libpq takes it from PGPASSWORD (the Secret). */}}
{{- define "food-saga.databaseUrl" -}}
{{- if .Values.postgresql.enabled -}}
{{- printf "postgresql://food@%s-postgresql:5432/food" .Release.Name -}}
{{- else -}}
{{- $pg := .Values.externalPostgresql -}}
{{- printf "postgresql://%s@%s:%d/%s?sslmode=%s" $pg.user (required "externalPostgresql.host is required when postgresql.enabled is false" $pg.host) (int $pg.port) $pg.database $pg.sslmode -}}
{{- end -}}
{{- end -}}

{{- define "food-saga.pspUrl" -}}
{{- if .Values.sandboxPsp.enabled -}}
{{- printf "http://%s-sandbox-psp:%d" (include "food-saga.fullname" .) (int .Values.sandboxPsp.port) -}}
{{- else -}}
{{- required "psp.url is required unless sandboxPsp.enabled" .Values.psp.url -}}
{{- end -}}
{{- end -}}

{{/* Pod-level fields shared by every Deployment. */}}
{{- define "food-saga.podCommon" -}}
serviceAccountName: {{ include "food-saga.serviceAccountName" . }}
automountServiceAccountToken: false
enableServiceLinks: false
securityContext:
  {{- toYaml .Values.podSecurityContext | nindent 2 }}
{{- with .Values.imagePullSecrets }}
imagePullSecrets:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.nodeSelector }}
nodeSelector:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.tolerations }}
tolerations:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- with .Values.affinity }}
affinity:
  {{- toYaml . | nindent 2 }}
{{- end }}
{{- end -}}

{{/* The three probes on a named port; call with (dict "root" $ "port" "health"). */}}
{{- define "food-saga.probes" -}}
{{- $p := .root.Values.probes -}}
startupProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: {{ $p.startup.periodSeconds }}
  failureThreshold: {{ $p.startup.failureThreshold }}
livenessProbe:
  httpGet: {path: /healthz, port: {{ .port }}}
  periodSeconds: {{ $p.liveness.periodSeconds }}
  timeoutSeconds: {{ $p.liveness.timeoutSeconds }}
  failureThreshold: {{ $p.liveness.failureThreshold }}
readinessProbe:
  httpGet: {path: /readyz, port: {{ .port }}}
  periodSeconds: {{ $p.readiness.periodSeconds }}
  timeoutSeconds: {{ $p.readiness.timeoutSeconds }}
  failureThreshold: {{ $p.readiness.failureThreshold }}
{{- end -}}

{{/* The NATS users of charts/nats/files/auth.conf, one per process plus the operators' admin: the Secret holds a
     nats-password-<user> for each (the bundled nats-server reads the same keys). */}}
{{- define "food-saga.natsUsers" -}}
admin orchestrator payment store delivery coupon notification gateway
{{- end -}}

{{/* "true" when the component keeps state in PostgreSQL (service_start with schemas); the payment worker keeps
     none (the provider's idempotency keys make every command safe to repeat). Call with the component name. */}}
{{- define "food-saga.usesPostgresql" -}}
{{- if not (has . (list "payment")) }}true{{ end -}}
{{- end -}}

{{/* The database password of a process that uses PostgreSQL (the ConfigMap has the rest of DATABASE_URL). */}}
{{- define "food-saga.commonEnv" -}}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "food-saga.secretName" . }}
      key: database-password
{{- end -}}

{{/* NATS_USER and NATS_PASSWORD of a component (its own NATS user, charts/nats/files/auth.conf); call with
     (dict "root" $ "user" "payment"). */}}
{{- define "food-saga.natsEnv" -}}
- name: NATS_USER
  value: {{ .user | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "food-saga.secretName" .root }}
      key: nats-password-{{ .user }}
{{- end -}}

{{/* A component's `env` map as a container env list, sorted by name. */}}
{{- define "food-saga.envMap" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* The ConfigMap's checksum, so that a change rolls the pods. */}}
{{- define "food-saga.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
{{- end -}}

{{/* Egress every process needs: DNS and NATS (bundled pods or external CIDRs). */}}
{{- define "food-saga.egressDnsNats" -}}
- ports:
    - {port: 53, protocol: UDP}
    - {port: 53, protocol: TCP}
{{- if .Values.nats.enabled }}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: nats
          app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - {port: 4222, protocol: TCP}
{{- else }}
- to:
    {{- range .Values.externalNats.egress.cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    {{- range .Values.externalNats.egress.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end }}

{{/* Egress of a process that uses PostgreSQL (bundled pods or external CIDRs). */}}
{{- define "food-saga.egressPg" -}}
{{- if .Values.postgresql.enabled }}
- to:
    - podSelector:
        matchLabels:
          app.kubernetes.io/name: postgresql
          app.kubernetes.io/instance: {{ .Release.Name }}
  ports:
    - {port: 5432, protocol: TCP}
{{- else }}
- to:
    {{- range .Values.externalPostgresql.egress.cidrs }}
    - ipBlock: {cidr: {{ . }}}
    {{- end }}
  ports:
    {{- range .Values.externalPostgresql.egress.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end }}
