#!/usr/bin/env bash
# Runs a command inside a fresh local environment and always stops the environment afterwards.
# On success the environment's directory is removed; on failure its logs stay and their path is printed.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
dir=$(mktemp -d --suffix=.wasmcloud-operator-env)
status=0
finish() {
  "$here/env.sh" down "$dir" || true
  if [ "$status" -eq 0 ]; then rm -rf "$dir"; else echo "[with-env] failed; logs kept in $dir/logs" >&2; fi
}
trap finish EXIT
"$here/env.sh" up "$dir" || { status=$?; exit "$status"; }
# shellcheck disable=SC1091
. "$dir/env"
"$@" || status=$?
exit "$status"
