#!/usr/bin/env bash
# Builds the environment's real wasmCloud host into the tool cache outside the clone: the host runner
# (tests/host-runner: the crates.io host runtime behind the 1.9.x host command line, its own lockfile) and the
# wasi:http component its hosts serve (tests/http-hello, built for wasm32-wasip2).
# Prints the cache entry's directory (holding `wasmcloud` and `http_hello.wasm`) as the last line of stdout;
# a complete entry is reused at once.
set -euo pipefail
here=$(cd "$(dirname "$0")" && pwd)
runner="$here/../host-runner"
component="$here/../http-hello"
CACHE=${WASMCLOUD_TOOLS_CACHE:-${XDG_CACHE_HOME:-$HOME/.cache}/wasmcloud-operator-tools}
log() { echo "[build-host] $*" >&2; }

key=$(cat "$runner/Cargo.toml" "$runner/Cargo.lock" "$runner"/src/*.rs \
          "$component/Cargo.toml" "$component/Cargo.lock" "$component"/src/*.rs "$0" <(rustc --version) \
      | sha256sum | cut -c1-12)
out="$CACHE/wasmcloud-host-$key"
if [ -x "$out/wasmcloud" ] && [ -f "$out/http_hello.wasm" ]; then log "cache hit: $out"; echo "$out"; exit 0; fi
mkdir -p "$CACHE"
exec 9>"$CACHE/.host.lock"
flock 9
if [ -x "$out/wasmcloud" ] && [ -f "$out/http_hello.wasm" ]; then echo "$out"; exit 0; fi

started=$(date +%s)
if ! rustc --print target-libdir --target wasm32-wasip2 >/dev/null 2>&1 \
   || [ ! -d "$(rustc --print target-libdir --target wasm32-wasip2)" ]; then
  log "installing the wasm32-wasip2 target"
  (cd "$component" && rustup target add wasm32-wasip2) >&2
fi
log "building the wasi:http component"
(cd "$component" && CARGO_TARGET_DIR="$CACHE/http-hello-target" \
  cargo build --release --locked --target wasm32-wasip2) >&2
# wasmcloud-host 0.27.1 does not compile with rustc 1.94 or later as published: its control interface's async
# code is deeper than the default query depth ("queries overflow the depth limit"; rustc's help: add
# `#![recursion_limit = "256"]`). The runner builds it from the registry's own .crate with that one attribute
# added, through a [patch] given on the command line; the runner's Cargo.lock is written with that patch.
crate_sha256=6edaf1f51d0b9ec8b799a6d64fce474eb6cf299be3e1ca2e296dfc3c385b8a36   # the registry's checksum
patched=$CACHE/host-runner-patched
rm -rf "$patched"; mkdir -p "$patched"
crate=$(ls "${CARGO_HOME:-$HOME/.cargo}"/registry/cache/*/wasmcloud-host-0.27.1.crate 2>/dev/null | head -1 || true)
if [ -z "$crate" ]; then
  crate=$patched/wasmcloud-host-0.27.1.crate
  curl -fsSL --retry 3 -o "$crate" https://static.crates.io/crates/wasmcloud-host/wasmcloud-host-0.27.1.crate
fi
echo "$crate_sha256  $crate" | sha256sum -c --quiet - >&2 || { log "$crate is not the registry's wasmcloud-host 0.27.1"; exit 1; }
tar -xzf "$crate" -C "$patched"
lib=$patched/wasmcloud-host-0.27.1/src/lib.rs
{ echo '#![recursion_limit = "256"]'; cat "$lib"; } >"$lib.new" && mv "$lib.new" "$lib"
log "building the host runner (cold: about 20 minutes on 2 cores; wasmtime is most of it)"
CARGO_TARGET_DIR="$CACHE/host-runner-target" cargo build --release --locked --manifest-path "$runner/Cargo.toml" \
  --config "patch.crates-io.wasmcloud-host.path=\"$patched/wasmcloud-host-0.27.1\"" >&2
rm -rf "$out.partial"; mkdir -p "$out.partial"
cp "$CACHE/host-runner-target/release/wasmcloud-host-runner" "$out.partial/wasmcloud"
cp "$CACHE/http-hello-target/wasm32-wasip2/release/http_hello.wasm" "$out.partial/"
rm -rf "$out"; mv "$out.partial" "$out"
log "built in $(( $(date +%s) - started ))s"
echo "$out"
