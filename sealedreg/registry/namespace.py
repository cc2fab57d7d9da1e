"""What a namespace holds, as the tree builder needs it: the registry's side of
publishing (docs/format.md §6, §8).

The index knows which repositories hold which blobs, manifests and tags, the
policy which repositories are private, the domains each layer's key, the
grants whom a private repository is sealed to. `snapshot` gathers that into
a `NamespaceSnapshot`; `sealedreg.publish.builder` turns it into a tree.
"""

from __future__ import annotations

from typing import Awaitable, Callable

from nacl.public import PublicKey

from sealedreg.crypto.keys import parse_tagged
from sealedreg.publish.builder import NamespaceSnapshot, PublicManifest, PublicTag, TreeBlob
from sealedreg.publish.sealing import PrivateRepository, SealedLayer, SealedRepository
from sealedreg.registry.domains import GLOBAL, Domains
from sealedreg.registry.index import BlobRecord, Index
from sealedreg.registry.policy import Policy

ManifestReader = Callable[[BlobRecord], Awaitable[bytes]]


async def snapshot(index: Index, policy: Policy, domains: Domains, read_manifest: ManifestReader,
                   namespace: str, linked: set[tuple[str, str]] | None = None) -> NamespaceSnapshot:
    """Everything `namespace` holds, split into what is published in the clear
    and what is sealed; `read_manifest` gives a stored manifest's verified bytes.
    `linked`, if given, receives (repo, digest) of every blob the snapshot holds."""
    blob_rows, manifests, tags = await index.namespace_content(namespace)
    if linked is not None:
        linked.update((repo, blob.digest) for repo, blob in blob_rows)
    repos = {repo for repo, _ in blob_rows + manifests} | {repo for repo, _, _ in tags}
    public = {repo for repo in repos if not policy.is_private(repo)}
    snap = NamespaceSnapshot(namespace, policy.namespace(namespace).keys)
    # One entry per stored blob: by digest when it is global and a public
    # repository holds it, else by CID only (org domain, or private-only).
    blobs: dict[tuple[str, str], tuple[BlobRecord, bool]] = {}
    for repo, blob in blob_rows:
        _, by_digest = blobs.get((blob.digest, blob.domain), (blob, False))
        blobs[(blob.digest, blob.domain)] = (blob, by_digest or (blob.domain == GLOBAL and repo in public))
    snap.blobs = [TreeBlob(blob.digest, blob.content_id, by_digest) for blob, by_digest in blobs.values()]
    snap.manifests = [PublicManifest(repo, stored.digest, await read_manifest(stored))
                      for repo, stored in manifests if repo in public]
    snap.tags = [PublicTag(repo, tag, digest) for repo, tag, digest in tags if repo in public]
    for repo in sorted(repos - public):
        # What a recipient needs to pull it: layer keys, never a domain secret.
        layers = {blob.digest: SealedLayer(blob.content_id, blob.size, domains.get(blob.domain).kind,
                                           domains.content_key(blob.digest, blob.domain))
                  for r, blob in blob_rows if r == repo}
        docs = {}
        for r, stored in manifests:
            found = await index.manifest(repo, stored.digest) if r == repo else None
            if found is not None:
                docs[stored.digest] = (found[0].media_type, await read_manifest(stored))
        grants = await index.grants(repo)
        snap.private.append(SealedRepository(
            PrivateRepository(repo, {t: d for r, t, d in tags if r == repo}, docs, layers),
            tuple(PublicKey(parse_tagged(box, "x25519")) for box in grants.values())))
    return snap
