"""Air-gapped transfer: an image and its ciphertext DAGs as one CAR file.

The CAR's single root is an *index* block (raw codec, JSON, `sealedreg-car/v1`):

    {"v": "sealedreg-car/v1", "repository": …, "tag": … | null, "digest": <top manifest>,
     "manifests": [{"digest", "mediaType", "size", "cid", "domain"}, …],   # top first
     "blobs":     [{"digest", "size", "cid", "domain"}, …]}

followed by every block of every manifest and blob DAG, once each. The blocks
are ciphertext; the index is plaintext metadata (digests and names, never
keys). Import stores the blocks (each checked against its CID), then proves
every blob and manifest by decrypting it and checking its digest, and only
then makes anything visible — exactly as a push does.
"""

from __future__ import annotations

import json
from pathlib import Path
from typing import Callable

from anyio import to_thread

from sealedreg.registry import content
from sealedreg.registry import manifests as mf
from sealedreg.registry.digests import Digest
from sealedreg.registry.domains import GLOBAL, namespace_of
from sealedreg.registry.errors import IntegrityError, RegistryError
from sealedreg.registry.index import BlobRecord, ManifestRecord
from sealedreg.registry.refs import is_valid_tag, validate_name
from sealedreg.registry.service import Registry
from sealedreg.storage.car import CarError, CarWriter, read_car
from sealedreg.storage.cid import CID, RAW

INDEX_VERSION = "sealedreg-car/v1"


class TransferError(ValueError):
    """An export or import that cannot be done; the message says why."""


async def export_image(registry: Registry, repo: str, reference: str, out: Path,
                       with_blocks: bool = True, progress: Callable[[int], None] | None = None) -> dict:
    """Write the image `repo:reference` (and, for an index, its children) to a CAR.

    Without blocks the CAR holds the index alone: an importing registry on
    an IPFS node then fetches the blocks by CID from the network.
    `progress(n)` is told the bytes of each block as it is written.
    """
    await registry.settle(namespace_of(repo))  # a CAR holds only stored blobs
    top, _ = await registry.stat_manifest(repo, reference)
    manifests: list[tuple[ManifestRecord, BlobRecord]] = []
    blobs: dict[str, BlobRecord] = {}
    queue = [top.digest]
    while queue:
        digest = queue.pop(0)
        if any(m.digest == digest for m, _ in manifests):
            continue
        record, stored = await registry.stat_manifest(repo, digest)
        manifests.append((record, stored))
        body = (await registry.get_manifest(repo, digest)).body
        info = mf.parse_manifest(body, record.media_type)
        queue.extend(info.manifests)
        for blob_digest in info.blobs:
            blob = await registry.stat_blob(repo, Digest.parse(blob_digest))
            blobs[blob.digest] = blob
    index = {
        "v": INDEX_VERSION,
        "repository": repo,
        "tag": reference if is_valid_tag(reference) else None,
        "digest": top.digest,
        "manifests": [{"digest": m.digest, "mediaType": m.media_type, "size": m.size, "cid": c.content_id,
                       "domain": registry.domains.get(m.domain).kind} for m, c in manifests],
        "blobs": [{"digest": b.digest, "size": b.size, "cid": b.content_id,
                   "domain": registry.domains.get(b.domain).kind}
                  for b in blobs.values()],
    }
    index_block = json.dumps(index, sort_keys=True, separators=(",", ":")).encode()
    index_cid = CID.of(index_block, RAW)
    tmp = out.with_name(out.name + ".part")
    f = await to_thread.run_sync(open, tmp, "wb")
    try:
        writer = CarWriter(f, [index_cid])
        await to_thread.run_sync(writer.add, index_cid, index_block)
        if progress is not None:
            progress(len(index_block))
        seen: set[str] = set()
        roots = [c.content_id for _, c in manifests] + [b.content_id for b in blobs.values()]
        for root in roots if with_blocks else []:
            async for cid, block in registry.store.dag(root):
                if cid not in seen:
                    seen.add(cid)
                    await to_thread.run_sync(writer.add, CID.parse(cid), block)
                    if progress is not None:
                        progress(len(block))
        await to_thread.run_sync(f.close)
        await to_thread.run_sync(tmp.replace, out)
    except BaseException:
        f.close()
        tmp.unlink(missing_ok=True)
        raise
    return {"car": str(out), "root": str(index_cid), "blocks": len(seen) + 1, **index}


async def import_car(registry: Registry, path: Path, progress: Callable[[int], None] | None = None) -> dict:
    """Load a CAR written by `export_image`; return its index. `progress(n)` is
    told how many more bytes of the file have been read and stored, up to its
    size; proving the content follows."""
    async with registry.sweep_lock.writing():  # from the first block stored to the index rows
        return await _import_car(registry, path, progress)


