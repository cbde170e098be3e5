#!/usr/bin/env bash
# Builds the wadm runner (tests/wadm-runner, its own lockfile) into the tool cache outside the clone.
# Prints the binary's path as the last line of stdout; a complete cache entry is reused at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runner="$here/../wadm-runner"
CACHE=${WASMCLOUD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-operator-tools}
log() { echo "[build-wadm] $*" >&2; }

key=$(cat "$runner/Cargo.toml" "$runner/Cargo.lock" "$runner/src/main.rs" "$0" <(rustc --version) | sha256sum | cut -c1-12)
bin="$CACHE/wadm-runner-$key/wadm-runner"
if [ -x "$bin" ]; then log "cache hit: $bin"; echo "$bin"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.wadm.lock"
flock 9
if [ -x "$bin" ]; then echo "$bin"; exit 0; fi

started=$(date +%s)
log "building wadm runner (cold: about 10 minutes on 2 cores)"
CARGO_TARGET_DIR="$CACHE/wadm-target" cargo build --release --locked --manifest-path "$runner/Cargo.toml" >&2
mkdir -p "$(dirname "$bin").partial"
cp "$CACHE/wadm-target/release/wadm-runner" "$(dirname "$bin").partial/"
rm -rf "$(dirname "$bin")"; mv "$(dirname "$bin").partial" "$(dirname "$bin")"
log "built in $(( $(date +%s) - started ))s"
echo "$bin"
