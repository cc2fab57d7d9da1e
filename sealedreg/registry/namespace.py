"""Building a namespace's published tree from the registry's index.

Public repositories appear in plaintext (their manifests and tags are
public by definition); each private repository appears only as one sealed
envelope holding its tags, manifests and layer keys, and its blobs only
under their CIDs (DESIGN §4, §5, §7.5). Nothing is rebuilt when nothing
changed: the tree's state is hashed without the envelopes' randomness.
"""

from __future__ import annotations

import base64
import hashlib
import json

from nacl.public import PublicKey

from sealedreg.crypto.convergent import derive_key
from sealedreg.crypto.envelope import seal
from sealedreg.crypto.keys import parse_tagged
from sealedreg.registry.domains import GLOBAL
from sealedreg.registry.index import BlobRecord
from sealedreg.storage import tree
from sealedreg.storage.cid import CID
from sealedreg.storage.unixfs import dag_tsize


async def build_namespace_tree(registry, namespace: str) -> dict:  # a sealedreg.registry.service.Registry
    policy = registry.policy
    keys = policy.namespace(namespace).keys
    blob_rows, manifests, tags = await registry.index.namespace_content(namespace)
    blocks: list[tuple[CID, bytes]] = []

    def sink(cid: CID, block: bytes) -> None:
        blocks.append((cid, block))

    repos = {repo for repo, _ in blob_rows + manifests} | {repo for repo, _, _ in tags}
    public = {repo for repo in repos if not policy.is_private(repo)}
    private = sorted(repos - public)

    entries: list[tree.Entry] = []
    state = hashlib.sha256()
    if keys is not None:  # new keys: everything must be re-signed and re-sealed
        state.update(f"keys\0{keys.public.sig_text}\0{keys.public.box_text}\n".encode())
    # One entry per stored blob: by digest when it is global and a public
    # repository holds it, else by CID only (org domain, or private-only).
    blobs: dict[tuple[str, str], tuple[BlobRecord, bool]] = {}
    for repo, blob in blob_rows:
        _, by_digest = blobs.get((blob.digest, blob.domain), (blob, False))
        blobs[(blob.digest, blob.domain)] = (blob, by_digest or (blob.domain == GLOBAL and repo in public))
    for blob, by_digest in blobs.values():
        path = tree.blob_path(blob.digest) if by_digest else tree.sealed_blob_path(blob.content_id)
        cid = CID.parse(blob.content_id)
        entries.append(tree.Entry(path, cid, dag_tsize(await registry.store.get_block(blob.content_id), cid)))

    for repo, content in manifests:
        if repo in public:
            body = b"".join([p async for p in registry.read_blob(content)])
            entries.append(tree.file_entry(tree.manifest_path(repo, content.digest), body, sink))
    for repo, tag, digest in tags:
        if repo in public:
            entries.append(tree.file_entry(tree.tag_path(repo, tag), digest.encode(), sink))
    for entry in entries:
        state.update(f"{entry.path}\0{entry.cid}\n".encode())

    envelopes: list[tuple[str, dict, list[PublicKey]]] = []
    for repo in private:
        if keys is None:
            raise ValueError(f"{repo} is private but namespace {namespace} has no keys configured")
        payload = await _private_payload(registry, repo, blob_rows, manifests, tags)
        grants = await registry.index.grants(repo)
        recipients = [keys.box.public_key] + [PublicKey(parse_tagged(box, "x25519")) for box in grants.values()]
        envelopes.append((repo, payload, recipients))
        state.update(tree.envelope_path(namespace, repo).encode() + b"\0" + json.dumps(
            payload, sort_keys=True).encode() + ",".join(sorted(grants)).encode() + b"\n")

    previous = await registry.index.namespace_state(namespace)
    digest = state.hexdigest()
    if previous is not None and previous[2] == digest:
        return {"namespace": namespace, "root": previous[1], "seq": previous[0], "entries": None,
                "changed": False}
    seq = (previous[0] if previous else 0) + 1
    for repo, payload, recipients in envelopes:
        raw = seal(payload, namespace=namespace, envelope_id=tree.envelope_id(namespace, repo), seq=seq,
                   publisher=keys, recipients=recipients)
        entries.append(tree.file_entry(tree.envelope_path(namespace, repo), raw, sink))
    entries.append(tree.file_entry(tree.DESCRIPTOR, tree.descriptor(namespace, seq, keys), sink))
    root = tree.build_tree(entries, sink)
    for cid, block in blocks:
        await registry.store.put_block(str(cid), block)
    await registry.store.publish_tree(namespace, str(root.cid))
    await registry.index.set_namespace_state(namespace, seq, str(root.cid), digest)
    return {"namespace": namespace, "root": str(root.cid), "seq": seq, "entries": root.entries, "changed": True}


async def _private_payload(registry, repo: str, blob_rows: list[tuple[str, BlobRecord]],
                           manifests: list[tuple[str, BlobRecord]], tags: list[tuple[str, str, str]]) -> dict:
    """A private repository's state: what a recipient needs to pull it."""
    layers = {}
    for r, blob in blob_rows:
        if r == repo:
            key = derive_key(blob.digest, registry.domains.get(blob.domain).secret)
            layers[blob.digest] = {"cid": blob.content_id, "size": blob.size,
                                   "domain": registry.domains.get(blob.domain).kind,
                                   "key": base64.b64encode(key).decode()}
    docs = {}
    for r, content in manifests:
        if r == repo:
            body = b"".join([p async for p in registry.read_blob(content)])
            record, _ = await registry.stat_manifest(repo, content.digest)
            docs[content.digest] = {"mediaType": record.media_type, "data": base64.b64encode(body).decode()}
    return {"v": 1, "repo": repo, "tags": {t: d for r, t, d in tags if r == repo}, "manifests": docs,
            "layers": layers}