async def _import_car(registry: Registry, path: Path, progress: Callable[[int], None] | None) -> dict:
    f = await to_thread.run_sync(open, path, "rb")
    done = 0
    index: dict | None = None
    try:
        try:
            roots, blocks = await to_thread.run_sync(read_car, f)
        except CarError as exc:
            raise TransferError(f"{path}: {exc}") from None
        if len(roots) != 1:
            raise TransferError(f"{path}: expected one root (the sealedreg index), found {len(roots)}")
        sentinel = object()
        count = 0
        while True:
            try:
                item = await to_thread.run_sync(next, blocks, sentinel)
            except CarError as exc:
                raise TransferError(f"{path}: {exc}") from None
            if item is sentinel:
                break
            cid, block = item  # type: ignore[misc]
            count += 1
            if cid == roots[0]:
                index = _parse_index(block)
            else:
                await registry.store.put_block(str(cid), block)
            if progress is not None:
                position = f.tell()  # the reader is between blocks: its position is the bytes consumed
                progress(position - done)
                done = position
    finally:
        await to_thread.run_sync(f.close)
    if index is None:
        raise TransferError(f"{path}: the index block named by the CAR root is missing")
    repo = validate_name(index["repository"])
    domain = await registry.domain_for(repo)

    def record_of(entry: dict) -> BlobRecord:
        # Content lands in the repository's own dedupe domain, never another.
        if entry["domain"] != domain.kind:
            raise TransferError(f"{entry['digest']} is in the {entry['domain']} domain, but {repo} uses the "
                                f"{domain.kind} domain here")
        return BlobRecord(entry["digest"], entry["size"], entry["cid"], domain.name)

    # Prove everything before making anything visible.
    blobs = []
    for entry in index["blobs"]:
        record = record_of(entry)
        blobs.append((record, await _prove(registry, record)))
    manifests = []
    known = {record.digest for record, _ in blobs}
    for entry in index["manifests"]:
        stored = record_of(entry)
        if stored.size > mf.MAX_MANIFEST_BYTES:
            raise TransferError(f"manifest {stored.digest} is larger than {mf.MAX_MANIFEST_BYTES} bytes")
        blocks = await _prove(registry, stored)
        body = await registry.read_manifest(stored)
        try:
            info = mf.parse_manifest(body, entry["mediaType"])
        except RegistryError as exc:
            raise TransferError(f"manifest {stored.digest}: {exc.message}") from None
        manifests.append((stored, blocks, info))
    listed = {stored.digest for stored, _, _ in manifests}
    for stored, _, info in manifests:
        missing = [d for d in info.blobs if d not in known] + [d for d in info.manifests if d not in listed]
        if missing:
            raise TransferError(f"manifest {stored.digest} references content not in the CAR: {missing[:3]}")
    for record, _ in blobs:
        await registry.store.retain(record.content_id)
    for stored, _, _ in manifests:
        await registry.store.retain(stored.content_id)
    tag = index.get("tag")
    await registry.index.import_image(
        repo,
        blobs,
        [(ManifestRecord(repo, c.digest, c.domain, info.media_type, c.size, info.subject, info.artifact_type,
                         info.annotations), c, blocks, [tag] if tag and c.digest == index["digest"] else [])
         for c, blocks, info in manifests],
    )
    return {"blocks": count, **index}


async def _prove(registry: Registry, record: BlobRecord) -> tuple[str, ...]:
    """The DAG is the one a push would have made, and it holds the claimed content."""
    try:
        return await content.prove(registry.store, record.content_id, registry.key_of(record), record.digest,
                                   record.size)
    except IntegrityError as exc:
        raise TransferError(str(exc)) from None


def _parse_index(block: bytes) -> dict:
    try:
        index = json.loads(block)
    except ValueError:
        raise TransferError("the CAR root is not a sealedreg index") from None
    if not isinstance(index, dict) or index.get("v") != INDEX_VERSION:
        raise TransferError(f"the CAR root is not a {INDEX_VERSION} index")
    try:
        for entry in index["manifests"] + index["blobs"]:
            Digest.parse(entry["digest"])
            CID.parse(entry["cid"])
            if not isinstance(entry["size"], int) or entry["domain"] not in (GLOBAL, "org"):
                raise ValueError
        if not index["manifests"] or index["manifests"][0]["digest"] != index["digest"]:
            raise ValueError
        validate_name(index["repository"])
        if index.get("tag") is not None and not is_valid_tag(index["tag"]):
            raise ValueError
    except (KeyError, TypeError, ValueError, RegistryError) as exc:
        raise TransferError(f"malformed sealedreg index: {exc or 'bad field'}") from None
    return index
