# The local environment's real node, sourced by env.sh: containerd + runc, CNI bridge networking, a kubelet
# registered as `wasmcloud-real-node` with node credentials of its own, and kube-proxy (nftables mode), so pods
# that ask for it run for real beside kwok's fake nodes. Needs root (network devices, mounts, cgroups).
#
# It may touch: its own directory ($dir/node), the bridge $REAL_NODE_BRIDGE and the veths CNI hangs on it, the
# routes below, the nft tables `inet wasmcloud_test_env` (ours) and `ip|ip6 kube-proxy` (kube-proxy's),
# net.ipv4.ip_forward (restored at down), the kubepods cgroups and the lock file $REAL_NODE_LOCK.
# Nothing leaves the machine: no masquerade, forwarding only between pods on the bridge, routes for the Service
# and kwok CIDRs that keep their packets here, and every registry host sent to a closed port on 127.0.0.1
# (images are imported, never pulled).

REAL_NODE_NAME=wasmcloud-real-node
REAL_NODE_BRIDGE=wcotest0
REAL_NODE_POD_CIDR=10.245.0.0/24
REAL_NODE_GATEWAY=10.245.0.1          # the machine on the pod network: hub NATS, API server, cluster DNS
REAL_NODE_TAINT=wasmcloud.dev/real-node
REAL_NODE_LOCK=/run/wasmcloud-operator-test-real-node.lock
REAL_NODE_NFT_TABLE=wasmcloud_test_env
# Fixed paths containerd 1.6, the CNI library and the kubelet use whatever their configuration says (shim
# sockets, the CNI result cache, the device-plugin directory); removed at down when they were not there before.
REAL_NODE_FIXED_PATHS="/run/containerd /var/lib/cni /var/lib/kubelet"
KWOK_NODE_CIDR=10.1.0.0/24            # kwok nodes' InternalIPs: API data, kept off the wire
# shellcheck disable=SC1091
. "$here/versions.env"
root=$(cd "$here/../.." && pwd)
PAUSE_IMAGE=localhost/wasmcloud-test/pause:1
NATS_IMAGE=localhost/wasmcloud-test/nats-server:$NATS_SERVER_VERSION
HTTP_HELLO_COMPONENT=file:///opt/wasmcloud/components/http_hello.wasm   # in the wasmcloud-host image
CLUSTER_DNS=${SERVICE_CIDR%.*}.10     # the kube-dns Service's ClusterIP
# Debian packages the real node runs on (installed by real_node_install when missing, as root).
REAL_NODE_PACKAGES="containerd runc containernetworking-plugins nftables conntrack iproute2 busybox-static"

# real_node_missing: prints what this machine lacks for the real node (empty when nothing).
real_node_missing() {
  [ "$(id -u)" -eq 0 ] || { echo "not root (network devices, mounts and cgroups need it)"; return; }
  local cmd
  for cmd in containerd containerd-shim-runc-v2 ctr runc nft ip conntrack busybox; do
    command -v "$cmd" >/dev/null || echo "no $cmd"
  done
  for cmd in bridge host-local loopback; do [ -x "/usr/lib/cni/$cmd" ] || echo "no CNI plugin /usr/lib/cni/$cmd"; done
  grep -qw overlay /proc/filesystems || modprobe overlay 2>/dev/null || echo "no overlay filesystem"
  [ -w /proc/sys/net/ipv4/ip_forward ] || echo "/proc/sys/net/ipv4/ip_forward is not writable"
  nft list tables >/dev/null 2>&1 || echo "nftables unusable: $(nft list tables 2>&1 | head -1)"
}

# real_node_install: installs the Debian packages the real node needs, if any is missing and apt-get exists.
real_node_install() {
  [ -z "$(real_node_missing)" ] && return 0
  [ "$(id -u)" -eq 0 ] && command -v apt-get >/dev/null || return 0
  log "installing Debian packages for the real node: $REAL_NODE_PACKAGES"
  DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends $REAL_NODE_PACKAGES >&2 \
    || { apt-get update -q >&2 && DEBIAN_FRONTEND=noninteractive apt-get install -y -q --no-install-recommends \
           $REAL_NODE_PACKAGES >&2; } || log "apt-get could not install the real node's packages"
  # Debian starts containerd as a service on install; the environment runs its own.
  if command -v systemctl >/dev/null && systemctl is-active -q containerd 2>/dev/null; then
    systemctl disable --now containerd >&2 || true
  fi
}

