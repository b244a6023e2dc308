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

{{/* Image of a deploy/docker/Dockerfile target: <registry>/<repository>/<target>:<tag>, with @<digest> when
     image.digests names one. The registry is required (there is no public copy of these images). Call with
     (dict "root" $ "target" "gateway"). */}}
{{- define "food-saga.image" -}}
{{- $img := .root.Values.image -}}
{{- if not $img.registry -}}
{{- fail "image.registry is empty: the food-saga images are in no public registry. Build them and push them to one your cluster pulls from, then name it:\n  bash deploy/images/build.sh                 # every image as food-saga/<target>:<version>\n  bash deploy/images/push.sh <registry>       # pushes them and prints each digest (image.digests.<target>)\n  helm install food deploy/helm/food-saga --set image.registry=<registry>" -}}
{{- end -}}
{{- $ref := printf "%s/%s/%s:%s" (trimSuffix "/" $img.registry) $img.repository .target (default .root.Chart.AppVersion $img.tag) -}}
{{- with get (default dict $img.digests) .target -}}{{ $ref = printf "%s@%s" $ref . }}{{- end -}}
{{- $ref -}}
{{- end -}}

{{- define "food-saga.natsUrl" -}}
{{- if .Values.nats.enabled -}}
{{- printf "nats://%s-nats:4222" .Release.Name -}}
{{- else -}}
{{- required "externalNats.url is required when nats.enabled is false" .Values.externalNats.url -}}
{{- end -}}
{{- end -}}

{{/* The number of NATS servers JetStream spreads stream replicas over: the bundled NATS's (nats.replicas in cluster
     mode, else 1) or externalNats.clusterSize. */}}
{{- define "food-saga.natsServers" -}}
{{- if .Values.nats.enabled -}}
{{- if dig "cluster" "enabled" false .Values.nats -}}{{ int (dig "replicas" 1 .Values.nats) }}{{- else -}}1{{- end -}}
{{- else -}}
{{- int .Values.externalNats.clusterSize -}}
{{- end -}}
{{- end -}}

{{/* A stream's replicas (streams.<NAME>.replicas): 0 means as many as there are NATS servers, at most 3 (NATS's
     production recommendation; 5 only when asked for); never more than the servers, which JetStream could not
     place. Call with (dict "root" $ "stream" "FOOD_CMD"). */}}
{{- define "food-saga.streamReplicas" -}}
{{- $servers := int (include "food-saga.natsServers" .root) -}}
{{- $want := int (index .root.Values.streams .stream).replicas -}}
{{- $where := ternary "the bundled NATS (nats.cluster.enabled, nats.replicas)" "the external NATS (externalNats.clusterSize)" .root.Values.nats.enabled -}}
{{- if gt $want $servers -}}
{{- fail (printf "streams.%s.replicas=%d exceeds the %d NATS server(s) of %s: JetStream places each replica on its own server. Lower it (0: one per server, up to 3) or run more servers" .stream $want $servers $where) -}}
{{- end -}}
{{- if eq $want 0 }}{{ min $servers 3 }}{{ else }}{{ $want }}{{ end -}}
{{- end -}}

{{/* The processes that use PostgreSQL, each with its own login role food_<process> (files/postgresql-roles.sql):
     the Secret holds a database-password-<process> for each. The gateway has none: the reader holds the read
     side's sessions. */}}
{{- define "food-saga.pgServices" -}}
orchestrator notification store delivery coupon reader
{{- end -}}

{{/* Every login role of the roles script: the processes' and food_migrator, which owns the schemas and which the
     migration Job uses; the Secret holds a database-password-<role> for each. */}}
{{- define "food-saga.pgRoles" -}}
migrator {{ include "food-saga.pgServices" . }}
{{- end -}}

{{/* Where the external PostgreSQL's CA certificate is mounted (externalPostgresql.caSecret). */}}
{{- define "food-saga.pgCaDir" -}}/etc/food-saga/postgresql-ca{{- end -}}

