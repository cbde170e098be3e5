#!/usr/bin/env bash
# `make demo` and `make demo-down`.
#
#   demo.sh up DIR     bring up the local environment in DIR (unless it runs already, or KUBECONFIG names
#                      another cluster), build the operator images (images/build.py) into its real node,
#                      install the three Helm charts (CRDs included) into wasmcloud-system so the operators
#                      run as pods on the real node (one replica each, their probes waited for), start the
#                      lattice-host simulator (a TEST DOUBLE: one simulated wasmCloud host per running host
#                      pod), apply tests/fixtures/demo/demo.yaml, wait until the hosts are Ready, the
#                      application is Deployed and its Service has endpoints, and print what a user would look
#                      at. Running it again rolls the operator pods whose binaries changed.
#   demo.sh down DIR   against another cluster: delete the example objects (while the bridge still runs, so
#                      wadm is cleaned up) and uninstall the charts; then stop every process DIR/pids names
#                      (with the local environment, that is the whole cluster).
#
# Another cluster: export KUBECONFIG (pointing at it) and NATS_URL (its lattice's NATS, with wadm running
# there, reachable from this machine). The charts are installed with replicaCount=0 (the operators still
# run here, as the charts' ServiceAccounts); hosts are real pods, so no simulator unless DEMO_SIMULATE_HOSTS=1.
#
# Settings (environment): DEMO_NAMESPACE (charts, default wasmcloud-system), DEMO_PORT_BASE (first of six
# local ports for the operators' /metrics and probes, default 18080; `auto` picks free ones),
# DEMO_TIMEOUT (seconds each wait may take, default 180), DEMO_TOKEN_DURATION (default 24h),
# DEMO_SIMULATE_HOSTS (1 or 0), DEMO_OPERATORS (pods, or processes: the operators as local processes
# authenticated as the charts' ServiceAccounts, for debugging), KUBECTL and HELM (default: the pinned builds
# from the tool cache).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
root=$(cd "$here/../.." && pwd)

NAMESPACE=${DEMO_NAMESPACE:-wasmcloud-system}
PORT_BASE=${DEMO_PORT_BASE:-18080}
TIMEOUT=${DEMO_TIMEOUT:-180}
TOKEN_DURATION=${DEMO_TOKEN_DURATION:-24h}
EXAMPLES=$root/tests/fixtures/demo/demo.yaml
# Where the example objects live (tests/fixtures/demo/demo.yaml).
DEMO_NS=wasmcloud-demo
HOSTS=demo-hosts
APP=hello-world
# With a local real node: real wasmCloud hosts and an app they serve (tests/fixtures/demo/real-hosts.yaml).
REAL_EXAMPLES=$root/tests/fixtures/demo/real-hosts.yaml
REAL_HOSTS=real-hosts
REAL_APP=hello-real
# chart → the binary it runs
CHARTS="host-operator app-status-bridge service-syncer"
# Where the operator images go in the real node (env.sh operator-images), and the real node's taint.
IMAGE_REPOSITORY=localhost/wasmcloud-test
REAL_NODE_TAINT_KEY=wasmcloud.dev/real-node
SIMULATOR=lattice-host-simulator

log() { echo "[demo] $*" >&2; }
die() { log "$*"; exit 1; }

# progress WHAT OUT COMMAND...: runs COMMAND with stdout to OUT and a line every minute while it runs, so a
# long silent build (the first `go build` of the control plane takes about 20 minutes) shows it is alive.
progress() {
  local what=$1 out=$2; shift 2
  local started=$SECONDS next=$((SECONDS + 60)) pid
  "$@" >"$out" &
  pid=$!
  while kill -0 "$pid" 2>/dev/null; do
    if [ "$SECONDS" -ge "$next" ]; then
      log "$what: still running after $(((SECONDS - started) / 60)) min"
      next=$((next + 60))
    fi
    sleep 0.2
  done
  wait "$pid"
}

# wait_for WHAT COMMAND...: polls COMMAND until it succeeds, for at most TIMEOUT seconds.
wait_for() {
  local what=$1; shift
  local deadline=$((SECONDS + TIMEOUT)) started=$SECONDS
  until "$@" >/dev/null 2>&1; do
    [ "$SECONDS" -lt "$deadline" ] || { log "timed out after ${TIMEOUT}s waiting for $what"; diagnose; exit 1; }
    sleep 0.2
  done
  log "$what after $((SECONDS - started))s"
}

