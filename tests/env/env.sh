#!/usr/bin/env bash
# The local environment, as plain processes on 127.0.0.1:
#   etcd → kube-apiserver → kube-controller-manager + kube-scheduler → kwok (fake nodes) → NATS (JetStream) → wadm
#   → the real node (real-node.sh: containerd, kubelet, kube-proxy, CNI bridge) → cluster DNS (CoreDNS)
#
# kwok's nodes (label type=kwok) run nothing and carry the scale tests; the real node `wasmcloud-real-node`
# (label type=real, taint wasmcloud.dev/real-node=true:NoSchedule) runs the pods that tolerate it. Without root
# or the Debian packages it needs, `up` starts everything else and records why in DIR/env
# (REAL_NODE_UNAVAILABLE), which the tests that need the real node report as their failure. REAL_NODE=off
# leaves it out on purpose (`make bench`: kube-proxy would spend the benchmark's CPU on its Services).
#
#   env.sh up DIR      start everything with its state, logs and pid files under DIR; writes DIR/env
#   env.sh down DIR    stop everything started in DIR (SIGTERM, then SIGKILL); logs stay in DIR/logs
#   env.sh status DIR  which processes are running
#   env.sh nats-stop DIR / nats-start DIR   stop NATS, or start it again on the same port and store
#                      (for tests of what happens while NATS is away)
#   env.sh apiserver-stop DIR / apiserver-start DIR   the same for the kube-apiserver (etcd keeps the data)
#   env.sh wadm-stop DIR / wadm-start DIR             the same for wadm (its state is in JetStream)
#   env.sh operator-images DIR   builds the operator images from OPERATOR_BIN_DIR's binaries as
#                      localhost/wasmcloud-test/<binary>:$OPERATOR_IMAGE_TAG into the real node; prints the refs
#   env.sh simulated-host-image DIR   the same for the lattice-host simulator (TEST DOUBLE) as a host image
#   env.sh leftovers DIR  after down: what the real node left on the machine (nothing when clean);
#                      IP_FORWARD_BEFORE is net.ipv4.ip_forward as it was before up
#
# DIR/env holds KUBECONFIG, NATS_URL, NATS_MONITOR_URL, TOOLS_BIN and the real node's settings, ready to `source`.
# Tools come from build-tools.sh, build-wadm.sh, build-coredns.sh and build-host.sh (cached outside the clone).
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)

KWOK_NODES=${KWOK_NODES:-2}
SERVICE_CIDR=${SERVICE_CIDR:-10.0.0.0/24}   # 10.0.0.1 is the kubernetes Service (it is in the serving certificate)
POD_CIDR=10.244.0.1/16     # pod IPs kwok hands out: API data only, nothing routes them

log() { echo "[env] $*" >&2; }
die() { log "$*"; exit 1; }
# shellcheck source=real-node.sh
. "$here/real-node.sh"

# wait_until SECONDS WHAT COMMAND...: polls COMMAND until it succeeds; fails after SECONDS, or at once
# if the process named WHAT (when there is one) has exited.
wait_until() {
  local limit=$1 what=$2; shift 2
  local deadline=$((SECONDS + limit))
  until "$@" >/dev/null 2>&1; do
    if [ -f "$dir/pids/$what" ] && ! kill -0 "$(cat "$dir/pids/$what")" 2>/dev/null; then
      die "$what exited: $(tail -3 "$dir/logs/$what.log")"
    fi
    [ "$SECONDS" -lt "$deadline" ] || die "timed out after ${limit}s waiting for $what (logs: $dir/logs)"
    sleep 0.2
  done
  log "$what: ready after $((SECONDS - started))s"
}

