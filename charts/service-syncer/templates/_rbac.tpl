{{/*
What wasmcloud-service-syncer does with the API (rbac-permissions.txt lists the result and a test compares it
with `kubectl auth can-i --list`). No wildcards.
*/}}

{{/* Rules in every watched namespace (a ClusterRole, or a Role when watchNamespace is set). */}}
{{- define "service-syncer.namespacedRules" -}}
# WasmCloudHostConfigs map lattices to namespaces.
- apiGroups: [k8s.wasmcloud.dev]
  resources: [wasmcloudhostconfigs]
  verbs: [get, list, watch]
# The applications' Services and, where a selector can't express the target set, their EndpointSlices.
# (Written by server-side apply: create and patch; never a full update.)
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, patch, delete]
- apiGroups: [discovery.k8s.io]
  resources: [endpointslices]
  verbs: [get, list, watch, create, patch, delete]
# The Endpoints kube-controller-manager leaves behind when a Service loses its selector (an app moved to a
# spreadscaler); its mirroring controller would keep copying them into slices.
- apiGroups: [""]
  resources: [endpoints]
  verbs: [get, delete]
# Host pods: which pod is which lattice host, and its IP.
- apiGroups: [""]
  resources: [pods]
  verbs: [list, watch]
# Events on the objects it reconciles (kube-runtime's Recorder writes events.k8s.io/v1 only).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* Cluster-scoped rules: the start-up check reads the CRD it needs, by name. */}}
{{- define "service-syncer.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [wasmcloudhostconfigs.k8s.wasmcloud.dev]
  verbs: [get]
{{- end }}
