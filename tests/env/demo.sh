#!/usr/bin/env bash
# `make demo`, on top of a running local environment in DIR: installs the CRDs, starts the three
# operators and two simulated hosts (a test double) as background processes, applies the example
# objects and shows what a user would look at. `make dev-down` stops all of it.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)
dir=$(cd "${1:?usage: demo.sh DIR}" && pwd)
# shellcheck disable=SC1091
. "$dir/env"
kubectl=$TOOLS_BIN/kubectl
log() { echo "[demo] $*" >&2; }

(cd "$root" && cargo build --quiet --workspace --bins)
"$kubectl" apply --server-side -f "$root/deploy/crds" >/dev/null
"$kubectl" wait --for=condition=Established crd --all --timeout=60s >/dev/null

port=18080
for binary in wasmcloud-host-operator wasmcloud-app-status-bridge wasmcloud-service-syncer; do
  if [ -f "$dir/pids/$binary" ] && kill -0 "$(cat "$dir/pids/$binary")" 2>/dev/null; then continue; fi
  setsid "$root/target/debug/$binary" --metrics-bind-address "127.0.0.1:$port" \
    --health-probe-bind-address "127.0.0.1:$((port + 1))" >"$dir/logs/$binary.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$binary"
  log "$binary: metrics on 127.0.0.1:$port, probes on 127.0.0.1:$((port + 1)), log $dir/logs/$binary.log"
  port=$((port + 2))
done
if ! { [ -f "$dir/pids/lattice-host-simulator" ] && kill -0 "$(cat "$dir/pids/lattice-host-simulator")" 2>/dev/null; }; then
  setsid "$root/target/debug/lattice-host-simulator" --nats-url "$NATS_URL" --lattice default \
    --host sim-east-1:zone=east --host sim-east-2:zone=east >"$dir/logs/lattice-host-simulator.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/lattice-host-simulator"
fi

"$kubectl" apply -f "$root/tests/fixtures/demo/demo.yaml"
for probe in 18081 18083 18085; do
  deadline=$((SECONDS + 60))
  until curl -fsS "http://127.0.0.1:$probe/readyz" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { log "an operator is not ready on :$probe; see $dir/logs"; exit 1; }
    sleep 0.2
  done
done
echo
"$kubectl" get wasmcloud -A
cat <<USAGE

The demo is running. Look around with:
  source $dir/env
  \$TOOLS_BIN/kubectl get wasmcloudhostconfigs,applications -A
  \$TOOLS_BIN/kubectl get events -n wasmcloud-demo
  curl -s http://127.0.0.1:18080/metrics    # host-operator metrics (18082: app-status-bridge, 18084: service-syncer)
Stop everything with: make dev-down
USAGE