running() { [ -f "$dir/pids/$1" ] && kill -0 "$(cat "$dir/pids/$1")" 2>/dev/null; }

stop() { # stop NAME: SIGTERM, up to 10 s to exit, then SIGKILL
  local pid deadline
  [ -f "$dir/pids/$1" ] || return 0
  pid=$(cat "$dir/pids/$1")
  if kill "$pid" 2>/dev/null; then
    deadline=$((SECONDS + 10))
    while kill -0 "$pid" 2>/dev/null && [ "$SECONDS" -lt "$deadline" ]; do sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pids/$1"
}

# launch NAME COMMAND...: starts COMMAND in its own session, logging to logs/NAME.log, pid in pids/NAME.
launch() {
  local name=$1; shift
  setsid "$@" >"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
}

# What a person needs to see when a wait fails: the objects, their Events and the operators' last lines.
diagnose() {
  log "state of the example objects:"
  "$kubectl" get whc,applications.core.oam.dev,svc,endpointslices,pods -n "$DEMO_NS" -o wide >&2 || true
  show_conditions >&2 || true
  "$kubectl" get events -n "$DEMO_NS" --sort-by=.lastTimestamp >&2 || true
  local name
  save_pod_logs
  for name in $(binaries) $SIMULATOR; do
    [ -f "$dir/logs/$name.log" ] || continue
    log "last lines of $dir/logs/$name.log:"
    tail -n 15 "$dir/logs/$name.log" >&2
  done
}

binaries() { local c; for c in $CHARTS; do echo "wasmcloud-$c"; done; }

show_conditions() {
  "$kubectl" get wasmcloudhostconfigs.k8s.wasmcloud.dev,applications.core.oam.dev -n "$DEMO_NS" -o jsonpath='{range .items[*]}{.kind}/{.metadata.name}:{range .status.conditions[*]} {.type}={.status}({.reason}){end}{"\n"}{end}'
}

# real_hosts_available: the local environment's real node runs the operators and has the real host image.
real_hosts_available() {
  [ "$operators" = pods ] && [ "$(cat "$dir/demo-cluster")" = local ] && [ -n "${REAL_NODE_HOST_IMAGE:-}" ]
}

# real_app_answers: GET / through the real app's Service ClusterIP (kube-proxy) is answered by the component;
# the answer is kept in DIR/real-app.http.
real_app_answers() {
  local address
  address=$("$kubectl" get svc "$REAL_APP" -n "$DEMO_NS" -o jsonpath='{.spec.clusterIP}:{.spec.ports[0].port}') || return 1
  curl -fsS --max-time 5 "http://$address/" >"$dir/real-app.http" || return 1
  grep -q "hello from wasmCloud" "$dir/real-app.http" && echo "$address" >"$dir/real-app.address"
}

# Ready endpoints (pod names) of the app's Service(s).
app_endpoints() {
  local service
  service=$("$kubectl" get svc -n "$DEMO_NS" -l "wasmcloud.dev/app=$APP" -o jsonpath='{.items[0].metadata.name}')
  [ -n "$service" ] || return 1
  "$kubectl" get endpointslices.discovery.k8s.io -n "$DEMO_NS" -l "kubernetes.io/service-name=$service" \
    -o jsonpath='{range .items[*].endpoints[?(@.conditions.ready==true)]}{.targetRef.name}{"\n"}{end}' | grep -q .
}

# Writes DIR/kubeconfig-SA: the current cluster (server and CA of $KUBECONFIG) with a TokenRequest token for
# ServiceAccount NAMESPACE/SA and no other credentials, so a binary run with it has exactly the chart's RBAC.
service_account_kubeconfig() {
  local sa=$1 file=$dir/kubeconfig-$1
  TOKEN=$("$kubectl" create token "$sa" -n "$NAMESPACE" --duration="$TOKEN_DURATION") \
  SA=$sa python3 -c '
import json, os, sys
admin = json.load(sys.stdin)
cluster = admin["clusters"][0]["cluster"]
sa = os.environ["SA"]
json.dump({"apiVersion": "v1", "kind": "Config",
           "clusters": [{"name": "demo", "cluster": cluster}],
           "users": [{"name": sa, "user": {"token": os.environ["TOKEN"]}}],
           "contexts": [{"name": "demo", "context": {"cluster": "demo", "user": sa}}],
           "current-context": "demo"}, sys.stdout, indent=1)
' < <("$kubectl" config view --minify --flatten -o json) >"$file.partial"
  chmod 600 "$file.partial"
  mv "$file.partial" "$file"
  echo "$file"
}

