#!/usr/bin/env bash
# Builds CoreDNS (cluster DNS of the local environment's real node) from its Go module into the tool cache
# outside the clone. Its own cache entry, so adding it did not invalidate build-tools.sh's (much slower) one.
# Prints the binary's path as the last line of stdout; a complete cache entry is reused at once.
set -euo pipefail
# Pinned here rather than in versions.env, whose every change rebuilds the control plane.
COREDNS_VERSION=v1.15.0
CACHE=${WASMCLOUD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-operator-tools}
export GOMODCACHE="$CACHE/go/mod" GOCACHE="$CACHE/go/build"
export GOTOOLCHAIN=local CGO_ENABLED=0 GOFLAGS=
log() { echo "[build-coredns] $*" >&2; }

key=$( { echo "$COREDNS_VERSION"; cat "$0"; go version; } | sha256sum | cut -c1-12)
bin="$CACHE/coredns-$COREDNS_VERSION-$key/coredns"
if [ -x "$bin" ]; then log "cache hit: $bin"; echo "$bin"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.coredns.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

started=$(date +%s)
log "building CoreDNS $COREDNS_VERSION (cold: about 3 minutes on 2 cores)"
out="$(dirname "$bin").partial"; rm -rf "$out"; mkdir -p "$out"
GOBIN="$out" go install -trimpath -buildvcs=false -ldflags "-s -w" "github.com/coredns/coredns@$COREDNS_VERSION" >&2
rm -rf "$(dirname "$bin")"; mv "$out" "$(dirname "$bin")"
log "built in $(( $(date +%s) - started ))s"
echo "$bin"
