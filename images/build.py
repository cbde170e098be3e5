#!/usr/bin/env python3
"""Builds OCI images without a container daemon, and the Dockerfile for those who have one.

  build.py operators --bin-dir DIR --repository PREFIX --tag TAG --out DIR
      the three operator images of images/recipe.json: a base layer from the installed Debian packages the
      recipe names (what a distroless `cc` image holds) plus /etc/passwd with the nonroot user, /tmp, and a
      layer with the release binary. Writes DIR/<image>.tar (OCI image layout) and prints "<ref> <archive>".
  build.py image --ref REF --out FILE [--base debian-cc|none] [--add SRC:DST[:MODE]]... [--entrypoint ARG]...
                 [--user U] [--env K=V]... [--label K=V]...
      one image from files on this machine (the local environment's pause, nats-server and simulator images).
  build.py dockerfile
      prints the Dockerfile built from the same recipe (`make generate` writes it).

Layers are deterministic (sorted entries, mtime 0, owner root unless stated) and cached by content under
$WASMCLOUD_TOOLS_CACHE/image-layers, so a rebuild with unchanged binaries takes a moment. An archive is
rewritten only when its content changed. `ctr images import` (and `podman load`, `skopeo`) read the archives.
"""

import argparse
import gzip
import hashlib
import io
import json
import os
import stat
import subprocess
import sys
import tarfile
from pathlib import Path

HERE = Path(__file__).resolve().parent
RECIPE = json.loads((HERE / "recipe.json").read_text())
CACHE = Path(
    os.environ.get("WASMCLOUD_TOOLS_CACHE")
    or Path(os.environ.get("XDG_CACHE_HOME", Path.home() / ".cache")) / "wasmcloud-operator-tools"
)
LAYER_CACHE = CACHE / "image-layers"
NONROOT = 65532
DEFAULT_ENV = [
    "PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin",
    "SSL_CERT_FILE=/etc/ssl/certs/ca-certificates.crt",
]
# Parts of the packages no program reads at run time.
SKIPPED_PREFIXES = ("/usr/share/doc", "/usr/share/man", "/usr/share/lintian", "/usr/share/locale", "/usr/share/info")


def fail(message):
    print(f"[images] {message}", file=sys.stderr)
    sys.exit(1)


def sha256(data):
    return hashlib.sha256(data).hexdigest()


class Layer:
    """The entries of one layer: path inside the image -> (kind, payload, mode, uid)."""

    def __init__(self):
        self.entries = {}

    def directory(self, path, mode=0o755, uid=0):
        path = path.strip("/")
        if path and path not in self.entries:
            self.parents(path)
            self.entries[path] = ("dir", b"", mode, uid)

    def parents(self, path):
        parent = os.path.dirname(path)
        if parent and parent not in self.entries:
            self.directory(parent)

    def file(self, path, data, mode=0o644, uid=0):
        path = path.strip("/")
        self.parents(path)
        self.entries[path] = ("file", data, mode, uid)

    def symlink(self, path, target):
        path = path.strip("/")
        self.parents(path)
        self.entries[path] = ("link", target.encode(), 0o777, 0)

    def key(self):
        digest = hashlib.sha256()
        for path in sorted(self.entries):
            kind, payload, mode, uid = self.entries[path]
            digest.update(f"{path}\0{kind}\0{mode:o}\0{uid}\0{sha256(payload)}\n".encode())
        return digest.hexdigest()

    def tar(self):
        buffer = io.BytesIO()
        with tarfile.open(fileobj=buffer, mode="w", format=tarfile.PAX_FORMAT) as archive:
            for path in sorted(self.entries):
                kind, payload, mode, uid = self.entries[path]
                info = tarfile.TarInfo(path)
                info.mtime, info.uid, info.gid, info.mode = 0, uid, uid, mode
                info.uname = info.gname = ""
                if kind == "dir":
                    info.type = tarfile.DIRTYPE
                    archive.addfile(info)
                elif kind == "link":
                    info.type, info.linkname = tarfile.SYMTYPE, payload.decode()
                    archive.addfile(info)
                else:
                    info.size = len(payload)
                    archive.addfile(info, io.BytesIO(payload))
        return buffer.getvalue()