{{/* DATABASE_URL of a process, without the password (libpq takes it from PGPASSWORD, the Secret): its own role;
     with an external server its sslmode, for verify-ca/verify-full the mounted CA, and with externalPostgresql.hosts
     every host (libpq's multi-host URL: postgresql://u@a:5432,b:5432/db, tried in turn) with target_session_attrs,
     so that each process lands on the primary of a self-managed primary and standby. Call with
     (dict "root" $ "service" "store"). */}}
{{- define "food-saga.databaseUrl" -}}
{{- $v := .root.Values -}}
{{- if $v.postgresql.enabled -}}
{{- printf "postgresql://food_%s@%s-postgresql:5432/food" .service .root.Release.Name -}}
{{- else -}}
{{- $pg := $v.externalPostgresql -}}
{{- $hosts := list -}}
{{- range $pg.hosts -}}
{{- $hosts = append $hosts (ternary . (printf "%s:%d" . (int $pg.port)) (regexMatch ":[0-9]+$" .)) -}}
{{- end -}}
{{- if not $hosts -}}
{{- $hosts = list (printf "%s:%d" (required "externalPostgresql.host (or hosts) is required when postgresql.enabled is false" $pg.host) (int $pg.port)) -}}
{{- end -}}
{{- $tsa := $pg.targetSessionAttrs | default "" -}}
{{- if and (gt (len $hosts) 1) (not (has $tsa (list "read-write" "primary"))) -}}
{{- fail (printf "externalPostgresql.hosts names %d servers: set externalPostgresql.targetSessionAttrs=read-write (or primary), or a process may write to a standby" (len $hosts)) -}}
{{- end -}}
{{- $url := printf "postgresql://food_%s@%s/%s?sslmode=%s" .service (join "," $hosts) $pg.database $pg.sslmode -}}
{{- with $tsa -}}
{{- $url = printf "%s&target_session_attrs=%s" $url . -}}
{{- end -}}
{{- if $pg.caSecret.name -}}
{{- $url = printf "%s&sslrootcert=%s/%s" $url (include "food-saga.pgCaDir" .root) $pg.caSecret.key -}}
{{- else if has $pg.sslmode (list "verify-ca" "verify-full") -}}
{{- fail (printf "externalPostgresql.sslmode=%s needs externalPostgresql.caSecret.name (the CA that signed the server's certificate)" $pg.sslmode) -}}
{{- end -}}
{{- $url -}}
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

{{/* Spread of a Deployment's replicas over nodes (values topologySpread); call with the component's
     (dict "root" $ "component" "gateway"). */}}
{{- define "food-saga.topologySpread" -}}
{{- $t := .root.Values.topologySpread -}}
{{- if $t.enabled -}}
topologySpreadConstraints:
  - maxSkew: 1
    topologyKey: {{ $t.topologyKey }}
    whenUnsatisfiable: {{ $t.whenUnsatisfiable }}
    labelSelector:
      matchLabels:
        {{- include "food-saga.selectorLabels" . | nindent 8 }}
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
admin orchestrator payment store delivery coupon notification reader gateway
{{- end -}}

{{/* "true" when the component of `services` uses PostgreSQL (service_start with schemas); the payment worker keeps
     none (the provider's idempotency keys make every command safe to repeat), and the gateway (not in `services`)
     none either. Call with the component name. */}}
{{- define "food-saga.usesPostgresql" -}}
{{- if not (has . (list "payment")) }}true{{ end -}}
{{- end -}}

{{/* "true" for a component of `services` that KEDA scales on its JetStream durable consumer's lag (keda.enabled):
     the workers; not the orchestrator (fixed replicas), the reader (core request/reply, no consumer: CPU HPA) nor the
     payment worker (its charges come over core NATS first, food.direct.payment: its lag says little; CPU HPA).
     Call with the component name. */}}
{{- define "food-saga.kedaScaled" -}}
{{- if not (has . (list "orchestrator" "reader" "payment")) }}true{{ end -}}
{{- end -}}

{{/* DATABASE_URL and PGPASSWORD of a process that uses PostgreSQL: its own role and password. Call with
     (dict "root" $ "service" "store"). */}}
{{- define "food-saga.pgEnv" -}}
- name: DATABASE_URL
  value: {{ include "food-saga.databaseUrl" . | quote }}
