"""Generate OCI image layouts (https://github.com/opencontainers/image-spec/blob/main/image-layout.md)
of synthetic images for tests.

Everything is deterministic by ``seed``: the same arguments give the same bytes,
hence the same digests (tar headers carry fixed mtimes/owners, gzip headers carry
mtime 0 and no file name). Layers are generated and written streaming, 1 MiB at
a time, so a multi-GiB layer never sits in memory.

Speed notes: random data is incompressible; gzip ``compresslevel=1`` runs at about
45 MB/s on this machine, ``compresslevel=0`` (a valid gzip stream of stored blocks)
at disk speed, and ``gzip=False`` (media type ``application/vnd.oci.image.layer.v1.tar``)
skips compression. Use 0 or ``gzip=False`` for big layers.

    info = write_image(tmp_path / "layout", layers=[1024, 5 << 20], tag="1.0", seed=1)
    skopeo copy oci:{info.path}:1.0 docker://...

Several images (different tags) may be written into one layout directory; each call
adds to (or replaces the same tag in) its ``index.json``.
"""

from __future__ import annotations

import contextlib
import gzip as _gzip
import hashlib
import io
import json
import os
import random
import tarfile
import tempfile
from dataclasses import dataclass, field
from pathlib import Path
from typing import Sequence

OCI_LAYOUT_VERSION = "1.0.0"
MT_OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
MT_OCI_INDEX = "application/vnd.oci.image.index.v1+json"
MT_OCI_CONFIG = "application/vnd.oci.image.config.v1+json"
MT_OCI_LAYER_TAR = "application/vnd.oci.image.layer.v1.tar"
MT_OCI_LAYER_GZIP = "application/vnd.oci.image.layer.v1.tar+gzip"
REF_NAME = "org.opencontainers.image.ref.name"

CHUNK = 1 << 20
# Fixed timestamps keep the bytes reproducible.
EPOCH = 1_700_000_000
CREATED = "2023-11-14T22:13:20Z"


@dataclass(frozen=True)
class ImageInfo:
    """What `write_image` wrote. Digests are ``sha256:<hex>`` strings."""

    path: Path                     # the layout directory
    tag: str | None                # ref name in index.json (None for index children)
    manifest_digest: str
    manifest_bytes: bytes
    config_digest: str
    config_bytes: bytes
    layer_digests: list[str]       # digests of the layer blobs as stored (compressed if gzip)
    layer_sizes: list[int]         # blob sizes in bytes
    diff_ids: list[str]            # digests of the uncompressed tars
    layer_media_type: str
    architecture: str = "amd64"
    os: str = "linux"
    variant: str | None = None
    marker_blobs: list[str] = field(default_factory=list)  # blobs whose bytes contain the marker verbatim

    @property
    def manifest_size(self) -> int:
        return len(self.manifest_bytes)

    @property
    def manifest(self) -> dict:
        return json.loads(self.manifest_bytes)

    @property
    def all_blob_digests(self) -> list[str]:
        return [self.config_digest, *self.layer_digests]

    def blob_path(self, digest: str) -> Path:
        return blob_path(self.path, digest)


@dataclass(frozen=True)
class IndexInfo:
    """What `write_index` wrote: an image index and one image per platform."""

    path: Path
    tag: str
    index_digest: str
    index_bytes: bytes
    images: list[ImageInfo]

    @property
    def manifest_digest(self) -> str:  # so an IndexInfo can stand where an ImageInfo's top digest is used
        return self.index_digest

    @property
    def index(self) -> dict:
        return json.loads(self.index_bytes)


def sha256_file(path: Path) -> str:
    h = hashlib.sha256()
    with open(path, "rb") as f:
        while chunk := f.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()


def blob_path(layout: Path, digest: str) -> Path:
    algo, _, hexd = digest.partition(":")
    return Path(layout) / "blobs" / algo / hexd


# --------------------------------------------------------------------------- streaming plumbing