# The binary's arguments exactly as the chart renders them in its Deployment, with the admin endpoints moved
# to 127.0.0.1 ports (containers listen on every interface; a local process should not).
chart_args() { # chart_args RELEASE METRICS_PORT PROBE_PORT
  "$kubectl" get deployment -n "$NAMESPACE" -l "app.kubernetes.io/instance=$1" -o json | METRICS=$2 PROBES=$3 python3 -c '
import json, os, sys
items = json.load(sys.stdin)["items"]
if len(items) != 1:
    sys.exit("expected one Deployment from the chart, found %d" % len(items))
spec = items[0]["spec"]["template"]["spec"]
replace = {"--metrics-bind-address": "127.0.0.1:" + os.environ["METRICS"],
           "--health-probe-bind-address": "127.0.0.1:" + os.environ["PROBES"]}
print(spec.get("serviceAccountName", "default"))
for arg in spec["containers"][0].get("args", []):
    flag = arg.split("=", 1)[0]
    print(flag + "=" + replace[flag] if flag in replace else arg)
'
}

# The operators as the charts' pods on the real node: wait for their Deployments (their readiness probes).
operators_as_pods() {
  local chart
  for chart in $CHARTS; do
    wait_for "wasmcloud-$chart's pod Ready on the real node" \
      "$kubectl" rollout status "deployment/wasmcloud-$chart" -n "$NAMESPACE" --timeout=5s
  done
}

# The operators as local processes (DEMO_OPERATORS=processes, or another cluster): as the charts'
# ServiceAccounts with the charts' arguments.
operators_as_processes() {
  local name chart port=$PORT_BASE metrics probes account kubeconfig args=()
  # Restarted on every run, for fresh tokens; the simulator keeps running (its hosts would otherwise leave
  # and rejoin the lattice, and wadm take a while to move the application back).
  for name in $(binaries); do stop "$name"; done
  local probe_ports=() auto_ports=()
  if [ "$PORT_BASE" = auto ]; then mapfile -t auto_ports < <("$here/free-port.py" $(( 2 * $(wc -w <<<"$CHARTS") ))); fi
  for chart in $CHARTS; do
    name=wasmcloud-$chart
    if [ "$PORT_BASE" = auto ]; then metrics=${auto_ports[0]}; probes=${auto_ports[1]}; auto_ports=("${auto_ports[@]:2}")
    else metrics=$port; probes=$((port + 1)); port=$((port + 2)); fi
    mapfile -t args < <(chart_args "$name" "$metrics" "$probes")
    [ "${#args[@]}" -gt 0 ] || die "could not read the $chart chart's Deployment in $NAMESPACE"
    account=${args[0]}
    kubeconfig=$(service_account_kubeconfig "$account")
    launch "$name" env -i PATH="$PATH" HOME="$HOME" KUBECONFIG="$kubeconfig" POD_NAMESPACE="$NAMESPACE" \
      POD_NAME="$name-local" "$root/target/debug/$name" "${args[@]:1}"
    probe_ports+=("$name:$probes")
    echo "http://127.0.0.1:$metrics/metrics" >"$dir/$name.metrics-url"
    log "$name as ServiceAccount $NAMESPACE/$account: metrics http://127.0.0.1:$metrics/metrics, log $dir/logs/$name.log"
  done
  local entry deadline
  for entry in "${probe_ports[@]}"; do
    name=${entry%%:*}
    deadline=$((SECONDS + TIMEOUT))
    until curl -fsS "http://127.0.0.1:${entry##*:}/readyz" >/dev/null 2>&1; do
      running "$name" || die "$name exited: $(tail -n 15 "$dir/logs/$name.log")"
      [ "$SECONDS" -lt "$deadline" ] || die "$name is not ready after ${TIMEOUT}s: $(tail -n 15 "$dir/logs/$name.log")"
      sleep 0.2
    done
  done
}