# real_node_unavailable: prints why the real node cannot run here (nothing when it can). Installs missing
# Debian packages first, and cleans up after an environment that died with the real node up.
real_node_unavailable() {
  real_node_install
  local missing
  missing=$(real_node_missing)
  if [ -n "$missing" ]; then
    echo "the real node cannot run on this machine: $(echo "$missing" | paste -sd ';' | sed 's/;/; /g')"
    return
  fi
  [ -e "$REAL_NODE_LOCK" ] || return 0
  local owner
  owner=$(cat "$REAL_NODE_LOCK")
  if [ -f "$owner/pids/kubelet" ] && kill -0 "$(cat "$owner/pids/kubelet")" 2>/dev/null; then
    echo "the real node is in use by the environment in $owner (one per machine; stop it with 'env.sh down $owner')"
    return
  fi
  log "the real node of $owner was not stopped; cleaning up after it"
  (dir=$owner real_node_down)
}

# real_node_network_up API_PORT NATS_PORTS...: the bridge (with the gateway address pods reach the machine
# on), routes and the nft table. Runs before the API server, which pods reach on the gateway address.
real_node_network_up() {
  echo "$dir" >"$REAL_NODE_LOCK"
  local nd=$dir/node
  mkdir -p "$nd"
  cat /proc/sys/net/ipv4/ip_forward >"$nd/ip_forward.before"
  nft list tables >"$nd/nft-tables.before"
  local path
  for path in $REAL_NODE_FIXED_PATHS; do [ -e "$path" ] && echo "$path"; done >"$nd/paths.before"
  ip link add "$REAL_NODE_BRIDGE" type bridge
  ip addr add "$REAL_NODE_GATEWAY/${REAL_NODE_POD_CIDR#*/}" dev "$REAL_NODE_BRIDGE"
  ip link set "$REAL_NODE_BRIDGE" up
  # ClusterIPs are translated by kube-proxy on output; the route keeps the rest (no endpoints) off eth0.
  ip route add "$SERVICE_CIDR" dev "$REAL_NODE_BRIDGE"
  ip route add unreachable "${POD_CIDR%.*.*/*}.0.0/${POD_CIDR#*/}"
  ip route add unreachable "$KWOK_NODE_CIDR"
  local ports
  ports=$(IFS=,; echo "$*")
  # Pods may talk to each other and to the machine's listed ports; nothing is forwarded to or from another
  # interface; the listed ports (bound on every address) answer only loopback and the pod network.
  nft -f - <<NFT
table inet $REAL_NODE_NFT_TABLE {
  chain input {
    type filter hook input priority filter - 10; policy accept;
    iifname { "lo", "$REAL_NODE_BRIDGE" } accept
    tcp dport { $ports } drop
    ip daddr $REAL_NODE_GATEWAY drop
  }
  chain forward {
    type filter hook forward priority filter - 10; policy accept;
    iifname "$REAL_NODE_BRIDGE" oifname != "$REAL_NODE_BRIDGE" drop
    oifname "$REAL_NODE_BRIDGE" iifname != "$REAL_NODE_BRIDGE" drop
  }
}
NFT
  echo 1 >/proc/sys/net/ipv4/ip_forward
}