class _HashingWriter(io.RawIOBase):
    """Write-through to `inner` (or nowhere), hashing and counting; optionally watch for `needle`."""

    def __init__(self, inner=None, needle: bytes | None = None):
        self.inner = inner
        self.sha = hashlib.sha256()
        self.size = 0
        self.needle = needle or b""
        self._tail = b""
        self.found = False

    def writable(self) -> bool:
        return True

    def write(self, b) -> int:
        b = bytes(b)
        self.sha.update(b)
        self.size += len(b)
        if self.needle and not self.found:
            window = self._tail + b
            if self.needle in window:
                self.found = True
            self._tail = window[-(len(self.needle) - 1):] if len(self.needle) > 1 else b""
        if self.inner is not None:
            self.inner.write(b)
        return len(b)

    @property
    def digest(self) -> str:
        return "sha256:" + self.sha.hexdigest()


class _RandomReader(io.RawIOBase):
    """`size` deterministic pseudo-random bytes, produced in pieces, optionally starting with `prefix`."""

    def __init__(self, size: int, seed: str, prefix: bytes = b""):
        self.remaining = size
        self.rng = random.Random(seed)
        self.pending = prefix[:size]
        self.remaining -= len(self.pending)

    def readable(self) -> bool:
        return True

    def read(self, n: int = -1) -> bytes:
        if n is None or n < 0:
            n = CHUNK
        out = self.pending[:n]
        self.pending = self.pending[n:]
        want = min(n - len(out), self.remaining)
        if want > 0:
            out += self.rng.randbytes(want)
            self.remaining -= want
        return out

    def readinto(self, b) -> int:
        data = self.read(len(b))
        b[: len(data)] = data
        return len(data)


def _tarinfo(name: str, size: int, mode: int = 0o644) -> tarfile.TarInfo:
    ti = tarfile.TarInfo(name)
    ti.size = size
    ti.mode = mode
    ti.mtime = EPOCH
    ti.uid = ti.gid = 0
    ti.uname = ti.gname = "root"
    ti.type = tarfile.REGTYPE
    return ti


def _write_layer(layout: Path, index: int, size: int, seed: int, gzip: bool, compresslevel: int,
                 files: int, marker: str | None) -> tuple[str, str, int, bool]:
    """Write layer `index` into the layout's blob dir. Returns (blob digest, diff_id, blob size, marker seen in blob)."""
    blobs = Path(layout) / "blobs" / "sha256"
    blobs.mkdir(parents=True, exist_ok=True)
    needle = marker.encode() if marker else None
    fd, tmpname = tempfile.mkstemp(dir=blobs, prefix=".layer-")
    try:
        with os.fdopen(fd, "wb") as raw:
            blob = _HashingWriter(raw, needle)
            gz = (_gzip.GzipFile(filename="", mode="wb", fileobj=blob, compresslevel=compresslevel, mtime=0)
                  if gzip else None)
            tar_out = _HashingWriter(gz if gz is not None else blob)
            with tarfile.open(fileobj=tar_out, mode="w|", format=tarfile.PAX_FORMAT,
                              bufsize=CHUNK, copybufsize=CHUNK) as tar:
                if marker is not None:
                    # Repeated and small: lands verbatim in an uncompressed or stored (level 0) blob.
                    body = (f"marker {marker}\n" * 4).encode()
                    tar.addfile(_tarinfo(f"layer{index}/marker.txt", len(body)), io.BytesIO(body))
                files = max(1, files)
                per, extra = divmod(size, files)
                dir_ti = _tarinfo(f"layer{index}", 0, 0o755)
                dir_ti.type = tarfile.DIRTYPE
                tar.addfile(dir_ti)
                for j in range(files):
                    n = per + (1 if j < extra else 0)
                    prefix = f"{marker}\n".encode() if (marker is not None and j == 0) else b""
                    tar.addfile(_tarinfo(f"layer{index}/file{j}.bin", n),
                                _RandomReader(n, f"sealedreg-test:{seed}:{index}:{j}", prefix))
            if gz is not None:
                gz.close()
        digest = blob.digest
        os.chmod(tmpname, 0o644)
        os.replace(tmpname, blobs / digest.split(":", 1)[1])
    except BaseException:
        with contextlib.suppress(OSError):
            os.unlink(tmpname)
        raise
    return digest, tar_out.digest, blob.size, blob.found


def _write_blob(layout: Path, data: bytes) -> str:
    digest = "sha256:" + hashlib.sha256(data).hexdigest()
    p = blob_path(layout, digest)
    p.parent.mkdir(parents=True, exist_ok=True)
    if not p.exists():
        tmp = p.with_name(".tmp-" + p.name)
        tmp.write_bytes(data)
        os.replace(tmp, p)
    return digest


