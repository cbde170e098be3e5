{{/*
What wasmcloud-app-status-bridge does with the API, derived from its code (rbac-permissions.txt lists the
result and a test compares it with `kubectl auth can-i --list`). No wildcards.
*/}}

{{/* Rules in every watched namespace (a ClusterRole, or a Role when watchNamespace is set). */}}
{{- define "app-status-bridge.namespacedRules" -}}
# Applications: watched by the controller; the wadm-cleanup finalizer is added and removed with a patch.
- apiGroups: [core.oam.dev]
  resources: [applications]
  verbs: [list, watch, patch]
{{- if .Values.mirrorWadmModels.enabled }}
# Mirrors of wadm models no Application owns: created (never applied over an existing object) and deleted
# (with the mirror's uid as a precondition) when their model goes or gets an owner.
- apiGroups: [core.oam.dev]
  resources: [applications]
  verbs: [create, delete]
{{- end }}
# Phase, conditions and versions (server-side apply of the status alone).
- apiGroups: [core.oam.dev]
  resources: [applications/status]
  verbs: [patch]
# WasmCloudHostConfigs decide the lattice of the Applications in their namespace.
- apiGroups: [k8s.wasmcloud.dev]
  resources: [wasmcloudhostconfigs]
  verbs: [list, watch]
# Events on Applications (kube-runtime's Recorder).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/*
Cluster-scoped rules, by name: the start-up checks read the two CRDs it needs, and the APIService of
core.oam.dev/v1beta1 to detect another implementation of the Application API.
*/}}
{{- define "app-status-bridge.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [applications.core.oam.dev, wasmcloudhostconfigs.k8s.wasmcloud.dev]
  verbs: [get]
- apiGroups: [apiregistration.k8s.io]
  resources: [apiservices]
  resourceNames: [v1beta1.core.oam.dev]
  verbs: [get]
{{- end }}
