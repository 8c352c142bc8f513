{{/* Object names: the release name (or fullnameOverride). */}}
{{- define "kubetally.fullname" -}}
{{- default .Release.Name .Values.fullnameOverride | trunc 63 | trimSuffix "-" -}}
{{- end -}}

{{/* The image tag: <semver>-<commit>, never latest. */}}
{{- define "kubetally.tag" -}}
{{- $tag := default .Chart.AppVersion .Values.image.tag -}}
{{- if eq $tag "latest" -}}
{{- fail "image.tag: use a <semver>-<commit> tag, not latest" -}}
{{- end -}}
{{- $tag -}}
{{- end -}}

{{/* Selector labels: stable for the life of the release. */}}
{{- define "kubetally.selectorLabels" -}}
app.kubernetes.io/name: {{ .Chart.Name }}
app.kubernetes.io/instance: {{ .Release.Name }}
{{- end -}}

{{/* Labels of every object: selector labels plus version (= image tag). */}}
{{- define "kubetally.labels" -}}
{{ include "kubetally.stableLabels" . }}
app.kubernetes.io/version: {{ include "kubetally.tag" . | quote }}
{{- end -}}

{{/* Labels without the version (a StatefulSet's claim templates are immutable). */}}
{{- define "kubetally.stableLabels" -}}
{{ include "kubetally.selectorLabels" . }}
app.kubernetes.io/component: collector
app.kubernetes.io/part-of: kubetally
{{- end -}}

{{/* The configuration files, as kustomize's configMapGenerator writes them. */}}
{{- define "kubetally.configData" -}}
{{- $pricing := printf "%s\n" "provider,region,machine_family,machine_type,capacity_type,vcpu_hour_usd,memory_gib_hour_usd,gpu_type,gpu_hour_usd,as_of,source" -}}
{{- with .Values.pricingOverrides }}{{ $pricing = printf "%s%s\n" $pricing (trimSuffix "\n" .) }}{{ end -}}
{{- $tenants := "# NAMESPACE_PATTERN = TENANT, one per line; wins over --tenant-label (deploy/README.md)\n" -}}
{{- with .Values.tenantMap }}{{ $tenants = printf "%s%s\n" $tenants (trimSuffix "\n" .) }}{{ end -}}
{{- dict "pricing.csv" $pricing "tenant-map.txt" $tenants | toJson -}}
{{- end -}}

{{/*
The ConfigMap's name with kustomize's content hash, so both render the same
name: the first 10 hex digits of sha256 over the JSON
{"data":…,"kind":"ConfigMap","name":""} with 0 1 3 a e mapped to g h k m t
(kustomize v5 hashes with an empty name). A change of content gives a new
name and rolls the pods.
*/}}
{{- define "kubetally.configName" -}}
{{- $name := printf "%s-config" (include "kubetally.fullname" .) -}}
{{- $data := include "kubetally.configData" . | fromJson -}}
{{- $hash := dict "data" $data "kind" "ConfigMap" "name" "" | toJson | sha256sum | trunc 10 -}}
{{- $hash = $hash | replace "0" "g" | replace "1" "h" | replace "3" "k" | replace "a" "m" | replace "e" "t" -}}
{{- printf "%s-%s" $name $hash -}}
{{- end -}}