# The operator pods' logs, into DIR/logs/wasmcloud-<chart>.log (where the process mode writes them).
save_pod_logs() {
  [ "$operators" = pods ] || return 0
  local chart
  for chart in $CHARTS; do
    "$kubectl" logs "deployment/wasmcloud-$chart" -n "$NAMESPACE" --all-containers >"$dir/logs/wasmcloud-$chart.log" 2>&1 || true
    "$kubectl" get pods -n "$NAMESPACE" -l "app.kubernetes.io/instance=wasmcloud-$chart" \
      -o jsonpath='{.items[0].status.podIP}' | sed 's#.*#http://&:8080/metrics#' >"$dir/wasmcloud-$chart.metrics-url" || true
  done
}

# Local environment, or the cluster KUBECONFIG names (then wadm and NATS are the user's).
choose_cluster() {
  if [ -n "${KUBECONFIG:-}" ] && [ "$KUBECONFIG" != "$dir/kubeconfig" ]; then
    [ -n "${NATS_URL:-}" ] || die "KUBECONFIG is set, so the demo uses that cluster: also set NATS_URL (its lattice's NATS, with wadm)"
    echo external >"$dir/demo-cluster"
    log "using the cluster in KUBECONFIG=$KUBECONFIG and NATS at $NATS_URL (unset KUBECONFIG for the local environment)"
    if [ -z "${KUBECTL:-}" ] || [ -z "${HELM:-}" ]; then
      log "building (or reusing) kubectl and helm from the tool cache"
      progress "tool build" "$dir/tools-bin" "$here/build-tools.sh"
      TOOLS_BIN=$(tail -n1 "$dir/tools-bin")
    fi
    kubectl=${KUBECTL:-$TOOLS_BIN/kubectl}
    helm=${HELM:-$TOOLS_BIN/helm}
    "$kubectl" version --request-timeout=10s >/dev/null || die "cannot reach the cluster in KUBECONFIG=$KUBECONFIG"
    simulate=${DEMO_SIMULATE_HOSTS:-0}
    operators=processes
    return
  fi
  echo local >"$dir/demo-cluster"
  if running kube-apiserver && [ -f "$dir/env" ]; then
    log "reusing the local environment running in $dir"
  else
    log "building (or reusing) the tools: control plane, kwok, helm, nats-server (first run: about 20 min on 2 cores)"
    progress "tool build" "$dir/tools-bin" "$here/build-tools.sh"
    log "building (or reusing) the wadm runner (first run: about 10 min on 2 cores)"
    progress "wadm runner build" /dev/null "$here/build-wadm.sh"
    log "building (or reusing) the real wasmCloud host (first run: about 25 min on 2 cores)"
    progress "wasmCloud host build" /dev/null "$here/build-host.sh"
    "$here/env.sh" up "$dir"
  fi
  # shellcheck disable=SC1091
  . "$dir/env"
  kubectl=${KUBECTL:-$TOOLS_BIN/kubectl}
  helm=${HELM:-$TOOLS_BIN/helm}
  simulate=${DEMO_SIMULATE_HOSTS:-1}
  operators=${DEMO_OPERATORS:-pods}
  if [ "$operators" = pods ] && [ -n "${REAL_NODE_UNAVAILABLE:-}" ]; then
    die "the operators run as pods on the local environment's real node, and there is none: $REAL_NODE_UNAVAILABLE (DEMO_OPERATORS=processes runs them as local processes instead)"
  fi
}