- name: PGPASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "food-saga.secretName" .root }}
      key: database-password-{{ .service }}
{{- end -}}

{{/* The external PostgreSQL's CA (externalPostgresql.caSecret): a container's volumeMounts entry and the pod's
     volumes entry; empty unless configured. */}}
{{- define "food-saga.pgCaMount" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalPostgresql.caSecret.name }}
- {name: postgresql-ca, mountPath: {{ include "food-saga.pgCaDir" . }}, readOnly: true}
{{- end }}
{{- end -}}
{{- define "food-saga.pgCaVolume" -}}
{{- if and (not .Values.postgresql.enabled) .Values.externalPostgresql.caSecret.name }}
- name: postgresql-ca
  secret:
    secretName: {{ .Values.externalPostgresql.caSecret.name }}
    items:
      - {key: {{ .Values.externalPostgresql.caSecret.key }}, path: {{ .Values.externalPostgresql.caSecret.key }}}
{{- end }}
{{- end -}}

{{/* "true" when the processes reach an external NATS over TLS (externalNats.tls.caSecret): each then requires
     TLS and checks the server's certificate against that CA and its host name (lib/bus.c, NATS_TLS_CA), with a
     client certificate when externalNats.tls.clientSecret names a kubernetes.io/tls Secret. */}}
{{- define "food-saga.natsTls" -}}
{{- if and (not .Values.nats.enabled) .Values.externalNats.tls.caSecret.name }}true{{ end -}}
{{- end -}}
{{- define "food-saga.natsTlsDir" -}}/etc/food-saga/nats-tls{{- end -}}

{{/* A container's volumeMounts and the pod's volumes for what it reaches over TLS: the external PostgreSQL's CA
     (when "pg" is true) and the external NATS's CA and client certificate; empty when none is configured. Call
     with (dict "root" $ "pg" true). */}}
{{- define "food-saga.tlsMounts" -}}
{{- if .pg }}{{ include "food-saga.pgCaMount" .root }}{{ end }}
{{- if include "food-saga.natsTls" .root }}
- {name: nats-ca, mountPath: {{ include "food-saga.natsTlsDir" .root }}/ca, readOnly: true}
{{- if .root.Values.externalNats.tls.clientSecret }}
- {name: nats-client, mountPath: {{ include "food-saga.natsTlsDir" .root }}/client, readOnly: true}
{{- end }}
{{- end }}
{{- end -}}
{{- define "food-saga.tlsVolumes" -}}
{{- if .pg }}{{ include "food-saga.pgCaVolume" .root }}{{ end }}
{{- if include "food-saga.natsTls" .root }}
{{- $t := .root.Values.externalNats.tls }}
- name: nats-ca
  secret:
    secretName: {{ $t.caSecret.name }}
    items:
      - {key: {{ $t.caSecret.key }}, path: {{ $t.caSecret.key }}}
{{- if $t.clientSecret }}
- name: nats-client
  secret:
    secretName: {{ $t.clientSecret }}
    items:
      - {key: tls.crt, path: tls.crt}
      - {key: tls.key, path: tls.key}
{{- end }}
{{- end }}
{{- end -}}

{{/* NATS_USER and NATS_PASSWORD of a component (its own NATS user, charts/nats/files/auth.conf), and its TLS
     settings for an external NATS (food-saga.natsTls); call with (dict "root" $ "user" "payment"). */}}
{{- define "food-saga.natsEnv" -}}
- name: NATS_USER
  value: {{ .user | quote }}
- name: NATS_PASSWORD
  valueFrom:
    secretKeyRef:
      name: {{ include "food-saga.secretName" .root }}
      key: nats-password-{{ .user }}
{{- if include "food-saga.natsTls" .root }}
{{- $dir := include "food-saga.natsTlsDir" .root }}
- name: NATS_TLS_CA
  value: {{ printf "%s/ca/%s" $dir .root.Values.externalNats.tls.caSecret.key | quote }}
{{- if .root.Values.externalNats.tls.clientSecret }}
- name: NATS_TLS_CERT
  value: {{ printf "%s/client/tls.crt" $dir | quote }}
