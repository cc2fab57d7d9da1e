"""Manifest validation: one small validator per media type, chosen by a table.

A validator parses the exact bytes pushed (which are stored and served
unchanged) and says what the manifest depends on: the blobs and child
manifests that must already be in the repository, its subject (for the
referrers API), artifact type and annotations.
"""

from __future__ import annotations

import base64
import binascii
import json
import re
from dataclasses import dataclass, field
from typing import Any, Callable

from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import ManifestInvalid, RegistryError

OCI_MANIFEST = "application/vnd.oci.image.manifest.v1+json"
OCI_INDEX = "application/vnd.oci.image.index.v1+json"
DOCKER_MANIFEST = "application/vnd.docker.distribution.manifest.v2+json"
DOCKER_LIST = "application/vnd.docker.distribution.manifest.list.v2+json"

MAX_MANIFEST_BYTES = 4 * 1024 * 1024

# Layers that by definition are not pushed to registries: never required.
NONDISTRIBUTABLE = (
    "application/vnd.oci.image.layer.nondistributable.",
    "application/vnd.docker.image.rootfs.foreign.",
)

_MEDIA_TYPE = re.compile(r"^[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}/[A-Za-z0-9][A-Za-z0-9!#$&^_.+-]{0,126}$")


@dataclass
class ManifestInfo:
    media_type: str
    blobs: list[str] = field(default_factory=list)
    manifests: list[str] = field(default_factory=list)
    subject: str | None = None
    artifact_type: str | None = None
    annotations: dict[str, str] | None = None


@dataclass(frozen=True)
class Descriptor:
    media_type: str
    digest: str
    size: int
    inline: bool  # the `data` field carries the content, so it need not be pushed
    urls: bool

    @property
    def nondistributable(self) -> bool:
        return self.media_type.startswith(NONDISTRIBUTABLE) or self.urls


def _invalid(why: str) -> ManifestInvalid:
    return ManifestInvalid(f"manifest invalid: {why}", detail={"reason": why})


def _descriptor(obj: Any, where: str) -> Descriptor:
    if not isinstance(obj, dict):
        raise _invalid(f"{where} is not a descriptor")
    media_type, digest, size = obj.get("mediaType"), obj.get("digest"), obj.get("size")
    if not isinstance(media_type, str) or not _MEDIA_TYPE.fullmatch(media_type):
        raise _invalid(f"{where}.mediaType is missing or malformed")
    if not isinstance(digest, str):
        raise _invalid(f"{where}.digest is missing")
    try:
        parsed = Digest.parse(digest)
    except RegistryError:
        raise _invalid(f"{where}.digest is not a supported digest") from None
    if not isinstance(size, int) or isinstance(size, bool) or size < 0:
        raise _invalid(f"{where}.size must be a non-negative integer")
    inline = False
    if "data" in obj:
        data = obj["data"]
        try:
            raw = base64.b64decode(data, validate=True) if isinstance(data, str) else None
        except (binascii.Error, ValueError):
            raw = None
        if raw is None or len(raw) != size or Digest.of(raw, parsed.algorithm) != parsed:
            raise _invalid(f"{where}.data does not match its digest and size")
        inline = True
    urls = obj.get("urls")
    if urls is not None and not (isinstance(urls, list) and all(isinstance(u, str) for u in urls)):
        raise _invalid(f"{where}.urls must be a list of strings")
    annotations = obj.get("annotations")
    if annotations is not None:
        _annotations(annotations, f"{where}.annotations")
    return Descriptor(media_type, digest, size, inline, bool(urls))


def _annotations(obj: Any, where: str) -> dict[str, str]:
    if not isinstance(obj, dict) or not all(isinstance(k, str) and isinstance(v, str) for k, v in obj.items()):
        raise _invalid(f"{where} must map strings to strings")
    return obj


def _common(doc: dict, info: ManifestInfo) -> None:
    if "subject" in doc:
        info.subject = _descriptor(doc["subject"], "subject").digest
    if "annotations" in doc:
        info.annotations = _annotations(doc["annotations"], "annotations")
    artifact_type = doc.get("artifactType")
    if artifact_type is not None:
        if not isinstance(artifact_type, str) or not _MEDIA_TYPE.fullmatch(artifact_type):
            raise _invalid("artifactType is malformed")
        info.artifact_type = artifact_type


def _image(doc: dict, media_type: str) -> ManifestInfo:
    info = ManifestInfo(media_type)
    config = _descriptor(doc.get("config"), "config")
    layers = doc.get("layers")
    if not isinstance(layers, list):
        raise _invalid("layers must be a list")
    if not config.inline:
        info.blobs.append(config.digest)
    for i, obj in enumerate(layers):
        layer = _descriptor(obj, f"layers[{i}]")
        if not layer.inline and not layer.nondistributable:
            info.blobs.append(layer.digest)
    _common(doc, info)
    if info.artifact_type is None and media_type == OCI_MANIFEST:
        # Referrers report the config media type when there is no artifactType.
        info.artifact_type = config.media_type
    return info


def _index(doc: dict, media_type: str) -> ManifestInfo:
    info = ManifestInfo(media_type)
    manifests = doc.get("manifests")
    if not isinstance(manifests, list):
        raise _invalid("manifests must be a list")
    for i, obj in enumerate(manifests):
        child = _descriptor(obj, f"manifests[{i}]")
        if not child.inline:
            info.manifests.append(child.digest)
    _common(doc, info)
    return info


VALIDATORS: dict[str, Callable[[dict, str], ManifestInfo]] = {
    OCI_MANIFEST: _image,
    DOCKER_MANIFEST: _image,
    OCI_INDEX: _index,
    DOCKER_LIST: _index,
}
GENERIC_TYPES = {"", "application/json", "application/octet-stream"}


def parse_manifest(body: bytes, content_type: str | None) -> ManifestInfo:
    """Validate `body` as a manifest of a supported type; raise ManifestInvalid."""
    try:
        doc = json.loads(body)
    except (UnicodeDecodeError, ValueError):
        raise _invalid("not valid JSON") from None
    except RecursionError:
        raise _invalid("JSON nested too deeply") from None
    if not isinstance(doc, dict):
        raise _invalid("not a JSON object")
    if doc.get("schemaVersion") != 2:
        raise _invalid("schemaVersion must be 2")
    declared = doc.get("mediaType")
    if declared is not None and not isinstance(declared, str):
        raise _invalid("mediaType must be a string")
    header = (content_type or "").split(";", 1)[0].strip().lower()
    if declared and header and header not in GENERIC_TYPES and header != declared:
        raise _invalid(f"Content-Type {header!r} does not match mediaType {declared!r}")
    media_type = declared or (header if header not in GENERIC_TYPES else "")
    if not media_type:
        # OCI manifests may leave mediaType out; their shape says what they are.
        media_type = OCI_INDEX if "manifests" in doc else OCI_MANIFEST if "config" in doc else ""
    validator = VALIDATORS.get(media_type)
    if validator is None:
        raise _invalid(f"unsupported manifest media type {media_type!r}")
    if media_type in (DOCKER_MANIFEST, DOCKER_LIST) and declared != media_type:
        raise _invalid("Docker manifests must declare their mediaType")
    return validator(doc, media_type)