def _canonical(obj) -> bytes:
    return json.dumps(obj, separators=(",", ":"), sort_keys=False).encode()


def _init_layout(layout: Path) -> None:
    layout.mkdir(parents=True, exist_ok=True)
    (layout / "blobs" / "sha256").mkdir(parents=True, exist_ok=True)
    (layout / "oci-layout").write_text(json.dumps({"imageLayoutVersion": OCI_LAYOUT_VERSION}))
    if not (layout / "index.json").exists():
        _write_index_json(layout, [])


def _write_index_json(layout: Path, manifests: list[dict]) -> None:
    doc = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": manifests}
    tmp = layout / ".index.json.tmp"
    tmp.write_text(json.dumps(doc, indent=2))
    os.replace(tmp, layout / "index.json")


def _add_to_index_json(layout: Path, descriptor: dict, tag: str | None) -> None:
    doc = json.loads((layout / "index.json").read_text())
    manifests = [m for m in doc.get("manifests", [])
                 if tag is None or m.get("annotations", {}).get(REF_NAME) != tag]
    if tag is not None:
        descriptor = {**descriptor, "annotations": {REF_NAME: tag}}
    manifests.append(descriptor)
    _write_index_json(layout, manifests)


# --------------------------------------------------------------------------- public API

def _build_image(layout: Path, layers: Sequence[int], seed: int, gzip: bool, compresslevel: int,
                 files_per_layer: int, marker: str | None, architecture: str, os_: str,
                 variant: str | None, annotations: dict[str, str] | None, tag: str | None) -> ImageInfo:
    layout = Path(layout)
    _init_layout(layout)
    layer_media_type = MT_OCI_LAYER_GZIP if gzip else MT_OCI_LAYER_TAR
    layer_digests, diff_ids, sizes, marker_blobs = [], [], [], []
    for i, size in enumerate(layers):
        d, diff_id, n, seen = _write_layer(layout, i, int(size), seed, gzip, compresslevel, files_per_layer,
                                           marker if i == 0 else None)
        layer_digests.append(d)
        diff_ids.append(diff_id)
        sizes.append(n)
        if seen:
            marker_blobs.append(d)

    labels = {"org.example.sealedreg-test.seed": str(seed)}
    if marker is not None:
        labels["org.example.sealedreg-test.marker"] = marker
    config = {
        "created": CREATED,
        "architecture": architecture,
        "os": os_,
        **({"variant": variant} if variant else {}),
        "config": {
            "Env": ["PATH=/usr/local/sbin:/usr/local/bin:/usr/sbin:/usr/bin:/sbin:/bin"],
            "Cmd": ["/bin/sh"],
            "WorkingDir": "/",
            "Labels": labels,
        },
        "rootfs": {"type": "layers", "diff_ids": diff_ids},
        "history": [{"created": CREATED, "created_by": f"sealedreg-test layer {i} ({size} bytes)"}
                    for i, size in enumerate(layers)],
    }
    config_bytes = _canonical(config)
    config_digest = _write_blob(layout, config_bytes)
    if marker is not None:
        marker_blobs.append(config_digest)

    manifest = {
        "schemaVersion": 2,
        "mediaType": MT_OCI_MANIFEST,
        "config": {"mediaType": MT_OCI_CONFIG, "digest": config_digest, "size": len(config_bytes)},
        "layers": [{"mediaType": layer_media_type, "digest": d, "size": n}
                   for d, n in zip(layer_digests, sizes)],
    }
    if annotations:
        manifest["annotations"] = dict(annotations)
    manifest_bytes = _canonical(manifest)
    manifest_digest = _write_blob(layout, manifest_bytes)
    return ImageInfo(path=layout, tag=tag, manifest_digest=manifest_digest, manifest_bytes=manifest_bytes,
                     config_digest=config_digest, config_bytes=config_bytes, layer_digests=layer_digests,
                     layer_sizes=sizes, diff_ids=diff_ids, layer_media_type=layer_media_type,
                     architecture=architecture, os=os_, variant=variant, marker_blobs=marker_blobs)


