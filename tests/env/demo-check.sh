#!/usr/bin/env bash
# `make demo-check`: runs `make demo` end to end, non-interactively, in a temporary directory with free ports
# (so it never meets a developer's .dev/ demo on 18080-18085, nor the tests' environments), checks that what it
# printed shows Ready hosts, a Deployed application and its Service with endpoints, and that no operator (each
# running as its chart's ServiceAccount) was refused a request, then runs `make demo-down`.
# Always against the local environment: KUBECONFIG and NATS_URL are cleared.
# Ends with a cargo-style `test result:` line, so count-tests.sh adds it up with the Rust tests.
#
#   demo-check.sh MAKE [MAKEFLAGS...]
set -uo pipefail
[ $# -ge 1 ] || { echo "usage: $0 MAKE [ARGS...]" >&2; exit 2; }
dir=$(mktemp -d --suffix=.wasmcloud-demo)
out=$dir/demo-output.txt
started=$SECONDS
failures=()
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)

run_make() { # run_make TARGET: make TARGET against the temporary directory, as a fresh shell would
  env -u KUBECONFIG -u NATS_URL -u NATS_MONITOR_URL -u TOOLS_BIN -u WASMCLOUD_TEST_ENV -u DEMO_NAMESPACE \
    DEMO_PORT_BASE=auto "$@" DEV_DIR="$dir"
}

# expect DESCRIPTION REGEX: what a user should see in make demo's output.
expect() {
  grep -Eq -- "$2" "$out" || failures+=("$1 (no line matching /$2/)")
}

run_make "$@" demo 2>&1 | tee "$out"
status=${PIPESTATUS[0]}
[ "$status" -eq 0 ] || failures+=("make demo exited with $status")

expect "the operators run as pods on the real node" '^wasmcloud-host-operator-[a-z0-9-]+ +1/1 +Running .* wasmcloud-real-node '
expect "the hosts are Ready" '^ *WasmCloudHostConfig/demo-hosts:.* Ready=True\('
expect "the host config's table row" '^wasmcloudhostconfig[^ ]*/demo-hosts +default +'
expect "the application is Deployed" '^application[^ ]*/hello-world +Deployed '
expect "the application is Ready" '^ *Application/hello-world:.* Ready=True\('
expect "the application's Service" '^service/hello-world +ClusterIP +10\.'
expect "the Service's EndpointSlice with endpoints" '^endpointslice[^ ]*/hello-world-[a-z0-9]+ +IPv4 +[0-9]+ +10\.'
expect "real hosts Ready on the real node" '^ *WasmCloudHostConfig/real-hosts:.* Ready=True\('
expect "a real host pod running on the real node (host, leaf, leaf-link)" '^real-hosts-[a-z0-9-]+ +3/3 +Running .* wasmcloud-real-node '
expect "the real hosts' application is Deployed" '^application[^ ]*/hello-real +Deployed '
expect "an HTTP answer from the component through the Service" '^hello from wasmCloud: /$'

# The operators ran as their charts' ServiceAccounts: nothing they needed may have been refused.
for log in "$dir"/logs/wasmcloud-*.log; do
  [ -f "$log" ] || { failures+=("no operator logs in $dir/logs"); break; }
  if grep -qi forbidden "$log"; then failures+=("$(basename "$log") shows a forbidden request: $(grep -i -m1 forbidden "$log")"); fi
done

run_make "$@" demo-down >"$dir/demo-down.txt" 2>&1 || failures+=("make demo-down failed: $(tail -n 5 "$dir/demo-down.txt")")
# Nothing the demo started may outlive demo-down, on the machine either.
for pid_file in "$dir"/pids/*; do
  [ -f "$pid_file" ] && failures+=("$(basename "$pid_file") still has a pid file after make demo-down")
done
leftovers=$(IP_FORWARD_BEFORE=$ip_forward_before "$(dirname "$0")/env.sh" leftovers "$dir")
[ -z "$leftovers" ] || failures+=("make demo-down left this behind: $(echo "$leftovers" | paste -sd ';')")

elapsed=$((SECONDS - started))
if [ "${#failures[@]}" -eq 0 ]; then
  rm -rf "$dir"
  echo "demo-check: make demo showed Ready hosts, Deployed applications, their Services and an HTTP answer from real hosts; make demo-down stopped everything"
  echo "test result: ok. 1 passed; 0 failed; 0 ignored; 0 measured; 0 filtered out; finished in ${elapsed}s"
  exit 0
fi
for failure in "${failures[@]}"; do echo "demo-check: FAILED: $failure" >&2; done
echo "demo-check: output and logs kept in $dir" >&2
echo "test result: FAILED. 0 passed; 1 failed; 0 ignored; 0 measured; 0 filtered out; finished in ${elapsed}s"
exit 1