- name: NATS_TLS_KEY
  value: {{ printf "%s/client/tls.key" $dir | quote }}
{{- end }}
{{- end }}
{{- end -}}

{{/* A component's `env` map as a container env list, sorted by name. */}}
{{- define "food-saga.envMap" -}}
{{- range $k, $v := . }}
- name: {{ $k }}
  value: {{ $v | toString | quote }}
{{- end }}
{{- end -}}

{{/* The ConfigMap's and the Secret's checksums, so that a change of either rolls the pods. */}}
{{- define "food-saga.checksums" -}}
checksum/config: {{ include (print $.Template.BasePath "/configmap.yaml") . | sha256sum }}
checksum/secret: {{ include "food-saga.secretChecksum" . }}
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
    {{- with .Values.externalNats.egress.to }}
    {{- toYaml . | nindent 4 }}
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
    {{- with .Values.externalPostgresql.egress.to }}
    {{- toYaml . | nindent 4 }}
    {{- end }}
  ports:
    {{- range .Values.externalPostgresql.egress.ports }}
    - {port: {{ . }}, protocol: TCP}
    {{- end }}
{{- end }}
{{- end }}

{{/* The PostgreSQL connection budget: the sessions each process opens per replica, counted from the code, at the
     fewest and at the most replicas (HPA minReplicas/maxReplicas, else replicaCount), against what the server
     admits (max_connections less superuser_reserved_connections less connectionBudget.reserve). Per replica:
       every process with schemas: 2 (lib/service-pg.c: its main session and the /readyz ping's)
       reader:        + READER_THREADS (services/reader: one session per answering thread; default 8)
       orchestrator:  + 1 (orchestrator/saga-writer.c: the writing session holding the shard locks)
       store, delivery, coupon: + WORKER_THREADS (lib/worker.c: one session per fetch lane of a transactional
                      worker; default 2)
       notification:  + NOTIFY_THREADS + 1 with a webhook (the sender threads and the shedder), else + 1
                      (services/notification; NOTIFY_THREADS default 2)
       payment, gateway: 0 (no PostgreSQL; the gateway's reads are the reader's)
     plus the migration Job's 1 while it runs. Returns JSON {rows: [{name, per, min, max, sizing}], jobs, minTotal,
     maxTotal, maxConnections, superuserReserved, reserve, available, where}; read it with fromJson. */}}
{{- define "food-saga.pgBudget" -}}
{{- $v := .Values -}}
{{- $rows := list -}}
{{- $procs := list -}}
{{- range $name, $s := $v.services }}{{ if $s.enabled }}{{ $procs = append $procs (list $name $s) }}{{ end }}{{ end -}}
{{- range $procs -}}
{{- $name := index . 0 -}}
{{- $s := index . 1 -}}
{{- $env := $s.env | default dict -}}
{{- $per := 0 -}}
{{- $sizing := "" -}}
{{- if eq $name "reader" -}}
{{- $threads := int (get $env "READER_THREADS" | default "8") -}}
{{- $per = add 2 $threads -}}{{- $sizing = printf "2 + READER_THREADS %d" $threads -}}
{{- else if eq $name "orchestrator" -}}
{{- $per = 3 -}}{{- $sizing = "2 + the writing session" -}}
{{- else if has $name (list "store" "delivery" "coupon") -}}
{{- $lanes := int (get $env "WORKER_THREADS" | default "2") -}}
{{- $per = add 2 $lanes -}}{{- $sizing = printf "2 + WORKER_THREADS %d" $lanes -}}
{{- else if eq $name "notification" -}}
{{- if $v.notify.webhookUrl -}}
{{- $senders := int (get $env "NOTIFY_THREADS" | default "2") -}}
{{- $per = add 3 $senders -}}{{- $sizing = printf "2 + NOTIFY_THREADS %d + the shedder" $senders -}}
{{- else -}}
{{- $per = 3 -}}{{- $sizing = "2 + the recorder (no webhook)" -}}
{{- end -}}
{{- end -}}
{{- $min := int $s.replicaCount -}}
{{- $max := int $s.replicaCount -}}
{{- if $s.autoscaling.enabled }}{{ $min = int $s.autoscaling.minReplicas }}{{ $max = int $s.autoscaling.maxReplicas }}{{ end -}}
{{- if gt $per 0 -}}
{{- $rows = append $rows (dict "name" $name "per" $per "min" $min "max" $max "sizing" $sizing) -}}
{{- end -}}
{{- end -}}
{{- $jobs := 1 -}}
{{- $minTotal := $jobs -}}
{{- $maxTotal := $jobs -}}
{{- range $rows }}{{ $minTotal = add $minTotal (mul .per .min) }}{{ $maxTotal = add $maxTotal (mul .per .max) }}{{ end -}}
{{- $max := 0 -}}{{- $su := 0 -}}{{- $where := "" -}}
{{- if $v.postgresql.enabled -}}
{{- $max = int $v.postgresql.config.maxConnections -}}{{- $su = int $v.postgresql.config.superuserReservedConnections -}}
{{- $where = "the bundled PostgreSQL (postgresql.config.maxConnections)" -}}
{{- else -}}
{{- $max = int $v.externalPostgresql.maxConnections -}}{{- $su = int $v.externalPostgresql.superuserReservedConnections -}}
{{- $where = "the external PostgreSQL (externalPostgresql.maxConnections)" -}}
{{- end -}}
{{- $reserve := int $v.connectionBudget.reserve -}}
{{- toJson (dict "rows" $rows "jobs" $jobs "minTotal" $minTotal "maxTotal" $maxTotal "maxConnections" $max "superuserReserved" $su "reserve" $reserve "available" (sub (sub $max $su) $reserve) "where" $where) -}}
{{- end -}}

