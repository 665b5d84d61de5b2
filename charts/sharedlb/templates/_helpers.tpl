{{- define "sharedlb.labels" -}}
app.kubernetes.io/name: sharedlb
{{- end }}

{{- define "sharedlb.selector" -}}
app.kubernetes.io/name: sharedlb
app.kubernetes.io/component: controller
{{- end }}

{{- define "sharedlb.image" -}}
{{ .Values.image.repository }}:{{ .Values.image.tag | default .Chart.AppVersion }}
{{- end }}
