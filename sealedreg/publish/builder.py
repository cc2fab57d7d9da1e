"""Building a namespace's tree (docs/format.md §6, §8) from a snapshot of
what the namespace holds, and storing it.

Public repositories appear in plaintext (their manifests and tags are public
by definition); each private repository appears only as one sealed envelope
holding its tags, manifests and layer keys, and its blobs only under their
CIDs. The registry takes the snapshot from its index; this module never
reads the index.

Nothing is rebuilt when nothing changed: the tree's *state* is hashed
without the envelopes' randomness, and `seq` rises only when it changes.
"""

from __future__ import annotations

import hashlib
import json
from dataclasses import dataclass, field


from sealedreg.crypto.envelope import EnvelopeError
from sealedreg.crypto.envelope import VERSION as SEAL_VERSION
from sealedreg.crypto.keys import OrgKeys
from sealedreg.crypto.padding import PaddingError
from sealedreg.crypto.pairwise import PairError
from sealedreg.publish import layout
from sealedreg.publish.descriptor import VERSION as DESCRIPTOR_VERSION, make_descriptor
from sealedreg.publish.sealing import SealedRepository, seal_private
from sealedreg.storage.base import BlobStore
from sealedreg.storage.cid import CID
from sealedreg.storage.unixfs import PathEntry, build_directories, dag_tsize, decode_directory, file_entry


@dataclass(frozen=True)
class TreeBlob:
    """A stored blob: by digest when it is public (global domain, held by a
    public repository), else by CID only."""

    digest: str
    cid: str
    public: bool


@dataclass(frozen=True)
class PublicManifest:
    repo: str
    digest: str
    body: bytes = field(repr=False)


@dataclass(frozen=True)
class PublicTag:
    repo: str
    tag: str
    digest: str


@dataclass
class NamespaceSnapshot:
    namespace: str
    keys: OrgKeys | None
    blobs: list[TreeBlob] = field(default_factory=list)
    manifests: list[PublicManifest] = field(default_factory=list)
    tags: list[PublicTag] = field(default_factory=list)
    private: list[SealedRepository] = field(default_factory=list)


@dataclass(frozen=True)
class TreeState:
    """What the registry remembers of the last tree it built."""

    seq: int
    root: str
    state: str  # hash of the content, without the envelopes' randomness
    expires: int | None = None  # the descriptor's expiry (Unix seconds); None: built before expiries


@dataclass(frozen=True)
class BuiltTree:
    namespace: str
    root: str
    seq: int
    state: str
    changed: bool
    entries: int | None = None  # files in the tree (None: unchanged, not rebuilt)
    expires: int | None = None
    blocks: tuple[str, ...] = ()  # the tree's own blocks written (directories and small files), not blobs'

    def summary(self) -> dict:
        return {"namespace": self.namespace, "root": self.root, "seq": self.seq, "expires": self.expires,
                "entries": self.entries, "changed": self.changed}


class TreeError(ValueError):
    """The namespace cannot be published as configured."""


async def build_tree(store: BlobStore, snap: NamespaceSnapshot, previous: TreeState | None,
                     expires: int | None = None, refresh: bool = False) -> BuiltTree:
    """Build the tree of `snap`, put its blocks in `store` and keep it as the
    namespace's root. With nothing changed since `previous`, nothing is
    written — unless `refresh`, which re-signs the same content under a new
    `seq` and `expires` so a published tree never runs out."""
    blocks: list[tuple[CID, bytes]] = []

    def sink(cid: CID, block: bytes) -> None:
        blocks.append((cid, block))

    keys = snap.keys
    if snap.private and keys is None:
        raise TreeError(f"namespace {snap.namespace} has private repositories but no keys configured")
    state = hashlib.sha256(f"descriptor v{DESCRIPTOR_VERSION}, {SEAL_VERSION}\n".encode())  # a new format: rebuild
    if keys is not None:  # new keys: everything must be re-signed and re-sealed
        state.update(f"keys\0{keys.public.sig_text}\0{keys.public.box_text}\n".encode())
        if keys.previous is not None:
            state.update(f"previous\0{keys.previous.public.sig_text}\n".encode())
    entries: list[PathEntry] = []
    for blob in snap.blobs:
        cid = CID.parse(blob.cid)
        path = layout.blob_path(blob.digest) if blob.public else layout.sealed_blob_path(blob.cid)
        entries.append(PathEntry(path, cid, dag_tsize(await store.get_block(blob.cid), cid)))
    entries += [file_entry(layout.manifest_path(m.repo, m.digest), m.body, sink) for m in snap.manifests]
    entries += [file_entry(layout.tag_path(t.repo, t.tag), t.digest.encode(), sink) for t in snap.tags]
    for entry in entries:
        state.update(f"{entry.path}\0{entry.cid}\n".encode())
    for sealed in snap.private:
        state.update(json.dumps(sealed.contents.payload(), sort_keys=True).encode() + b"\0"
                     + b",".join(sorted(bytes(k) for k in sealed.grantees)).hex().encode() + b"\n")

    digest = state.hexdigest()
    if previous is not None and previous.state == digest and not refresh:
        return BuiltTree(snap.namespace, previous.root, previous.seq, digest, changed=False,
                         expires=previous.expires)
    seq = (previous.seq if previous else 0) + 1
    if snap.private:
        assert keys is not None
        try:
            sealed_files = seal_private(snap.private, namespace=snap.namespace, seq=seq, publisher=keys)
        except (EnvelopeError, PaddingError, PairError) as exc:
            raise TreeError(f"namespace {snap.namespace}: cannot seal its private repositories: {exc}") from None
        entries += [file_entry(path, raw, sink) for path, raw in sealed_files.items()]
    content = _content_links(entries)
    entries.append(file_entry(layout.DESCRIPTOR, make_descriptor(snap.namespace, seq, keys, expires, content), sink))
    root = build_directories(entries, sink)
    for cid, block in blocks:
        await store.put_block(str(cid), block)
    await store.keep_root(snap.namespace, str(root))
    return BuiltTree(snap.namespace, str(root), seq, digest, changed=True, entries=len(entries), expires=expires,
                     blocks=tuple(dict.fromkeys(str(cid) for cid, _ in blocks)))


def _content_links(entries: list[PathEntry]) -> dict[str, str]:
    """The root directory's links without the descriptor: name → CID of each
    top-level entry. Signed in the descriptor, they bind everything else in
    the tree (each CID covers all below it), so a genuine descriptor copied
    into another tree does not verify there."""
    blocks: dict[CID, bytes] = {}
    root = build_directories(entries, lambda cid, block: blocks.__setitem__(cid, block))
    return {link.name: str(link.cid) for link in decode_directory(blocks[root])}
