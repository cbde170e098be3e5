# syntax=docker/dockerfile:1
# One file, three images: `docker build --target host-operator|service-syncer|app-status-bridge .`
# (`make images` builds all three). The images can't be built on the development machines (no container
# runtime there); CI or a workstation with Docker/Podman builds them.
#
# Bases are pinned: the builder by its Rust release (matching rust-toolchain.toml), the runtime by digest
# (gcr.io/distroless/cc-debian12:nonroot: glibc and libgcc only, no shell, user 65532). Refresh the digest
# with `crane digest gcr.io/distroless/cc-debian12:nonroot` when updating.

FROM docker.io/library/rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
# The git revision the binaries log at start-up (`make images` passes it).
ARG REVISION=unknown
COPY . .
# Only the three product binaries; the lockfile is honoured. Caches make rebuilds incremental.
RUN --mount=type=cache,target=/usr/local/cargo/registry \
    --mount=type=cache,target=/src/target \
    WASMCLOUD_OPERATOR_REVISION="$REVISION" cargo build --release --locked \
      -p wasmcloud-host-operator -p wasmcloud-service-syncer -p wasmcloud-app-status-bridge \
    && mkdir -p /out \
    && cp target/release/wasmcloud-host-operator target/release/wasmcloud-service-syncer \
          target/release/wasmcloud-app-status-bridge /out/

FROM gcr.io/distroless/cc-debian12:nonroot@sha256:9dac0a79194e45a7da0158a9c6da57b217585af0786db3845d1f0ec1a0dd182f AS runtime
LABEL org.opencontainers.image.source="https://github.com/wasmcloud/wasmcloud-operator-rs" \
      org.opencontainers.image.licenses="Apache-2.0"
# Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER 65532:65532
EXPOSE 8080 8081

FROM runtime AS host-operator
COPY --from=builder /out/wasmcloud-host-operator /usr/local/bin/wasmcloud-host-operator
ENTRYPOINT ["/usr/local/bin/wasmcloud-host-operator"]

FROM runtime AS service-syncer
COPY --from=builder /out/wasmcloud-service-syncer /usr/local/bin/wasmcloud-service-syncer
ENTRYPOINT ["/usr/local/bin/wasmcloud-service-syncer"]

FROM runtime AS app-status-bridge
COPY --from=builder /out/wasmcloud-app-status-bridge /usr/local/bin/wasmcloud-app-status-bridge
ENTRYPOINT ["/usr/local/bin/wasmcloud-app-status-bridge"]