def write_image(dir: Path | str, layers: Sequence[int] = (1024,), tag: str | None = "latest", seed: int = 0,
                gzip: bool = True, marker: str | None = None, *, compresslevel: int = 1,
                files_per_layer: int = 1, architecture: str = "amd64", os: str = "linux",
                variant: str | None = None, annotations: dict[str, str] | None = None) -> ImageInfo:
    """Write an image with one layer per entry of `layers` (payload bytes of random file content).

    Each layer is a tar (gzipped at `compresslevel` when `gzip`, 0 = stored blocks = fast) holding a
    directory ``layer<i>/`` with `files_per_layer` files whose sizes add up to the requested size.
    Same `seed` and layer position => same layer bytes (so two images can share layers).

    `marker`: a string placed in a file ``layer0/marker.txt`` and at the start of ``file0.bin`` in
    the first layer, and in a config label. ``ImageInfo.marker_blobs`` lists the blobs whose bytes
    contain it verbatim (always the config; the first layer too when it is uncompressed or stored).

    `tag` becomes the ``org.opencontainers.image.ref.name`` of the manifest in index.json, so the
    image is ``oci:DIR:TAG`` for skopeo/podman. With ``tag=None`` nothing is added to index.json.
    """
    dir = Path(dir)
    info = _build_image(dir, layers, seed, gzip, compresslevel, files_per_layer, marker,
                        architecture, os, variant, annotations, tag)
    if tag is not None:
        _add_to_index_json(dir, {"mediaType": MT_OCI_MANIFEST, "digest": info.manifest_digest,
                                 "size": info.manifest_size}, tag)
    return info


DEFAULT_PLATFORMS = (("linux", "amd64", None), ("linux", "arm64", "v8"))


def write_index(dir: Path | str, platforms: Sequence[tuple[str, str, str | None]] = DEFAULT_PLATFORMS,
                layers: Sequence[int] = (1024,), tag: str = "latest", seed: int = 0, gzip: bool = True,
                marker: str | None = None, *, compresslevel: int = 1,
                annotations: dict[str, str] | None = None) -> IndexInfo:
    """Write a multi-arch image index: one image per (os, architecture, variant) platform.

    Each platform's image gets distinct layers (seed ``seed*1000+k``), its own config, and
    is listed with its platform in the index; the index is tagged `tag` in index.json.
    """
    dir = Path(dir)
    images = []
    for k, (os_, arch, variant) in enumerate(platforms):
        images.append(_build_image(dir, layers, seed * 1000 + k + 1, gzip, compresslevel, 1, marker,
                                   arch, os_, variant, None, None))
    entries = []
    for img in images:
        platform = {"architecture": img.architecture, "os": img.os}
        if img.variant:
            platform["variant"] = img.variant
        entries.append({"mediaType": MT_OCI_MANIFEST, "digest": img.manifest_digest,
                        "size": img.manifest_size, "platform": platform})
    index = {"schemaVersion": 2, "mediaType": MT_OCI_INDEX, "manifests": entries}
    if annotations:
        index["annotations"] = dict(annotations)
    index_bytes = _canonical(index)
    index_digest = _write_blob(dir, index_bytes)
    _add_to_index_json(dir, {"mediaType": MT_OCI_INDEX, "digest": index_digest, "size": len(index_bytes)}, tag)
    return IndexInfo(path=dir, tag=tag, index_digest=index_digest, index_bytes=index_bytes, images=images)


def read_layer_members(layer_blob: Path) -> dict[str, bytes]:
    """Names and contents of the files in a (small) layer blob, gzipped or not. For tests."""
    with tarfile.open(layer_blob, mode="r:*") as tar:
        return {m.name: tar.extractfile(m).read() for m in tar.getmembers() if m.isfile()}


def diff_id_of(layer_blob: Path) -> str:
    """Digest of the uncompressed tar of a layer blob (streaming)."""
    h = hashlib.sha256()
    with open(layer_blob, "rb") as f:
        head = f.read(2)
        f.seek(0)
        src = _gzip.GzipFile(fileobj=f, mode="rb") if head == b"\x1f\x8b" else f
        while chunk := src.read(CHUNK):
            h.update(chunk)
    return "sha256:" + h.hexdigest()