{{/* Fails the render when the budget at the HPA maxima exceeds what the server admits (food-saga.pgBudget). */}}
{{- define "food-saga.pgBudgetCheck" -}}
{{- $b := include "food-saga.pgBudget" . | fromJson -}}
{{- if gt (int $b.maxTotal) (int $b.available) -}}
{{- $parts := list -}}
{{- range $b.rows }}{{ $parts = append $parts (printf "%s %dx%d" .name (int .max) (int .per)) }}{{ end -}}
{{- fail (printf "PostgreSQL connection budget exceeded: at the most replicas the processes open %d sessions (%s, + %d migration Job) but %s admits %d (max_connections %d - superuser_reserved_connections %d - connectionBudget.reserve %d). Lower autoscaling.maxReplicas, services.reader.env.READER_THREADS or a worker's WORKER_THREADS/NOTIFY_THREADS, or raise max_connections (chart README, \"Connection budget\")" (int $b.maxTotal) (join ", " $parts) (int $b.jobs) $b.where (int $b.available) (int $b.maxConnections) (int $b.superuserReserved) (int $b.reserve)) -}}
{{- end -}}
{{- end -}}

{{/* The data of the chart-created Secret, as JSON (base64 values): jwt-secret, database-password (the bundled
     PostgreSQL's admin, no process's), database-password-<role> (food-saga.pgRoles), psp-api-key, notify-api-key,
     nats-password-<user> (charts/nats/files/auth.conf), nats-route-password (the bundled NATS cluster's routes).
     Values left empty are generated once and kept: looked up from the live Secret on upgrade. Computed once per
     render (cached in .Values), so that the Secret and the pods' checksum/secret see the same data.
     An upgrade that cannot read the live Secret (lookup returns nothing: `helm template`, a client-side
     --dry-run, a GitOps tool rendering offline, or the Secret deleted) would generate every password anew, which
     PostgreSQL's roles and the NATS servers would no longer match: the render fails instead, pointing at
     global.secrets.existingSecret. A first install renders offline as before. */}}
{{- define "food-saga.secretData" -}}
{{- if not (hasKey .Values "foodSagaSecretDataCache") -}}
{{- $name := include "food-saga.secretName" . -}}
{{- $live := (lookup "v1" "Secret" .Release.Namespace $name).data | default dict -}}
{{- if and .Release.IsUpgrade (not $live) -}}
{{- fail (printf "upgrading release %s: the Secret %s/%s cannot be read (Helm's lookup returned nothing: helm template, helm upgrade --dry-run without =server, a GitOps tool rendering offline, or the Secret is gone), so every generated password would be made anew and no longer match PostgreSQL's roles or NATS. Keep the Secret and name it: --set global.secrets.existingSecret=%s (the GitOps path: a Secret you manage with every key, the repository's README \"Kubernetes\"); or, if it is really gone, restore it from a back-up first" .Release.Name .Release.Namespace $name $name) -}}
{{- end -}}
{{- $s := .Values.secrets -}}
{{- $d := dict -}}
{{- $_ := set $d "jwt-secret" ($s.jwtSecret | b64enc | default (get $live "jwt-secret") | default (randAlphaNum 48 | b64enc)) -}}
{{- $_ = set $d "database-password" ($s.databasePassword | b64enc | default (get $live "database-password") | default (randAlphaNum 32 | b64enc)) -}}
{{- $_ = set $d "psp-api-key" ($s.pspApiKey | b64enc | default (get $live "psp-api-key") | default "") -}}
{{- $_ = set $d "notify-api-key" ($s.notifyApiKey | b64enc | default (get $live "notify-api-key") | default "") -}}
{{- range $role := include "food-saga.pgRoles" . | splitList " " -}}
{{- $key := printf "database-password-%s" $role -}}
{{- $_ = set $d $key (get $live $key | default (randAlphaNum 32 | b64enc)) -}}
{{- end -}}
{{- if and .Values.nats.enabled (dig "cluster" "enabled" false .Values.nats) -}}
{{- /* Inside a URL, hence letters and digits, a letter first. */ -}}
{{- $_ = set $d "nats-route-password" (get $live "nats-route-password" | default (printf "r%s" (randAlphaNum 31) | b64enc)) -}}
{{- end -}}
{{- range $user := include "food-saga.natsUsers" . | splitList " " -}}
{{- $key := printf "nats-password-%s" $user -}}
{{- /* A letter first: nats-server reads the password variable as a config value (digits first: a number). */ -}}
{{- $_ = set $d $key (get $live $key | default (printf "p%s" (randAlphaNum 31) | b64enc)) -}}
{{- end -}}
{{- $_ = set .Values "foodSagaSecretDataCache" $d -}}
{{- end -}}
{{- toJson .Values.foodSagaSecretDataCache -}}
{{- end -}}

