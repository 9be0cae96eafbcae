{{/* Chart name, truncated to the 63 characters of a DNS label. */}}
{{- define "rrm-xapp.name" -}}
{{- default .Chart.Name .Values.nameOverride | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Release-qualified name; shard names are appended to it (so keep room). */}}
{{- define "rrm-xapp.fullname" -}}
{{- if .Values.fullnameOverride }}
{{- .Values.fullnameOverride | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- $name := default .Chart.Name .Values.nameOverride }}
{{- if contains $name .Release.Name }}
{{- .Release.Name | trunc 50 | trimSuffix "-" }}
{{- else }}
{{- printf "%s-%s" .Release.Name $name | trunc 50 | trimSuffix "-" }}
{{- end }}
{{- end }}
{{- end }}

{{- define "rrm-xapp.chart" -}}
{{- printf "%s-%s" .Chart.Name .Chart.Version | replace "+" "_" | trunc 63 | trimSuffix "-" }}
{{- end }}

{{/* Labels common to every object. */}}
{{- define "rrm-xapp.labels" -}}
helm.sh/chart: {{ include "rrm-xapp.chart" . }}
app.kubernetes.io/name: {{ include "rrm-xapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/version: {{ .Chart.AppVersion | quote }}
app.kubernetes.io/managed-by: {{ .Release.Service }}
{{- end }}

{{/* Selector labels of the xApp pods (all shards). */}}
{{- define "rrm-xapp.selectorLabels" -}}
app.kubernetes.io/name: {{ include "rrm-xapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: xapp
{{- end }}

{{- define "rrm-xapp.simName" -}}
{{- printf "%s-sim" (include "rrm-xapp.fullname" .) }}
{{- end }}

{{- define "rrm-xapp.simSelectorLabels" -}}
app.kubernetes.io/name: {{ include "rrm-xapp.name" . }}
app.kubernetes.io/instance: {{ .Release.Name }}
app.kubernetes.io/component: simulator
{{- end }}

{{- define "rrm-xapp.image" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag }}
{{- if .Values.image.registry }}
{{- printf "%s/%s:%s" .Values.image.registry .Values.image.repository $tag }}
{{- else }}
{{- printf "%s:%s" .Values.image.repository $tag }}
{{- end }}
{{- end }}

{{/* The E2 node address: config.e2_address, else the bundled simulator. */}}
{{- define "rrm-xapp.e2Address" -}}
{{- if .Values.config.e2_address }}
{{- .Values.config.e2_address }}
{{- else if not .Values.simulator.enabled }}
{{- fail "config.e2_address is required when simulator.enabled is false: host:port (grpc) or host:pub_port:ctl_port (zmq)" }}
{{- else if eq .Values.config.transport "zmq" }}
{{- printf "%s:%d:%d" (include "rrm-xapp.simName" .) (int .Values.simulator.zmqPubPort) (int .Values.simulator.zmqCtlPort) }}
{{- else }}
{{- printf "%s:%d" (include "rrm-xapp.simName" .) (int .Values.simulator.grpcPort) }}
{{- end }}
{{- end }}

{{/*
The xApp instances to run: one per shard, or a single one. Each is
{name, suffix, node_ids, xapp_id}. Fails when shards overlap or when both
shards and config.node_ids are given. Rendered as JSON (fromJson to use).
*/}}
{{- define "rrm-xapp.instances" -}}
{{- $out := list }}
{{- if .Values.shards }}
{{- if .Values.config.node_ids }}
{{- fail "config.node_ids must be empty when shards are set: give each shard its node_ids" }}
{{- end }}
{{- $seen := dict }}
{{- $names := dict }}
{{- range .Values.shards }}
{{- if hasKey $names .name }}
{{- fail (printf "shards: name %q is used twice" .name) }}
{{- end }}
{{- if eq .name "sim" }}
{{- fail "shards: the name \"sim\" is taken by the simulator's objects; choose another" }}
{{- end }}
{{- $_ := set $names .name true }}
{{- $shard := .name }}
{{- range .node_ids }}
{{- if hasKey $seen . }}
{{- fail (printf "shards: node %q is in shard %q and shard %q; shards must be disjoint" . (get $seen .) $shard) }}
{{- end }}
{{- $_ := set $seen . $shard }}
{{- end }}
{{- $out = append $out (dict "suffix" (printf "-%s" .name) "node_ids" .node_ids "xapp_id" (printf "%s-%s" $.Values.config.xapp_id .name) "shard" .name) }}
{{- end }}
{{- else }}
{{- $out = append $out (dict "suffix" "" "node_ids" .Values.config.node_ids "xapp_id" .Values.config.xapp_id "shard" "") }}
{{- end }}
{{- dict "items" $out | toJson }}
{{- end }}

{{/*
The controls of one instance (dict with "root" and "instance"): config with
the address, node ids, identity and the chart-managed file paths set.
TLS and CURVE keys are present only when enabled.
*/}}
{{- define "rrm-xapp.controls" -}}
{{- $v := .root.Values }}
{{- if and $v.tls.enabled (ne $v.config.transport "grpc") }}
{{- fail "tls.enabled needs config.transport=grpc (ZeroMQ is secured with curve.enabled)" }}
{{- end }}
{{- if and $v.curve.enabled (ne $v.config.transport "zmq") }}
{{- fail "curve.enabled needs config.transport=zmq (gRPC is secured with tls.enabled)" }}
{{- end }}
{{- $c := deepCopy $v.config }}
{{- $_ := set $c "e2_address" (include "rrm-xapp.e2Address" .root) }}
{{- $_ = set $c "node_ids" .instance.node_ids }}
{{- $_ = set $c "xapp_id" .instance.xapp_id }}
{{- $_ = set $c "record_path" "" }}
{{- if $v.traces.enabled }}
{{- $_ = set $c "record_path" (printf "%s/%s.rrmtrace" $v.traces.mountPath .instance.xapp_id) }}
{{- end }}
{{- if $v.tls.enabled }}
{{- $_ = set $c "tls_ca_file" (printf "%s/%s" $v.tls.mountPath $v.tls.caKey) }}
{{- $_ = set $c "tls_cert_file" (printf "%s/%s" $v.tls.mountPath $v.tls.certKey) }}
{{- $_ = set $c "tls_key_file" (printf "%s/%s" $v.tls.mountPath $v.tls.keyKey) }}
{{- end }}
{{- if $v.curve.enabled }}
{{- $_ = set $c "curve_server_public_key_file" (printf "%s/%s" $v.curve.mountPath $v.curve.serverPublicKeyKey) }}
{{- $_ = set $c "curve_client_key_file" (printf "%s/%s" $v.curve.mountPath $v.curve.clientKeyKey) }}
{{- end }}
{{- toJson $c }}
{{- end }}

{{/* Prometheus scrape annotations for the health port, as YAML ({} when off). */}}
{{- define "rrm-xapp.scrapeAnnotations" -}}
{{- if .Values.metrics.scrapeAnnotations }}
{{- dict "prometheus.io/scrape" "true" "prometheus.io/port" (toString (int .Values.config.health_port)) "prometheus.io/path" "/metrics" | toYaml }}
{{- else }}
{{- dict | toYaml }}
{{- end }}
{{- end }}