up() {
  mkdir -p "$dir"/{logs,pids}
  dir=$(cd "$dir" && pwd)
  local started=$SECONDS
  choose_cluster
  export HELM_CACHE_HOME=$dir/helm/cache HELM_CONFIG_HOME=$dir/helm/config HELM_DATA_HOME=$dir/helm/data

  log "building the operators and the simulator (cargo build --workspace --bins)"
  (cd "$root" && cargo build --workspace --bins)
  if [ "$operators" = pods ]; then
    # Tagged by content: a rebuilt binary rolls its pod, an unchanged one leaves it alone.
    image_tag=demo-$(cat "$root"/target/debug/wasmcloud-{host-operator,service-syncer,app-status-bridge} | sha256sum | cut -c1-12)
    log "building the operator images (images/build.py) as $IMAGE_REPOSITORY/wasmcloud-*:$image_tag into the real node"
    OPERATOR_BIN_DIR=$root/target/debug OPERATOR_IMAGE_TAG=$image_tag "$here/env.sh" operator-images "$dir" >/dev/null
  fi

  local chart release
  for chart in $CHARTS; do
    release=wasmcloud-$chart
    log "helm upgrade --install $release charts/$chart -n $NAMESPACE"
    local values=(--set logFormat=text)
    if [ "$operators" = pods ]; then
      # The real node's toleration and label; the hub through its Service in default (cluster DNS).
      values+=(--set "image.repository=$IMAGE_REPOSITORY/wasmcloud-$chart" --set "image.tag=$image_tag"
        --set "tolerations[0].key=$REAL_NODE_TAINT_KEY" --set tolerations[0].operator=Exists
        --set tolerations[0].effect=NoSchedule --set nodeSelector.type=real)
      [ "$chart" = host-operator ] || values+=(--set "nats.url=nats://nats.default.svc.cluster.local:4222")
    else
      values+=(--set replicaCount=0)
      [ "$chart" = host-operator ] || values+=(--set "nats.url=$NATS_URL")
    fi
    "$helm" upgrade --install "$release" "$root/charts/$chart" -n "$NAMESPACE" --create-namespace "${values[@]}" >/dev/null
  done
  "$kubectl" wait --for=condition=Established --timeout="${TIMEOUT}s" \
    crd/wasmcloudhostconfigs.k8s.wasmcloud.dev crd/applications.core.oam.dev >/dev/null

  if [ "$operators" = pods ]; then operators_as_pods; else operators_as_processes; fi
  if [ "$simulate" = 1 ] && ! running "$SIMULATOR"; then
    # TEST DOUBLE: one simulated wasmCloud host per running host pod (it reads pods as admin).
    launch "$SIMULATOR" env KUBECONFIG="$KUBECONFIG" "$root/target/debug/$SIMULATOR" --follow-pods --nats-url "$NATS_URL"
    log "$SIMULATOR (test double) follows the host pods, log $dir/logs/$SIMULATOR.log"
  fi
  log "the operators are ready"

  log "kubectl apply -f tests/fixtures/demo/demo.yaml"
  "$kubectl" apply -f "$EXAMPLES" >&2
  wait_for "WasmCloudHostConfig $HOSTS Ready" \
    "$kubectl" wait --for=condition=Ready "wasmcloudhostconfigs.k8s.wasmcloud.dev/$HOSTS" -n "$DEMO_NS" --timeout=5s
  wait_for "Application $APP Deployed" \
    "$kubectl" wait --for=jsonpath='{.status.phase}'=Deployed "applications.core.oam.dev/$APP" -n "$DEMO_NS" --timeout=5s
  wait_for "the Service of $APP with ready endpoints" app_endpoints
  if real_hosts_available; then
    log "kubectl apply -f tests/fixtures/demo/real-hosts.yaml (image $REAL_NODE_HOST_IMAGE)"
    sed -e "s|@HOST_IMAGE@|$REAL_NODE_HOST_IMAGE|" -e "s|@LEAF_IMAGE@|$REAL_NODE_NATS_IMAGE|" \
        -e "s|@COMPONENT@|$REAL_NODE_HTTP_COMPONENT|" "$REAL_EXAMPLES" | "$kubectl" apply -f - >&2
    wait_for "WasmCloudHostConfig $REAL_HOSTS Ready (real hosts on the real node)" \
      "$kubectl" wait --for=condition=Ready "wasmcloudhostconfigs.k8s.wasmcloud.dev/$REAL_HOSTS" -n "$DEMO_NS" --timeout=5s
    wait_for "Application $REAL_APP Deployed" \
      "$kubectl" wait --for=jsonpath='{.status.phase}'=Deployed "applications.core.oam.dev/$REAL_APP" -n "$DEMO_NS" --timeout=5s
    wait_for "an HTTP answer from $REAL_APP through its Service" real_app_answers
    # Once seen: a brief Reconciling after Deployed (the hosts' first heartbeat); what is shown is settled.
    wait_for "Application $REAL_APP still Deployed" \
      "$kubectl" wait --for=jsonpath='{.status.phase}'=Deployed "applications.core.oam.dev/$REAL_APP" -n "$DEMO_NS" --timeout=5s
  fi
  save_pod_logs
  log "the demo is up after $((SECONDS - started))s"

  echo
  echo "\$ kubectl get whc,app,svc,endpointslices -n $DEMO_NS"
  "$kubectl" get whc,applications.core.oam.dev,svc,endpointslices -n "$DEMO_NS"
  if [ "$operators" = pods ]; then
    echo
    echo "\$ kubectl get pods -n $NAMESPACE -o wide"
    "$kubectl" get pods -n "$NAMESPACE" -o wide
  fi
  if real_hosts_available; then
    echo
    echo "\$ kubectl get pods -n $DEMO_NS -l app.kubernetes.io/instance=$REAL_HOSTS -o wide"
    "$kubectl" get pods -n "$DEMO_NS" -l "app.kubernetes.io/instance=$REAL_HOSTS" -o wide
    echo
    echo "\$ curl http://$(cat "$dir/real-app.address")/   # Service $REAL_APP: real hosts, the wasi:http component"
    cat "$dir/real-app.http"
  fi
  echo
  echo "Conditions:"
  show_conditions | sed 's/^/  /'
  local kc_hint down_hint=make\ demo-down
  [ "$dir" = "$root/.dev" ] || down_hint+=" DEV_DIR=$dir"
  if [ "$(cat "$dir/demo-cluster")" = local ]; then kc_hint="source $dir/env"
  else kc_hint="(with your KUBECONFIG)"; down_hint+="   (with the same KUBECONFIG: deletes the examples, uninstalls the charts)"; fi
  cat <<USAGE

The demo is running: the three operators (charts in namespace $NAMESPACE, $(if [ "$operators" = pods ]; then echo "as pods on the real node"; else echo "run here as their ServiceAccounts"; fi)),
hosts for lattice "default" and the hello-world application with its Service, in namespace $DEMO_NS.
$(if [ "$simulate" = 1 ]; then echo "The wasmCloud hosts are simulated (a test double: no Wasm runs) and their pods are on kwok's nodes (API data only)."; fi)
Look around:
  $kc_hint
  kubectl get whc,app,svc,endpointslices -n $DEMO_NS
  kubectl get events -n $DEMO_NS
  kubectl patch whc/$HOSTS -n $DEMO_NS --type merge -p '{"spec":{"hostReplicas":3}}'   # pods, hosts and endpoints follow
$(for name in $(binaries); do echo "  curl -s $(cat "$dir/$name.metrics-url")   # $name"; done)
$(if [ "$operators" = pods ]; then echo "  kubectl logs -n $NAMESPACE deployment/wasmcloud-host-operator"; fi)
  logs: $dir/logs
Stop everything with: $down_hint
USAGE
}