def built_layer(layer):
    """(diff_id, digest, gzip bytes) of a layer, from the cache when its content was built before."""
    LAYER_CACHE.mkdir(parents=True, exist_ok=True)
    cached = LAYER_CACHE / f"{layer.key()}.json"
    if cached.exists():
        meta = json.loads(cached.read_text())
        blob = LAYER_CACHE / f"{meta['digest']}.tar.gz"
        if blob.exists():
            return meta["diff_id"], meta["digest"], blob.read_bytes()
    raw = layer.tar()
    compressed = gzip.compress(raw, compresslevel=6, mtime=0)
    diff_id, digest = sha256(raw), sha256(compressed)
    (LAYER_CACHE / f"{digest}.tar.gz").write_bytes(compressed)
    cached.write_text(json.dumps({"diff_id": diff_id, "digest": digest}))
    return diff_id, digest, compressed


def package_files(package):
    try:
        listed = subprocess.run(["dpkg-query", "-L", package], check=True, capture_output=True, text=True).stdout
    except (OSError, subprocess.CalledProcessError):
        fail(f"Debian package {package} is not installed (apt-get install {package}); the base layer is built from it")
    return [line for line in listed.splitlines() if line.startswith("/")]


def package_version(package):
    return subprocess.run(
        ["dpkg-query", "-W", "-f=${Version}", package], check=True, capture_output=True, text=True
    ).stdout


def add_host_path(layer, path):
    """Adds a file or symlink of this machine at the same path, following merged-/usr directory links."""
    if path.startswith(SKIPPED_PREFIXES) or not os.path.lexists(path):
        return
    real = os.path.join(os.path.realpath(os.path.dirname(path)), os.path.basename(path))
    info = os.lstat(real)
    if stat.S_ISDIR(info.st_mode):
        layer.directory(os.path.realpath(real), stat.S_IMODE(info.st_mode))
    elif stat.S_ISLNK(info.st_mode):
        layer.symlink(real, os.readlink(real))
    elif stat.S_ISREG(info.st_mode):
        layer.file(real, Path(real).read_bytes(), stat.S_IMODE(info.st_mode))


def base_layer():
    """What a distroless `cc` image holds, from this machine's Debian packages."""
    layer = Layer()
    # Merged /usr: the top-level directories are links, as on the machine the files come from.
    for top in ("bin", "sbin", "lib", "lib64"):
        if os.path.islink(f"/{top}"):
            layer.symlink(top, os.readlink(f"/{top}"))
    for package in RECIPE["base"]["debian_packages"]:
        for path in package_files(package):
            add_host_path(layer, path)
    bundle = Path("/etc/ssl/certs/ca-certificates.crt")
    if not bundle.exists():
        fail("/etc/ssl/certs/ca-certificates.crt is missing (update-ca-certificates writes it)")
    layer.file(str(bundle), bundle.read_bytes())
    layer.file(
        "etc/passwd",
        f"root:x:0:0:root:/root:/sbin/nologin\nnonroot:x:{NONROOT}:{NONROOT}:nonroot:/home/nonroot:/sbin/nologin\n".encode(),
    )
    layer.file("etc/group", f"root:x:0:\nnonroot:x:{NONROOT}:\n".encode())
    layer.file("etc/nsswitch.conf", b"passwd: files\ngroup: files\nhosts: files dns\n")
    if Path("/etc/os-release").exists():
        layer.file("etc/os-release", Path(os.path.realpath("/etc/os-release")).read_bytes())
    layer.directory("tmp", 0o1777)
    layer.directory("root", 0o700)
    layer.directory("home/nonroot", 0o700, NONROOT)
    return layer