{{/* checksum/secret of a pod template: the chart-created Secret's data (food-saga.secretData), or, with
     global.secrets.existingSecret, the live Secret's (read at render time; nothing offline), so that a changed
     password or key rolls the pods that read it from their environment. */}}
{{- define "food-saga.secretChecksum" -}}
{{- if .Values.global.secrets.existingSecret -}}
{{- (lookup "v1" "Secret" .Release.Namespace .Values.global.secrets.existingSecret).data | default dict | toJson | sha256sum -}}
{{- else -}}
{{- include "food-saga.secretData" . | sha256sum -}}
{{- end -}}
{{- end -}}

{{/* Release names that would break a bundled StatefulSet: Kubernetes labels each pod with
     controller-revision-hash=<statefulset>-<10 characters>, at most 63, so <release>-postgresql fits 41 characters
     of release name and <release>-nats 47. Fails the render with the limit. */}}
{{- define "food-saga.releaseNameCheck" -}}
{{- $n := len .Release.Name -}}
{{- if and .Values.postgresql.enabled (gt $n 41) -}}
{{- fail (printf "release name %q has %d characters: with the bundled PostgreSQL at most 41 (its StatefulSet %s-postgresql plus the pods' controller-revision-hash must fit 63 characters). Choose a shorter release name" .Release.Name $n .Release.Name) -}}
{{- else if and .Values.nats.enabled (gt $n 47) -}}
{{- fail (printf "release name %q has %d characters: with the bundled NATS at most 47 (its StatefulSet %s-nats plus the pods' controller-revision-hash must fit 63 characters). Choose a shorter release name" .Release.Name $n .Release.Name) -}}
{{- end -}}
{{- end -}}