down() {
  [ -d "$dir" ] || return 0
  dir=$(cd "$dir" && pwd)
  if [ "$(cat "$dir/demo-cluster" 2>/dev/null)" = external ]; then
    kubectl=${KUBECTL:-}
    helm=${HELM:-}
    if [ -z "$kubectl" ] || [ -z "$helm" ]; then
      TOOLS_BIN=$("$here/build-tools.sh" 2>/dev/null | tail -n1)
      kubectl=${kubectl:-$TOOLS_BIN/kubectl}
      helm=${helm:-$TOOLS_BIN/helm}
    fi
    export HELM_CACHE_HOME=$dir/helm/cache HELM_CONFIG_HOME=$dir/helm/config HELM_DATA_HOME=$dir/helm/data
    # The Application first, while the bridge runs, so its finalizer undeploys the model from wadm.
    log "deleting the example objects"
    "$kubectl" delete -f "$EXAMPLES" --ignore-not-found --wait --timeout="${TIMEOUT}s" >&2 || true
    local chart
    for chart in $CHARTS; do
      "$helm" uninstall "wasmcloud-$chart" -n "$NAMESPACE" --ignore-not-found >&2 || true
    done
    log "charts uninstalled; the CRDs stay (helm.sh/resource-policy: keep)"
  fi
  local name
  for name in $SIMULATOR $(binaries); do stop "$name"; done
  rm -f "$dir/demo-cluster" "$dir"/kubeconfig-* "$dir"/*.metrics-url "$dir/tools-bin"
}

[ $# -eq 2 ] || { echo "usage: $0 up|down DIR" >&2; exit 2; }
dir=$2
case $1 in
  up) up ;;
  down) down ;;
  *) echo "usage: $0 up|down DIR" >&2; exit 2 ;;
esac