def files_layer(additions):
    layer = Layer()
    for source, destination, mode in additions:
        if not Path(source).is_file():
            fail(f"{source} does not exist (build it first)")
        layer.file(destination, Path(source).read_bytes(), mode)
    return layer


def write_archive(ref, out, layers, config):
    """Writes an OCI image layout archive for one image; leaves the file alone when nothing changed."""
    built = [built_layer(layer) for layer in layers]
    config = dict(config)
    config["rootfs"] = {"type": "layers", "diff_ids": [f"sha256:{diff_id}" for diff_id, _, _ in built]}
    config_bytes = json.dumps(config, sort_keys=True, separators=(",", ":")).encode()
    manifest = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": f"sha256:{sha256(config_bytes)}",
                   "size": len(config_bytes)},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": f"sha256:{digest}",
                    "size": len(blob)} for _, digest, blob in built],
    }
    manifest_bytes = json.dumps(manifest, sort_keys=True, separators=(",", ":")).encode()
    tag = ref.rsplit(":", 1)[1] if ":" in ref.rsplit("/", 1)[-1] else "latest"
    index = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.index.v1+json",
        "manifests": [{"mediaType": manifest["mediaType"], "digest": f"sha256:{sha256(manifest_bytes)}",
                       "size": len(manifest_bytes), "platform": {"architecture": "amd64", "os": "linux"},
                       "annotations": {"io.containerd.image.name": ref, "org.opencontainers.image.ref.name": tag}}],
    }
    index_bytes = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    out = Path(out)
    stamp = out.with_suffix(out.suffix + ".index")
    if out.exists() and stamp.exists() and stamp.read_bytes() == index_bytes:
        return sha256(manifest_bytes)
    blobs = [(config_bytes, sha256(config_bytes)), (manifest_bytes, sha256(manifest_bytes))]
    blobs += [(blob, digest) for _, digest, blob in built]
    layer = Layer()
    layer.file("oci-layout", b'{"imageLayoutVersion":"1.0.0"}')
    layer.file("index.json", index_bytes)
    for data, digest in blobs:
        layer.file(f"blobs/sha256/{digest}", data)
    out.parent.mkdir(parents=True, exist_ok=True)
    partial = out.with_suffix(out.suffix + ".partial")
    partial.write_bytes(layer.tar())
    partial.replace(out)
    stamp.write_bytes(index_bytes)
    return sha256(manifest_bytes)


def image_config(entrypoint, user, env, labels, expose=()):
    return {
        "architecture": "amd64",
        "os": "linux",
        "created": "1970-01-01T00:00:00Z",
        "config": {
            "Entrypoint": entrypoint,
            "User": user,
            "Env": env,
            "Labels": labels,
            "WorkingDir": "/",
            **({"ExposedPorts": {f"{port}/tcp": {} for port in expose}} if expose else {}),
        },
    }


def base_labels():
    versions = ",".join(f"{p}={package_version(p)}" for p in RECIPE["base"]["debian_packages"])
    return {"dev.wasmcloud.image.base-packages": versions}


def operators(args):
    base = base_layer()
    for image, spec in RECIPE["images"].items():
        binary = Path(args.bin_dir) / spec["binary"]
        inside = f"{RECIPE['binary_dir']}/{spec['binary']}"
        ref = f"{args.repository}/{spec['package']}:{args.tag}"
        config = image_config([inside], RECIPE["user"], DEFAULT_ENV, {**RECIPE["labels"], **base_labels()},
                              RECIPE["expose"])
        out = Path(args.out) / f"{image}.tar"
        digest = write_archive(ref, out, [base, files_layer([(binary, inside, 0o755)])], config)
        print(f"{ref} {out} sha256:{digest}")


