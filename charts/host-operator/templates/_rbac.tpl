{{/*
What wasmcloud-host-operator does with the API, derived from its code (rbac-permissions.txt lists the
result and a test compares it with `kubectl auth can-i --list`). No wildcards.
*/}}

{{/* Rules in every watched namespace (a ClusterRole, or a Role when watchNamespace is set). */}}
{{- define "host-operator.namespacedRules" -}}
# The controller's own objects (list+watch through the controller) and their status (server-side apply).
- apiGroups: [k8s.wasmcloud.dev]
  resources: [wasmcloudhostconfigs]
  verbs: [list, watch]
- apiGroups: [k8s.wasmcloud.dev]
  resources: [wasmcloudhostconfigs/status]
  verbs: [patch]
# The lattice's application list in status.
- apiGroups: [core.oam.dev]
  resources: [applications]
  verbs: [list, watch]
# Host workloads: applied, watched as metadata, and the unused kind removed after a Deployment/DaemonSet switch.
- apiGroups: [apps]
  resources: [deployments, daemonsets]
  verbs: [get, list, watch, create, patch, delete]
# The leaf ConfigMap and the hosts' ServiceAccount; ConfigMaps a spec refers to are read and watched.
- apiGroups: [""]
  resources: [configmaps, serviceaccounts]
  verbs: [get, list, watch, create, patch]
# Secrets a spec refers to (NATS credentials, CAs) are read; the registry pull Secret is written and removed.
- apiGroups: [""]
  resources: [secrets]
  verbs: [get, list, watch, create, patch, delete]
# Services: the leaf Service an earlier version made is deleted; update and delete too because the hosts'
# Role grants them on Services, and RBAC lets an operator grant only what it holds itself.
- apiGroups: [""]
  resources: [services]
  verbs: [get, list, watch, create, update, patch, delete]
# The hosts' Role and RoleBinding (kubernetesApiAccess only; deleted when it is turned off).
- apiGroups: [rbac.authorization.k8s.io]
  resources: [roles, rolebindings]
  verbs: [get, list, watch, create, patch, delete]
# Events on WasmCloudHostConfigs (kube-runtime's Recorder).
- apiGroups: [events.k8s.io]
  resources: [events]
  verbs: [create, patch]
{{- end }}

{{/* Cluster-scoped rules: the start-up check reads the two CRDs it needs, by name. */}}
{{- define "host-operator.clusterRules" -}}
- apiGroups: [apiextensions.k8s.io]
  resources: [customresourcedefinitions]
  resourceNames: [wasmcloudhostconfigs.k8s.wasmcloud.dev, applications.core.oam.dev]
  verbs: [get]
{{- end }}
