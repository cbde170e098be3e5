#!/usr/bin/env bash
# Builds the local environment's tools from published Go modules into a cache outside the clone:
# kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy and etcd (through a wrapper module that
# supplies k8s.io/kubernetes' staging replaces), kwok, helm and nats-server (plain `go install`).
# Prints the bin directory as the last line of stdout; progress goes to stderr.
# A complete cache entry is reused at once; a lock keeps two builders (a person and CI) apart.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
# shellcheck source=versions.env
. "$here/versions.env"

CACHE=${WASMCLOUD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-operator-tools}
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=
log() { echo "[build-tools] $*" >&2; }
command -v go >/dev/null || { log "go is not on PATH (Go >= 1.26 is needed)"; exit 1; }

minor=${K8S_VERSION#v1.}; minor=${minor%%.*}
staging_version="v0.${K8S_VERSION#v1.}"
key=$( { cat "$here/versions.env" "$0"; go version; } | sha256sum | cut -c1-12)
bin="$CACHE/bin-$K8S_VERSION-$key"
want="kube-apiserver kube-controller-manager kube-scheduler kubectl kubelet kube-proxy etcd kwok helm nats-server kwok-stages.yaml"

complete() { for b in $want; do [ -e "$bin/$b" ] || return 1; done; }
if complete; then log "cache hit: $bin"; echo "$bin"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.lock"
flock 9
if complete; then log "cache hit after waiting for another builder: $bin"; echo "$bin"; exit 0; fi

started=$(date +%s)
out="$bin.partial"; rm -rf "$out"; mkdir -p "$out"
wrapper="$CACHE/wrapper-$K8S_VERSION"; rm -rf "$wrapper"; mkdir -p "$wrapper"; cd "$wrapper"

# k8s.io/kubernetes requires each staging module at v0.0.0 and replaces it with ./staging; a dependant
# has to replace them itself. Take the list from the release's own go.mod, so no list goes stale.
printf 'module example.invalid/probe\n\ngo 1.26\n' > go.mod
kmod=$(go mod download -json "k8s.io/kubernetes@$K8S_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["GoMod"])')
staging=$(awk '$2 == "v0.0.0" && $1 ~ /^k8s\.io\// { print $1 }' "$kmod" | sort -u)
[ -n "$staging" ] || { log "found no staging modules in $kmod"; exit 1; }
etcd_version=$(awk '$1 == "go.etcd.io/etcd/api/v3" { print $2; exit }' "$kmod")
log "k8s $K8S_VERSION: $(echo "$staging" | wc -l) staging modules at $staging_version, etcd $etcd_version"
{
  printf 'module example.invalid/wasmcloud-operator-k8s-tools\n\ngo 1.26\n\n'
  printf 'require (\n\tk8s.io/kubernetes %s\n\tgo.etcd.io/etcd/server/v3 %s\n)\n\n' "$K8S_VERSION" "$etcd_version"
  printf 'replace (\n'
  for m in $staging; do printf '\t%s => %s %s\n' "$m" "$m" "$staging_version"; done
  printf ')\n'
} > go.mod
# A tiny main package keeps every command's imports in the module graph.
mkdir -p pin && cat > pin/pin.go <<'GO'
//go:build tools

package pin

import (
	_ "go.etcd.io/etcd/server/v3/etcdmain"
	_ "k8s.io/kubernetes/cmd/kube-apiserver/app"
	_ "k8s.io/kubernetes/cmd/kube-controller-manager/app"
	_ "k8s.io/kubernetes/cmd/kube-scheduler/app"
	_ "k8s.io/kubernetes/cmd/kubelet/app"
	_ "k8s.io/kubernetes/cmd/kube-proxy/app"
	_ "k8s.io/kubectl/pkg/cmd"
)
GO
go mod tidy -e >&2 || log "go mod tidy reported problems; building with -mod=mod"

x() { printf -- "-X 'k8s.io/component-base/version.%s=%s' -X 'k8s.io/client-go/pkg/version.%s=%s' " "$1" "$2" "$1" "$2"; }
ldflags="-s -w $(x gitVersion "$K8S_VERSION")$(x gitMajor 1)$(x gitMinor "$minor")$(x gitTreeState clean)$(x buildDate 1970-01-01T00:00:00Z)"
log "building kube-apiserver, kube-controller-manager, kube-scheduler, kubectl, kubelet, kube-proxy"
go build -mod=mod -trimpath -buildvcs=false -ldflags "$ldflags" -o "$out/" \
  k8s.io/kubernetes/cmd/kube-apiserver k8s.io/kubernetes/cmd/kube-controller-manager \
  k8s.io/kubernetes/cmd/kube-scheduler k8s.io/kubernetes/cmd/kubectl \
  k8s.io/kubernetes/cmd/kubelet k8s.io/kubernetes/cmd/kube-proxy
log "building etcd $etcd_version"
go build -mod=mod -trimpath -buildvcs=false -ldflags "-s -w" -o "$out/etcd" go.etcd.io/etcd/server/v3
cp go.mod go.sum "$out/"

cd "$CACHE"
log "building kwok $KWOK_VERSION"
GOBIN="$out" go install -trimpath -ldflags "-s -w" "sigs.k8s.io/kwok/cmd/kwok@$KWOK_VERSION"
# kwok ships its Stages (what happens to nodes and pods, and when) as data in its module; the controller
# needs them in its --config file.
kwok_dir=$(go mod download -json "sigs.k8s.io/kwok@$KWOK_VERSION" | python3 -c 'import json,sys; print(json.load(sys.stdin)["Dir"])')
for stage in node/fast/node-initialize.yaml node/heartbeat-with-lease/node-heartbeat-with-lease.yaml \
             pod/fast/pod-ready.yaml pod/fast/pod-complete.yaml pod/fast/pod-delete.yaml; do
  echo "---"; cat "$kwok_dir/kustomize/stage/$stage"
done > "$out/kwok-stages.yaml"
log "building helm $HELM_VERSION"
hv="helm.sh/helm/v3"
GOBIN="$out" go install -trimpath -ldflags "-s -w -X $hv/internal/version.version=$HELM_VERSION \
  -X $hv/internal/version.gitTreeState=clean -X $hv/pkg/chartutil.k8sVersionMajor=1 \
  -X $hv/pkg/chartutil.k8sVersionMinor=$minor -X $hv/pkg/lint/rules.k8sVersionMajor=1 \
  -X $hv/pkg/lint/rules.k8sVersionMinor=$minor" "$hv/cmd/helm@$HELM_VERSION"
log "building nats-server $NATS_SERVER_VERSION"
GOBIN="$out" go install -trimpath -ldflags "-s -w" "github.com/nats-io/nats-server/v2@$NATS_SERVER_VERSION"

for b in $want; do [ -e "$out/$b" ] || { log "missing $b after the build"; exit 1; }; done
"$out/kube-apiserver" --version >&2
rm -rf "$bin" "$wrapper"; mv "$out" "$bin"
log "built in $(( $(date +%s) - started ))s; cache uses $(du -sh "$CACHE" | cut -f1)"
echo "$bin"