def single_image(args):
    additions = []
    for item in args.add:
        parts = item.split(":")
        if len(parts) not in (2, 3):
            fail(f"--add {item}: expected SRC:DST or SRC:DST:MODE")
        additions.append((parts[0], parts[1], int(parts[2], 8) if len(parts) == 3 else 0o755))
    layers = ([base_layer()] if args.base == "debian-cc" else []) + [files_layer(additions)]
    labels = dict(label.split("=", 1) for label in args.label)
    env = DEFAULT_ENV + args.env
    config = image_config(args.entrypoint, args.user, env, labels)
    digest = write_archive(args.ref, args.out, layers, config)
    print(f"{args.ref} {args.out} sha256:{digest}")


def dockerfile(_args):
    labels = " \\\n      ".join(f'{key}="{value}"' for key, value in RECIPE["labels"].items())
    packages = " ".join(f"-p {spec['package']}" for spec in RECIPE["images"].values())
    copies = " ".join(f"target/release/{spec['binary']}" for spec in RECIPE["images"].values())
    print(f"""# syntax=docker/dockerfile:1
# Generated by `make generate` from images/recipe.json; do not edit. `make images` builds the same images
# without a container daemon (images/build.py); with Docker or Podman: `make images-docker`, or
# `docker build --target host-operator|service-syncer|app-status-bridge .`
# BASE_IMAGE: glibc, libgcc and CA certificates, user {NONROOT}, no shell (the daemonless build takes the same
# from Debian packages). Refresh the digest with `crane digest gcr.io/distroless/cc-debian12:nonroot`.
ARG BASE_IMAGE={RECIPE['base']['docker_image']}

FROM docker.io/library/rust:1.95.0-slim-bookworm AS builder
WORKDIR /src
# The git revision the binaries log at start-up (`make images-docker` passes it).
ARG REVISION=unknown
COPY . .
# Only the three product binaries; the lockfile is honoured. Caches make rebuilds incremental.
RUN --mount=type=cache,target=/usr/local/cargo/registry \\
    --mount=type=cache,target=/src/target \\
    WASMCLOUD_OPERATOR_REVISION="$REVISION" cargo build --release --locked {packages} \\
    && mkdir -p /out && cp {copies} /out/

FROM ${{BASE_IMAGE}} AS runtime
LABEL {labels}
# Numeric, so that Kubernetes can verify runAsNonRoot without reading /etc/passwd.
USER {RECIPE['user']}
EXPOSE {' '.join(str(port) for port in RECIPE['expose'])}""")
    for image, spec in RECIPE["images"].items():
        inside = f"{RECIPE['binary_dir']}/{spec['binary']}"
        print(f"""
FROM runtime AS {image}
COPY --from=builder /out/{spec['binary']} {inside}
ENTRYPOINT ["{inside}"]""")


def main():
    parser = argparse.ArgumentParser(description=__doc__, formatter_class=argparse.RawDescriptionHelpFormatter)
    commands = parser.add_subparsers(dest="command", required=True)
    ops = commands.add_parser("operators")
    ops.add_argument("--bin-dir", required=True)
    ops.add_argument("--repository", required=True)
    ops.add_argument("--tag", required=True)
    ops.add_argument("--out", required=True)
    ops.set_defaults(run=operators)
    one = commands.add_parser("image")
    one.add_argument("--ref", required=True)
    one.add_argument("--out", required=True)
    one.add_argument("--base", choices=["debian-cc", "none"], default="none")
    one.add_argument("--add", action="append", default=[])
    one.add_argument("--entrypoint", action="append", default=[])
    one.add_argument("--user", default=f"{NONROOT}:{NONROOT}")
    one.add_argument("--env", action="append", default=[])
    one.add_argument("--label", action="append", default=[])
    one.set_defaults(run=single_image)
    commands.add_parser("dockerfile").set_defaults(run=dockerfile)
    args = parser.parse_args()
    args.run(args)


if __name__ == "__main__":
    main()