real_node_pki() {
  (
    cd "$dir/pki"
    cat >>openssl.cnf <<CNF
[kubelet]
basicConstraints = critical,CA:FALSE
keyUsage = critical,digitalSignature,keyEncipherment
extendedKeyUsage = serverAuth
authorityKeyIdentifier = keyid
subjectAltName = DNS:$REAL_NODE_NAME,IP:$REAL_NODE_GATEWAY
CNF
    issue() { # issue NAME SUBJECT EXTENSIONS
      openssl req -newkey rsa:2048 -nodes -keyout "$1.key" -subj "$2" -config openssl.cnf -out "$1.csr" 2>/dev/null
      openssl x509 -req -in "$1.csr" -CA ca.crt -CAkey ca.key -CAcreateserial -sha256 -days 3650 \
        -extfile openssl.cnf -extensions "$3" -out "$1.crt" 2>/dev/null
    }
    issue kubelet-serving "/CN=$REAL_NODE_NAME" kubelet
    issue kubelet "/O=system:nodes/CN=system:node:$REAL_NODE_NAME" client
    issue kube-proxy "/CN=system:kube-proxy" client
    issue apiserver-kubelet-client "/O=system:masters/CN=kube-apiserver-kubelet-client" client
    issue coredns "/CN=wasmcloud-test-env:coredns" client
    chmod 600 ./*.key
  )
}

# client_kubeconfig FILE PORT USER: a kubeconfig with the client certificate pki/USER.crt.
client_kubeconfig() {
  cat >"$1" <<KC
apiVersion: v1
kind: Config
clusters:
- name: local
  cluster: {server: "https://127.0.0.1:$2", certificate-authority: "$dir/pki/ca.crt"}
users:
- name: $3
  user: {client-certificate: "$dir/pki/$3.crt", client-key: "$dir/pki/$3.key"}
contexts:
- name: local
  context: {cluster: local, user: $3}
current-context: local
KC
  chmod 600 "$1"
}

start_containerd() {
  local nd=$dir/node
  mkdir -p "$nd"/{containerd,cni/net.d,cni/ipam,certs.d/_default}
  # Every registry host goes to a closed local port: a pull of an image that was not imported fails at once.
  cat >"$nd/certs.d/_default/hosts.toml" <<'TOML'
server = "http://127.0.0.1:9"
[host."http://127.0.0.1:9"]
  capabilities = ["pull", "resolve"]
TOML
  cat >"$nd/cni/net.d/10-wasmcloud-test.conflist" <<JSON
{"cniVersion": "1.0.0", "name": "wasmcloud-test", "plugins": [
  {"type": "bridge", "bridge": "$REAL_NODE_BRIDGE", "isGateway": true, "ipMasq": false, "hairpinMode": true,
   "ipam": {"type": "host-local", "dataDir": "$nd/cni/ipam", "routes": [{"dst": "0.0.0.0/0"}],
            "ranges": [[{"subnet": "$REAL_NODE_POD_CIDR", "gateway": "$REAL_NODE_GATEWAY"}]]}}]}
JSON
  cat >"$nd/containerd.toml" <<TOML
version = 2
root = "$nd/containerd/root"
state = "$nd/containerd/state"
disabled_plugins = ["io.containerd.snapshotter.v1.devmapper", "io.containerd.snapshotter.v1.aufs",
  "io.containerd.snapshotter.v1.btrfs", "io.containerd.snapshotter.v1.zfs"]
[grpc]
  address = "$nd/containerd.sock"
[ttrpc]
  address = "$nd/containerd.sock.ttrpc"
[plugins."io.containerd.grpc.v1.cri"]
  sandbox_image = "$PAUSE_IMAGE"
  # This machine's processes lack CAP_SYS_RESOURCE: oom_score_adj may not go below the caller's.
  restrict_oom_score_adj = true
  stream_server_address = "127.0.0.1"
  [plugins."io.containerd.grpc.v1.cri".containerd]
    snapshotter = "overlayfs"
    default_runtime_name = "runc"
    [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc]
      runtime_type = "io.containerd.runc.v2"
      [plugins."io.containerd.grpc.v1.cri".containerd.runtimes.runc.options]
        SystemdCgroup = false
        Root = "$nd/runc"
  [plugins."io.containerd.grpc.v1.cri".cni]
    bin_dir = "/usr/lib/cni"
    conf_dir = "$nd/cni/net.d"
  [plugins."io.containerd.grpc.v1.cri".registry]
    config_path = "$nd/certs.d"
TOML
  launch containerd containerd --config "$nd/containerd.toml"
  wait_until 30 containerd ctr --address "$nd/containerd.sock" version
}

# import_images ARCHIVE...: loads OCI archives into the CRI's namespace (what the kubelet sees).
import_images() {
  local archive
  for archive in "$@"; do
    ctr --address "$dir/node/containerd.sock" -n k8s.io images import --no-unpack=false "$archive" >/dev/null \
      || die "could not import $archive into the real node's containerd"
  done
}

# env_images: the images the environment itself needs, built from files on this machine into $dir/images.
env_images() {
  local bin=$1 out=$dir/images
  mkdir -p "$out"
  gcc -static -Os -s -o "$out/pause" "$root/images/pause.c" || die "could not build the pause program (gcc, static libc)"
  python3 "$root/images/build.py" image --ref "$PAUSE_IMAGE" --out "$out/pause.tar" --user 65535:65535 \
    --add "$out/pause:/pause" --entrypoint /pause >/dev/null
  # The host pods' leaf: the pinned nats-server, with busybox's `sleep` for the container's preStop hook.
  python3 "$root/images/build.py" image --ref "$NATS_IMAGE" --out "$out/nats.tar" --user 65532:65532 \
    --add "$bin/nats-server:/usr/local/bin/nats-server" --add "$(command -v busybox):/bin/sleep" \
    --entrypoint /usr/local/bin/nats-server >/dev/null
  import_images "$out/pause.tar" "$out/nats.tar"
  # The real wasmCloud host (build-host.sh) as the `wasmcloud` command, with the wasi:http component its
  # pods start from a file (WASMCLOUD_ALLOW_FILE_LOAD): nothing is pulled.
  python3 "$root/images/build.py" image --ref "$WASMCLOUD_HOST_IMAGE" --out "$out/wasmcloud-host.tar" \
    --base debian-cc --user 65532:65532 --add "$WASMCLOUD_HOST_BUILD/wasmcloud:/usr/local/bin/wasmcloud" \
    --add "$WASMCLOUD_HOST_BUILD/http_hello.wasm:${HTTP_HELLO_COMPONENT#file://}:0644" \
    --entrypoint /usr/local/bin/wasmcloud \
    --label "org.opencontainers.image.description=wasmCloud host: crates.io wasmcloud-host 0.27.1 behind the 1.9.x command line (tests/host-runner)" \
    >/dev/null || die "could not build the wasmcloud-host image"
  import_images "$out/wasmcloud-host.tar"
}

# load_operator_images BIN_DIR TAG: the three operator images (images/build.py, the same recipe as
# `make images`) from the binaries in BIN_DIR, tagged $OPERATOR_IMAGE_REPOSITORY/<binary>:TAG, imported into the
# real node. Prints the three references.
OPERATOR_IMAGE_REPOSITORY=localhost/wasmcloud-test
load_operator_images() {
  local out=$dir/images/operators-$2 refs
  [ -S "$dir/node/containerd.sock" ] || die "no real node in $dir: ${REAL_NODE_UNAVAILABLE:-it is not running}"
  refs=$(python3 "$root/images/build.py" operators --bin-dir "$1" --repository "$OPERATOR_IMAGE_REPOSITORY" \
    --tag "$2" --out "$out") || die "could not build the operator images from $1"
  import_images "$out"/*.tar
  echo "$refs" | cut -d' ' -f1
}

# load_simulated_host_image BIN_DIR TAG: the lattice-host simulator (a TEST DOUBLE for the wasmCloud host) as
# the `wasmcloud` command of an image, $OPERATOR_IMAGE_REPOSITORY/simulated-wasmcloud-host:TAG, imported into the
# real node; prints the reference.
load_simulated_host_image() {
  local ref=$OPERATOR_IMAGE_REPOSITORY/simulated-wasmcloud-host:$2 out=$dir/images/simulated-host-$2.tar
  [ -S "$dir/node/containerd.sock" ] || die "no real node in $dir: ${REAL_NODE_UNAVAILABLE:-it is not running}"
  [ -x "$1/lattice-host-simulator" ] || die "no $1/lattice-host-simulator (cargo build --workspace --bins)"
  python3 "$root/images/build.py" image --ref "$ref" --out "$out" --base debian-cc --user 65532:65532 \
    --add "$1/lattice-host-simulator:/usr/local/bin/wasmcloud" --entrypoint /usr/local/bin/wasmcloud \
    --label "org.opencontainers.image.description=TEST DOUBLE: simulated wasmCloud host" >/dev/null \
    || die "could not build the simulated host image"
  import_images "$out"
  echo "$ref"
}

# start_kubelet API_PORT: the kubelet, registered as $REAL_NODE_NAME, tainted so only pods that ask land here.
# Its address is the gateway (a node IP may not be loopback); the API server dials it there for logs and exec.
start_kubelet() {
  local api_port=$1 nd=$dir/node port healthz
  { read -r port; read -r healthz; } < <("$here/free-port.py" 2)
  mkdir -p "$nd/kubelet" "$nd/pod-logs"
  client_kubeconfig "$nd/kubelet.kubeconfig" "$api_port" kubelet
  # Pods resolve through cluster DNS only: no search domains or servers of this machine leak in.
  echo "nameserver $CLUSTER_DNS" >"$nd/resolv.conf"
  cat >"$nd/kubelet.yaml" <<YAML
apiVersion: kubelet.config.k8s.io/v1beta1
kind: KubeletConfiguration
address: $REAL_NODE_GATEWAY
port: $port
readOnlyPort: 0
healthzBindAddress: 127.0.0.1
healthzPort: $healthz
tlsCertFile: $dir/pki/kubelet-serving.crt
tlsPrivateKeyFile: $dir/pki/kubelet-serving.key
authentication:
  anonymous: {enabled: false}
  webhook: {enabled: true}
  x509: {clientCAFile: $dir/pki/ca.crt}
authorization: {mode: Webhook}
# This machine mounts cgroup v1 controllers (hybrid): cgroupfs driver, and v1 allowed.
cgroupDriver: cgroupfs
failCgroupV1: false
failSwapOn: false
containerRuntimeEndpoint: unix://$nd/containerd.sock
clusterDNS: [$CLUSTER_DNS]
clusterDomain: cluster.local
resolvConf: $nd/resolv.conf
podLogsDir: $nd/pod-logs
registerWithTaints: [{key: $REAL_NODE_TAINT, value: "true", effect: NoSchedule}]
maxPods: 60
serializeImagePulls: false
# The images are imported, never pulled: nothing may garbage-collect them.
imageGCHighThresholdPercent: 100
imageGCLowThresholdPercent: 99
evictionHard: {memory.available: 100Mi, nodefs.available: 1%, imagefs.available: 1%, nodefs.inodesFree: 1%}
evictionPressureTransitionPeriod: 10s
nodeStatusReportFrequency: 1m
# Pods are synced (and projected volumes refreshed, e.g. a rotated Secret) every 5 s.
syncFrequency: 5s
fileCheckFrequency: 0s
staticPodPath: ""
YAML
  launch kubelet "$bin/kubelet" --config="$nd/kubelet.yaml" --kubeconfig="$nd/kubelet.kubeconfig" \
    --root-dir="$nd/kubelet" --hostname-override="$REAL_NODE_NAME" --node-ip="$REAL_NODE_GATEWAY" \
    --node-labels="type=real,wasmcloud.dev/real-node=true" --oom-score-adj=0 --v=1
  wait_until 90 kubelet kubectl_ready_node "$REAL_NODE_NAME"
}

kubectl_ready_node() {
  [ "$("$bin/kubectl" get node "$1" -o jsonpath='{.status.conditions[?(@.type=="Ready")].status}')" = True ]
}

start_kube_proxy() {
  local api_port=$1 nd=$dir/node metrics healthz
  { read -r metrics; read -r healthz; } < <("$here/free-port.py" 2)
  client_kubeconfig "$nd/kube-proxy.kubeconfig" "$api_port" kube-proxy
  cat >"$nd/kube-proxy.yaml" <<YAML
apiVersion: kubeproxy.config.k8s.io/v1alpha1
kind: KubeProxyConfiguration
mode: nftables
clientConnection: {kubeconfig: $nd/kube-proxy.kubeconfig, qps: 50, burst: 100}
hostnameOverride: $REAL_NODE_NAME
clusterCIDR: $REAL_NODE_POD_CIDR
bindAddress: 127.0.0.1
metricsBindAddress: 127.0.0.1:$metrics
healthzBindAddress: 127.0.0.1:$healthz
nodePortAddresses: [127.0.0.1/32]
conntrack: {maxPerCore: 0}
YAML
  launch kube-proxy "$bin/kube-proxy" --config="$nd/kube-proxy.yaml" --v=1
  wait_until 60 kube-proxy curl -fsS "http://127.0.0.1:$healthz/healthz"
}

# real_node_up API_PORT: everything after the network (which real_node_network_up set up before the API server).
real_node_up() {
  local api_port=$1
  start_containerd
  env_images "$bin"
  start_kubelet "$api_port"
  start_kube_proxy "$api_port"
  log "real node $REAL_NODE_NAME: ready after $((SECONDS - started))s"
}

# cluster_services NATS_PORT LEAF_PORT: what pods find through cluster DNS: the hub as `nats` in default
# (4222 clients, 7422 leaf nodes; the old operator's natsAddress default) and CoreDNS behind kube-dns, both
# processes on the gateway address, published with EndpointSlices of our own.
cluster_services() {
  local nd=$dir/node
  "$bin/kubectl" apply -f - >/dev/null <<YAML
apiVersion: v1
kind: Service
metadata: {name: nats, namespace: default, labels: {app.kubernetes.io/part-of: wasmcloud-test-env}}
spec:
  ports: [{name: client, port: 4222, targetPort: $1}, {name: leafnodes, port: 7422, targetPort: $2}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: nats-hub
  namespace: default
  labels: {kubernetes.io/service-name: nats, endpointslice.kubernetes.io/managed-by: wasmcloud-test-env}
addressType: IPv4
endpoints: [{addresses: ["$REAL_NODE_GATEWAY"], conditions: {ready: true}}]
ports: [{name: client, port: $1, protocol: TCP}, {name: leafnodes, port: $2, protocol: TCP}]
---
apiVersion: v1
kind: Service
metadata: {name: kube-dns, namespace: kube-system, labels: {app.kubernetes.io/part-of: wasmcloud-test-env}}
spec:
  clusterIP: $CLUSTER_DNS
  ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: discovery.k8s.io/v1
kind: EndpointSlice
metadata:
  name: coredns
  namespace: kube-system
  labels: {kubernetes.io/service-name: kube-dns, endpointslice.kubernetes.io/managed-by: wasmcloud-test-env}
addressType: IPv4
endpoints: [{addresses: ["$REAL_NODE_GATEWAY"], conditions: {ready: true}}]
ports: [{name: dns, port: 53, protocol: UDP}, {name: dns-tcp, port: 53, protocol: TCP}]
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRole
metadata: {name: wasmcloud-test-env:coredns}
rules:
- {apiGroups: [""], resources: [services, pods, namespaces], verbs: [list, watch]}
- {apiGroups: [discovery.k8s.io], resources: [endpointslices], verbs: [list, watch]}
---
apiVersion: rbac.authorization.k8s.io/v1
kind: ClusterRoleBinding
metadata: {name: wasmcloud-test-env:coredns}
roleRef: {apiGroup: rbac.authorization.k8s.io, kind: ClusterRole, name: wasmcloud-test-env:coredns}
subjects: [{apiGroup: rbac.authorization.k8s.io, kind: User, name: "wasmcloud-test-env:coredns"}]
YAML
  local api_port health
  api_port=$(sed -n 's#^ *server: https://127.0.0.1:\([0-9]*\)$#\1#p' "$dir/kubeconfig")
  health=$("$here/free-port.py" 1)
  client_kubeconfig "$nd/coredns.kubeconfig" "$api_port" coredns
  # Cluster names only: anything else is refused at once (nothing is forwarded off the machine).
  cat >"$nd/Corefile" <<COREFILE
cluster.local:53 in-addr.arpa:53 {
  bind $REAL_NODE_GATEWAY
  errors
  health 127.0.0.1:$health
  kubernetes cluster.local in-addr.arpa {
    kubeconfig $nd/coredns.kubeconfig local
    pods insecure
  }
  cache 5
}
COREFILE
  launch coredns "$COREDNS_BIN" -conf "$nd/Corefile"
  wait_until 60 coredns curl -fsS "http://127.0.0.1:$health/health"
  # Through the kube-dns ClusterIP, so kube-proxy's rules are part of the check.
  wait_until 60 "cluster DNS" "$here/dns-query.py" "$CLUSTER_DNS" nats.default.svc.cluster.local
}

# real_node_down: stops the node and removes every device, table, route, mount, namespace and cgroup it made.
real_node_down() {
  local nd=$dir/node sock=$dir/node/containerd.sock
  [ -d "$nd" ] || { rm -f "$REAL_NODE_LOCK"; return 0; }
  stop kube-proxy
  stop kubelet
  local netns=()
  if [ -S "$sock" ] && ctr --address "$sock" version >/dev/null 2>&1; then
    local task
    # Sandboxes' network namespaces, to remove after their tasks are gone.
    mapfile -t netns < <(ctr --address "$sock" -n k8s.io containers ls -q 2>/dev/null \
      | xargs -r -n1 ctr --address "$sock" -n k8s.io containers info 2>/dev/null \
      | sed -n 's#.*"path": "\(/var/run/netns/[^"]*\|/run/netns/[^"]*\)".*#\1#p' | sort -u)
    for task in $(ctr --address "$sock" -n k8s.io tasks ls -q 2>/dev/null); do
      ctr --address "$sock" -n k8s.io tasks kill -s SIGKILL "$task" >/dev/null 2>&1 || true
    done
  fi
  stop containerd
  # Shims outlive containerd; they belong to this node when their command line names its socket.
  pkill -9 -f "containerd-shim-runc-v2 .*-address $sock" 2>/dev/null || true
  local mount
  for mount in $(awk -v nd="$nd" '$2 ~ "^"nd {print $2}' /proc/self/mounts | sort -r); do
    umount -l "$mount" 2>/dev/null || true
  done
  local ns
  for ns in "${netns[@]}"; do
    umount "$ns" 2>/dev/null || true
    rm -f "$ns"
  done
  local veth
  for veth in $(ip -o link show master "$REAL_NODE_BRIDGE" 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1); do
    ip link del "$veth" 2>/dev/null || true
  done
  ip link del "$REAL_NODE_BRIDGE" 2>/dev/null || true
  ip route del "$SERVICE_CIDR" dev "$REAL_NODE_BRIDGE" 2>/dev/null || true
  ip route del unreachable "${POD_CIDR%.*.*/*}.0.0/${POD_CIDR#*/}" 2>/dev/null || true
  ip route del unreachable "$KWOK_NODE_CIDR" 2>/dev/null || true
  remove_kube_iptables_chains
  nft delete table inet "$REAL_NODE_NFT_TABLE" 2>/dev/null || true
  nft delete table ip kube-proxy 2>/dev/null || true
  nft delete table ip6 kube-proxy 2>/dev/null || true
  [ -f "$nd/ip_forward.before" ] && cat "$nd/ip_forward.before" >/proc/sys/net/ipv4/ip_forward
  local cgroup
  for cgroup in $(find /sys/fs/cgroup/*/kubepods /sys/fs/cgroup/kubepods -depth -type d 2>/dev/null); do
    rmdir "$cgroup" 2>/dev/null || true
  done
  local path
  for path in $(new_fixed_paths); do rm -rf "$path"; done
  rm -f "$REAL_NODE_LOCK"
  # Images and containers' layers go with the directory; the logs stay.
  rm -rf "$nd/containerd" "$nd/kubelet" "$nd/cni/ipam" "$nd/runc"
}

# remove_kube_iptables_chains: the kubelet's iptables chains (KUBE-FIREWALL, canaries, hints) and the jumps to
# them; a table that only they made goes too. Other chains and rules are not touched.
remove_kube_iptables_chains() {
  local cmd table rule chain
  for cmd in iptables ip6tables; do
    command -v "$cmd" >/dev/null || continue
    for table in filter nat mangle; do
      "$cmd" -t "$table" -S >/dev/null 2>&1 || continue
      "$cmd" -t "$table" -S | grep -E '^-A [^ ]+ .*-j KUBE-' | grep -vE '^-A KUBE-' | while read -r rule; do
        eval "$cmd -t $table -D ${rule#-A }" 2>/dev/null || true
      done || true
      for chain in $("$cmd" -t "$table" -S | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -t "$table" -F "$chain" 2>/dev/null || true
      done
      for chain in $("$cmd" -t "$table" -S | awk '$1 == "-N" && $2 ~ /^KUBE-/ {print $2}'); do
        "$cmd" -t "$table" -X "$chain" 2>/dev/null || true
      done
      local family=ip; [ "$cmd" = ip6tables ] && family=ip6
      # Only default policies left, in a table that was not there before up: the kubelet made it.
      if ! grep -qx "table $family $table" "$dir/node/nft-tables.before" 2>/dev/null \
        && [ -z "$("$cmd" -t "$table" -S | grep -vE '^-P ')" ]; then
        nft delete table "$family" "$table" 2>/dev/null || true
      fi
    done
  done
}

# new_fixed_paths: the fixed paths that exist now and did not before up (nothing when that is not known).
new_fixed_paths() {
  [ -f "$dir/node/paths.before" ] || return 0
  local path
  for path in $REAL_NODE_FIXED_PATHS; do
    [ -e "$path" ] && ! grep -qx "$path" "$dir/node/paths.before" && echo "$path"
  done
  return 0
}

# real_node_leftovers IP_FORWARD_BEFORE: prints whatever the real node of $dir left on the machine (nothing
# when clean).
real_node_leftovers() {
  local sock=$dir/node/containerd.sock
  {
    ip link show "$REAL_NODE_BRIDGE" >/dev/null 2>&1 && echo "bridge $REAL_NODE_BRIDGE"
    ip -o link show type veth 2>/dev/null | awk -F': ' '{print $2}' | cut -d@ -f1 | grep -E '^veth[0-9a-f]{8}$' \
      | sed 's/^/veth /'
    nft list tables 2>/dev/null | grep -E "$REAL_NODE_NFT_TABLE|kube-proxy" | sed 's/^/nft /'
    local cmd
    for cmd in iptables ip6tables; do
      "$cmd" -S 2>/dev/null | grep -E 'KUBE-' | sed "s/^/$cmd /"
      "$cmd" -t nat -S 2>/dev/null | grep -E 'KUBE-' | sed "s/^/$cmd nat /"
      "$cmd" -t mangle -S 2>/dev/null | grep -E 'KUBE-' | sed "s/^/$cmd mangle /"
    done
    ip route show table all 2>/dev/null \
      | grep -E "$REAL_NODE_BRIDGE|^unreachable (${POD_CIDR%.*.*/*}\.0\.0|${KWOK_NODE_CIDR%/*})" | sed 's/^/route /'
    awk -v d="$dir/" 'index($2, d) == 1 || $2 ~ /^\/run\/netns\/cni-/ {print "mount " $2}' /proc/self/mounts
    find /run/netns -maxdepth 1 -name 'cni-*' 2>/dev/null | sed 's/^/netns /'
    find /sys/fs/cgroup -maxdepth 2 -name kubepods 2>/dev/null | sed 's/^/cgroup /'
    pgrep -a -f "$sock" | sed 's/^/process /'
    [ -e "$REAL_NODE_LOCK" ] && echo "lock $REAL_NODE_LOCK"
    new_fixed_paths | sed 's/^/path /'
    [ "$(cat /proc/sys/net/ipv4/ip_forward)" = "$1" ] \
      || echo "net.ipv4.ip_forward is $(cat /proc/sys/net/ipv4/ip_forward), was $1"
  } || true
}
