#!/usr/bin/env bash
# Runs a command inside a fresh local environment and always stops the environment afterwards.
# On success the environment's directory is removed; on failure its logs stay and their path is printed.
# After `down` it checks that the real node left nothing on the machine (devices, nft tables, iptables chains,
# routes, mounts, network namespaces, cgroups, processes, ip_forward) and reports that as one more test.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d --suffix=.wasmcloud-operator-env)
status=0
ip_forward_before=$(cat /proc/sys/net/ipv4/ip_forward)
finish() {
  "$here/env.sh" down "$dir" || true
  local leftovers
  leftovers=$(IP_FORWARD_BEFORE=$ip_forward_before "$here/env.sh" leftovers "$dir")
  if [ -n "$leftovers" ]; then
    echo "[with-env] the environment left this behind after down:" >&2
    echo "$leftovers" | sed 's/^/  /' >&2
    echo "test result: FAILED. 0 passed; 1 failed; 0 ignored (env.sh down leaves nothing behind)"
    [ "$status" -ne 0 ] || status=1
  else
    echo "test result: ok. 1 passed; 0 failed; 0 ignored (env.sh down leaves nothing behind)"
  fi
  if [ "$status" -eq 0 ]; then rm -rf "$dir"; else echo "[with-env] failed; logs kept in $dir/logs" >&2; fi
  exit "$status"
}
trap finish EXIT
"$here/env.sh" up "$dir" || { status=$?; exit "$status"; }
# shellcheck disable=SC1091
. "$dir/env"
"$@" || status=$?
exit "$status"