# launch NAME COMMAND...: starts COMMAND in its own session, logging to logs/NAME.log.
launch() {
  local name=$1; shift
  mkdir -p "$dir/cmds"
  printf '%q ' "$@" >"$dir/cmds/$name"   # so `relaunch` can start it again the same way
  setsid "$@" >>"$dir/logs/$name.log" 2>&1 </dev/null &
  echo $! >"$dir/pids/$name"
  sleep 0.1
  kill -0 "$(cat "$dir/pids/$name")" 2>/dev/null || die "$name exited at once: $(tail -5 "$dir/logs/$name.log")"
}

make_pki() {
  local pki=$dir/pki
  mkdir -p "$pki"
  cat >"$pki/openssl.cnf" <<'CNF'
[req]
distinguished_name = dn
prompt = no
[dn]
CN = unused
[ca]
basicConstraints = critical,CA:TRUE
keyUsage = critical,keyCertSign,cRLSign,digitalSignature
subjectKeyIdentifier = hash
[server]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
subjectKeyIdentifier = hash
authorityKeyIdentifier = keyid
subjectAltName = DNS:localhost,DNS:kubernetes,DNS:kubernetes.default,DNS:kubernetes.default.svc,DNS:kubernetes.default.svc.cluster.local,IP:127.0.0.1,IP:10.0.0.1,IP:10.245.0.1
[client]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = clientAuth
authorityKeyIdentifier = keyid
CNF
  (
    cd "$pki"
    openssl req -x509 -newkey rsa:2048 -nodes -keyout ca.key -sha256 -days 3650 -subj "/CN=wasmcloud-operator-test-ca" \
      -config openssl.cnf -extensions ca -out ca.crt 2>/dev/null
    issue() { # issue NAME SUBJECT EXTENSIONS
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$2" -config openssl.cnf -out "$1.csr" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
        -extfile openssl.cnf -extensions "$3" -out "$1.crt" 2>/dev/null
    }
    issue apiserver "/CN=kube-apiserver" server
    issue admin "/O=system:masters/CN=admin" client
    openssl genrsa -out sa.key 2048 2>/dev/null
    openssl rsa -in sa.key -pubout -out sa.pub 2>/dev/null
    chmod 600 ./*.key
  )
}

write_kubeconfig() { # write_kubeconfig FILE PORT
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster:
    server: https://127.0.0.1:$2
    certificate-authority-data: $(base64 -w0 <"$dir/pki/ca.crt")
users:
- name: admin
  user:
    client-certificate-data: $(base64 -w0 <"$dir/pki/admin.crt")
    client-key-data: $(base64 -w0 <"$dir/pki/admin.key")
contexts:
- name: local
  context: {cluster: local, user: admin}
current-context: local
KC
  chmod 600 "$1"
}

fake_node() { # fake_node INDEX
  cat <<NODE
apiVersion: v1
kind: Node
metadata:
  name: kwok-node-$1
  annotations: {node.alpha.kubernetes.io/ttl: "0", kwok.x-k8s.io/node: fake}
  labels: {kubernetes.io/arch: amd64, kubernetes.io/os: linux, kubernetes.io/hostname: kwok-node-$1, type: kwok}
status:
  allocatable: {cpu: "32", memory: 256Gi, pods: "250"}
  capacity: {cpu: "32", memory: 256Gi, pods: "250"}
  addresses: [{type: InternalIP, address: "10.1.0.$(($1 + 1))"}]
  nodeInfo: {architecture: amd64, operatingSystem: linux, kubeletVersion: fake, kubeProxyVersion: fake, bootID: "",
             containerRuntimeVersion: "", kernelVersion: "", machineID: "", osImage: "", systemUUID: ""}
NODE
}

# start_nats BIN: the hub, from DIR/nats.conf. With the real node it listens on every address (the nft table
# admits only loopback and the pod network) so pods reach it on the gateway address; leaf nodes connect on
# its leafnodes port.
start_nats() {
  launch nats-server "$1/nats-server" -c "$dir/nats.conf"
  wait_until 30 nats-server curl -fsS "$(sed -n 's/^http: \(.*\)$/http:\/\/\1/p' "$dir/nats.conf")/healthz?js-enabled-only=true"
}

# write_nats_conf PORT MONITOR_PORT LEAF_PORT ADDRESS
# The hub's JetStream domain is `default`, as in the old operator's quickstart NATS (and the default
# `jetstreamDomain` of a host config): hosts behind a leaf create their buckets there.
write_nats_conf() {
  cat >"$dir/nats.conf" <<CONF
server_name: local-hub
listen: $4:$1
http: 127.0.0.1:$2
jetstream { store_dir: "$dir/nats", domain: "default" }
leafnodes { listen: "$4:$3" }
CONF
}

nats_start() {
  started=$SECONDS
  # shellcheck disable=SC1091
  . "$dir/env"
  start_nats "$TOOLS_BIN"
}

# apiserver_start: starts the API server again exactly as `up` did (for tests of an API server outage).
apiserver_start() {
  started=$SECONDS
  [ -f "$dir/cmds/kube-apiserver" ] || die "no recorded kube-apiserver command in $dir/cmds"
  local command port
  command=$(cat "$dir/cmds/kube-apiserver")
  eval "launch kube-apiserver $command"
  port=$(sed -n 's#^ *server: https://127.0.0.1:\([0-9]*\)$#\1#p' "$dir/kubeconfig")
  wait_until 120 "kube-apiserver" curl -fsS --cacert "$dir/pki/ca.crt" "https://127.0.0.1:$port/readyz"
  # kube-controller-manager's informers take minutes to catch up after the API server comes back, which
  # would slow every later test in the environment: give it (and the scheduler and kwok) a fresh start.
  # The operators under test are not touched.
  local name
  for name in kube-controller-manager kube-scheduler kwok; do
    stop "$name"
    command=$(cat "$dir/cmds/$name")
    eval "launch $name $command"
  done
  # shellcheck disable=SC1091
  . "$dir/env"
  wait_until 60 "kwok" "$TOOLS_BIN/kubectl" wait --for=condition=Ready node -l type=kwok --timeout=5s
}

# wadm_start: starts wadm again as `up` did, and waits for its API subscription.
wadm_start() {
  started=$SECONDS
  [ -f "$dir/cmds/wadm" ] || die "no recorded wadm command in $dir/cmds"
  local command
  command=$(cat "$dir/cmds/wadm")
  # shellcheck disable=SC1091
  . "$dir/env"
  export RUST_LIB_BACKTRACE=0 RUST_BACKTRACE=0
  eval "launch wadm $command"
  wait_until 60 "wadm" sh -c "curl -fsS '$NATS_MONITOR_URL/subsz?subs=1&limit=10000' | grep -q 'wadm[.]api[.]'"
}

up() {
  if compgen -G "$dir/pids/*" >/dev/null; then die "$dir already has running processes: run '$0 down $dir' first"; fi
  started=$SECONDS
  local bin wadm
  bin=$("$here/build-tools.sh" | tail -1)
  wadm=$("$here/build-wadm.sh" | tail -1)
  rm -rf "$dir/etcd" "$dir/nats" "$dir/pki" "$dir/certs"
  mkdir -p "$dir"/{logs,pids,etcd,nats,certs}
  dir=$(cd "$dir" && pwd)
  make_pki
  local etcd_port etcd_peer api_port kcm_port sched_port nats_port nats_mon nats_leaf
  { read -r etcd_port; read -r etcd_peer; read -r api_port; read -r kcm_port
    read -r sched_port; read -r nats_port; read -r nats_mon; read -r nats_leaf; } < <("$here/free-port.py" 8)
  local unavailable listen=127.0.0.1 api_network_flags
  if [ "${REAL_NODE:-on}" = off ]; then unavailable="turned off (REAL_NODE=off)"; else unavailable=$(real_node_unavailable); fi
  if [ -z "$unavailable" ]; then
    COREDNS_BIN=$("$here/build-coredns.sh" | tail -1)
    WASMCLOUD_HOST_BUILD=$("$here/build-host.sh" | tail -1)
    # The tag is the contract's version (what the host-operator writes the container for) and the build.
    WASMCLOUD_HOST_IMAGE=localhost/wasmcloud-test/wasmcloud-host:1.9.2-${WASMCLOUD_HOST_BUILD##*-}
    real_node_pki
    real_node_network_up "$api_port" "$nats_port" "$nats_leaf"
    listen=0.0.0.0
    # Pods reach the API server (the kubernetes Service) and the hub on the pod network's gateway address;
    # the API server reaches the kubelet (logs, exec) as a client the kubelet trusts; nodes are restricted.
    api_network_flags=(--bind-address=0.0.0.0 --advertise-address="$REAL_NODE_GATEWAY"
      --kubelet-certificate-authority="$dir/pki/ca.crt" --kubelet-preferred-address-types=InternalIP
      --kubelet-client-certificate="$dir/pki/apiserver-kubelet-client.crt"
      --kubelet-client-key="$dir/pki/apiserver-kubelet-client.key" --enable-admission-plugins=NodeRestriction)
  else
    log "no real node: $unavailable"
    # --endpoint-reconciler-type=none: Endpoints may not hold a loopback address, which is all there is.
    api_network_flags=(--bind-address=127.0.0.1 --advertise-address=127.0.0.1 --endpoint-reconciler-type=none)
  fi
  write_nats_conf "$nats_port" "$nats_mon" "$nats_leaf" "$listen"

  launch etcd "$bin/etcd" --name=local --data-dir="$dir/etcd" \
    --listen-client-urls="http://127.0.0.1:$etcd_port" --advertise-client-urls="http://127.0.0.1:$etcd_port" \
    --listen-peer-urls="http://127.0.0.1:$etcd_peer" --initial-advertise-peer-urls="http://127.0.0.1:$etcd_peer" \
    --initial-cluster="local=http://127.0.0.1:$etcd_peer" --listen-metrics-urls="" \
    --unsafe-no-fsync=true --auto-compaction-retention=1 --quota-backend-bytes=4294967296 --log-level=warn
  wait_until 60 "etcd" curl -fsS "http://127.0.0.1:$etcd_port/health"

  # The audit log records who wrote what, when (each operator process names itself in its User-Agent):
  # the leader-election tests read it to show that two replicas never write in overlapping periods.
  # Writes only, at Metadata level, without the node agents' and leases' steady traffic.
  cat >"$dir/audit-policy.yaml" <<'POLICY'
apiVersion: audit.k8s.io/v1
kind: Policy
omitStages: [RequestReceived]
rules:
  - level: None
    resources:
      - group: coordination.k8s.io
        resources: [leases]
      - group: ""
        resources: [nodes, nodes/status, pods/status, pods/binding]
  - level: Metadata
    verbs: [create, update, patch, delete, deletecollection]
  - level: None
POLICY
  launch kube-apiserver "$bin/kube-apiserver" \
    --etcd-servers="http://127.0.0.1:$etcd_port" "${api_network_flags[@]}" --secure-port="$api_port" \
    --audit-policy-file="$dir/audit-policy.yaml" --audit-log-path="$dir/logs/audit.log" \
    --audit-log-maxsize=200 --audit-log-maxbackup=1 --audit-log-format=json \
    --cert-dir="$dir/certs/apiserver" \
    --tls-cert-file="$dir/pki/apiserver.crt" --tls-private-key-file="$dir/pki/apiserver.key" \
    --client-ca-file="$dir/pki/ca.crt" --requestheader-client-ca-file="$dir/pki/ca.crt" \
    --requestheader-allowed-names=front-proxy-client \
    --service-account-issuer=https://kubernetes.default.svc.cluster.local \
    --service-account-key-file="$dir/pki/sa.pub" --service-account-signing-key-file="$dir/pki/sa.key" \
    --service-cluster-ip-range="$SERVICE_CIDR" --authorization-mode=Node,RBAC --allow-privileged=true \
    --profiling=false --v=1
  wait_until 120 "kube-apiserver" curl -fsS --cacert "$dir/pki/ca.crt" "https://127.0.0.1:$api_port/readyz"
  write_kubeconfig "$dir/kubeconfig" "$api_port"
  export KUBECONFIG=$dir/kubeconfig
  local kubectl=$bin/kubectl

  launch kube-controller-manager "$bin/kube-controller-manager" \
    --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
    --bind-address=127.0.0.1 --secure-port="$kcm_port" --cert-dir="$dir/certs/kcm" \
    --leader-elect=false --controllers='*' --use-service-account-credentials=false \
    --service-account-private-key-file="$dir/pki/sa.key" --root-ca-file="$dir/pki/ca.crt" \
    --kube-api-qps=200 --kube-api-burst=400 --concurrent-deployment-syncs=10 --concurrent-replicaset-syncs=10 --v=1
  launch kube-scheduler "$bin/kube-scheduler" \
    --kubeconfig="$KUBECONFIG" --authentication-kubeconfig="$KUBECONFIG" --authorization-kubeconfig="$KUBECONFIG" \
    --bind-address=127.0.0.1 --secure-port="$sched_port" --leader-elect=false \
    --kube-api-qps=200 --kube-api-burst=400 --v=1
  launch kwok "$bin/kwok" --kubeconfig="$KUBECONFIG" --config="$bin/kwok-stages.yaml" \
    --manage-all-nodes=false --manage-nodes-with-annotation-selector=kwok.x-k8s.io/node=fake \
    --cidr="$POD_CIDR" --node-lease-duration-seconds=40
  wait_until 60 "kube-controller-manager" curl -fsSk "https://127.0.0.1:$kcm_port/healthz"
  wait_until 60 "kube-scheduler" curl -fsSk "https://127.0.0.1:$sched_port/healthz"
  for i in $(seq 0 $((KWOK_NODES - 1))); do fake_node "$i" | "$kubectl" apply -f - >/dev/null; done
  "$kubectl" wait --for=condition=Ready node -l type=kwok --timeout=60s >/dev/null
  log "$KWOK_NODES kwok nodes: ready after $((SECONDS - started))s"
  wait_until 60 "default ServiceAccount" "$kubectl" -n default get serviceaccount default

  start_nats "$bin"
  RUST_LIB_BACKTRACE=0 RUST_BACKTRACE=0 launch wadm "$wadm" -s "127.0.0.1:$nats_port" --cleanup-interval 20
  # wadm is up once its API subscription (wadm.api.>) is visible to the server.
  wait_until 60 "wadm" sh -c "curl -fsS 'http://127.0.0.1:$nats_mon/subsz?subs=1&limit=10000' | grep -q 'wadm[.]api[.]'"

  if [ -z "$unavailable" ]; then
    real_node_up "$api_port"
    cluster_services "$nats_port" "$nats_leaf"
  fi

  cat >"$dir/env" <<ENV
export REAL_NODE_UNAVAILABLE=$(printf '%q' "$unavailable")
export REAL_NODE_NAME=$REAL_NODE_NAME
export REAL_NODE_GATEWAY=$REAL_NODE_GATEWAY
export REAL_NODE_CONTAINERD=$dir/node/containerd.sock
export REAL_NODE_NATS_IMAGE=$NATS_IMAGE
export REAL_NODE_HOST_IMAGE=${WASMCLOUD_HOST_IMAGE:-}
export REAL_NODE_HTTP_COMPONENT=$HTTP_HELLO_COMPONENT
export WASMCLOUD_HOST_BIN=${WASMCLOUD_HOST_BUILD:+$WASMCLOUD_HOST_BUILD/wasmcloud}
export NATS_LEAFNODE_PORT=$nats_leaf
export KUBECONFIG=$dir/kubeconfig
export NATS_URL=nats://127.0.0.1:$nats_port
export NATS_MONITOR_URL=http://127.0.0.1:$nats_mon
export TOOLS_BIN=$bin
export WADM_BIN=$wadm
export WASMCLOUD_TEST_ENV=$dir
ENV
  log "up in $((SECONDS - started))s"
  cat >&2 <<USAGE

The local environment is running (logs in $dir/logs).
  source $dir/env           # KUBECONFIG, NATS_URL, NATS_MONITOR_URL, TOOLS_BIN
  \$TOOLS_BIN/kubectl get nodes
  \$TOOLS_BIN/helm list -A
NATS (JetStream) at nats://127.0.0.1:$nats_port, wadm on top of it, kube-apiserver at https://127.0.0.1:$api_port.
$(if [ -z "$unavailable" ]; then echo "Pods that tolerate $REAL_NODE_TAINT run on $REAL_NODE_NAME (pod IPs and ClusterIPs answer here;
inside pods nats.default.svc.cluster.local is the hub). kwok's nodes run nothing: their pods are API data only."
else echo "No real node ($unavailable): pods run nowhere, their IPs are API data only."; fi)
Stop it with: make dev-down   (or $0 down $dir)
USAGE
}

stop() { # stop NAME: SIGTERM, up to 10 s to exit, then SIGKILL
  local pid
  [ -f "$dir/pids/$1" ] || return 0
  pid=$(cat "$dir/pids/$1")
  if kill "$pid" 2>/dev/null; then
    for _ in $(seq 1 50); do kill -0 "$pid" 2>/dev/null || break; sleep 0.2; done
    kill -9 "$pid" 2>/dev/null || true
  fi
  rm -f "$dir/pids/$1"
}

down() {
  [ -d "$dir/pids" ] || return 0
  # Absolute: the real node's mounts are found by their absolute paths in /proc/self/mounts.
  dir=$(cd "$dir" && pwd)
  local base="wadm nats-server kwok kube-scheduler kube-controller-manager kube-apiserver etcd"
  local node="coredns kube-proxy kubelet containerd" f name
  # Whatever runs on top of the environment (operators, simulated hosts) goes first, then the real node.
  for f in "$dir"/pids/*; do
    [ -f "$f" ] || continue
    name=$(basename "$f")
    case " $base $node " in *" $name "*) ;; *) stop "$name" ;; esac
  done
  stop coredns
  real_node_down
  for name in $base; do stop "$name"; done
  log "stopped (logs kept in $dir/logs)"
}

status() {
  local f
  for f in "$dir"/pids/*; do
    [ -f "$f" ] || continue
    if kill -0 "$(cat "$f")" 2>/dev/null; then echo "$(basename "$f"): running"; else echo "$(basename "$f"): exited"; fi
  done
}

[ $# -eq 2 ] || { echo "usage: $0 up|down|status DIR" >&2; exit 2; }
dir=$2
case $1 in
  up) up ;;
  down) down ;;
  status) status ;;
  nats-stop) stop nats-server ;;
  nats-start) nats_start ;;
  apiserver-stop) stop kube-apiserver ;;
  apiserver-start) apiserver_start ;;
  wadm-stop) stop wadm ;;
  wadm-start) wadm_start ;;
  leftovers) real_node_leftovers "${IP_FORWARD_BEFORE:-0}" ;;
  simulated-host-image) load_simulated_host_image "${OPERATOR_BIN_DIR:?set OPERATOR_BIN_DIR}" "${OPERATOR_IMAGE_TAG:?set OPERATOR_IMAGE_TAG}" ;;
  operator-images) load_operator_images "${OPERATOR_BIN_DIR:?set OPERATOR_BIN_DIR}" "${OPERATOR_IMAGE_TAG:?set OPERATOR_IMAGE_TAG}" ;;
  *) echo "usage: $0 up|down|status|nats-stop|nats-start|apiserver-stop|apiserver-start|wadm-stop|wadm-start DIR" >&2; exit 2 ;;
esac
