"""Reading a namespace tree from its root CID (docs/format.md §6, §8): the
other half of `builder`, used by federation and by the tests.

Blocks come from a getter that must verify each block against its CID (every
`BlobStore.get_block` does); the reader adds the tree's own checks: the
descriptor is signed by the key the caller trusts, envelopes are the ones
for the repository asked for, and nothing older than what the caller has
already seen is accepted.

How much of a tree one request may read is bounded by a budget (`read_budget`,
`max_tree_size` in the config): every block the reader uses is charged to the
budget of the context it is read in, so one budget covers everything a
request reads, through however many calls, while a reader shared by
concurrent requests charges each its own.
"""

from __future__ import annotations

import collections
import contextvars
from contextlib import contextmanager
from typing import AsyncIterator, Awaitable, Callable, Iterator, NamedTuple

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto.envelope import Opened
from sealedreg.crypto.keys import KeyError_, OrgKeys, parse_tagged
from sealedreg.crypto.recipient_index import IndexEntry
from sealedreg.publish import layout
from sealedreg.publish.descriptor import MAX_DESCRIPTOR, Descriptor, DescriptorError, verify_descriptor
from sealedreg.publish.sealing import find_private, recipient_index
from sealedreg.storage.cid import CID, DAG_PB, RAW
from sealedreg.storage.dagread import MAX_DEPTH
from sealedreg.storage.unixfs import DagError, decode_directory, decode_file_node

BlockGetter = Callable[[str], Awaitable[bytes]]

MAX_FILE = 16 << 20
"""The largest tree file (manifest, envelope) the reader assembles."""

SMALL_BLOCK, SMALL_BLOCKS = 16 << 10, 512
"""Blocks up to SMALL_BLOCK bytes are remembered by a reader, at most SMALL_BLOCKS of them (≤ 8 MiB)."""

MAX_TREE_SIZE = 64 << 20
"""The default budget (`max_tree_size`): tree bytes one federated request may read."""


class TreeReadError(LookupError):
    """The tree lacks what was asked for, or is not shaped as a sealedreg tree."""


class TreeTooLarge(Exception):
    """Reading on would take the request past its budget (`read_budget`).

    Not a TreeReadError: callers treat those as "not in the tree" and would
    try elsewhere (and so read on), and the tree is not wrong, only more than
    this registry reads for one request."""

    def __init__(self, namespace: str, limit: int, path: str) -> None:
        where = f", at /{path.strip('/')}" if path.strip("/") else ""
        super().__init__(f"{namespace}: this request would read more than {limit} bytes of the namespace's "
                         f"published tree (max_tree_size){where}")
        self.namespace = namespace
        self.limit = limit
        self.path = path


class ReadBudget:
    """Tree bytes one request has read (`used`) and may read (`limit`; 0: no limit)."""

    __slots__ = ("limit", "used")

    def __init__(self, limit: int) -> None:
        self.limit = limit
        self.used = 0

    def charge(self, size: int, namespace: str, path: str) -> None:
        self.used += size
        if self.limit and self.used > self.limit:
            raise TreeTooLarge(namespace, self.limit, path)

    def expect(self, size: int, namespace: str, path: str) -> None:
        """Refuse now what is known to need `size` more bytes than are left (a file's
        declared size, before any of its blocks is fetched)."""
        if self.limit and self.used + size > self.limit:
            raise TreeTooLarge(namespace, self.limit, path)


_BUDGET: contextvars.ContextVar[ReadBudget | None] = contextvars.ContextVar("sealedreg_tree_budget", default=None)


@contextmanager
def read_budget(limit: int) -> Iterator[ReadBudget]:
    """Charge what every TreeReader reads in this context (tasks started in it
    included) to one budget of `limit` bytes (0: count, but no limit). Inside
    another budget's context, that budget goes on: one request, one budget,
    however its steps call each other. Without one, reads are not bounded."""
    current = _BUDGET.get()
    if current is not None:
        yield current
        return
    budget = ReadBudget(limit)
    token = _BUDGET.set(budget)
    try:
        yield budget
    finally:
        _BUDGET.reset(token)


class TreeNode(NamedTuple):
    """One block of a tree, and the path of the directory entry it belongs to."""

    path: str
    cid: CID
    block: bytes


class TreeReader:
    def __init__(self, get_block: BlockGetter, root: str, namespace: str) -> None:
        self._get = get_block
        self.root = CID.parse(root)
        self.namespace = namespace
        self._small: collections.OrderedDict[CID, bytes] = collections.OrderedDict()
        self.verified: Descriptor | None = None  # set by `descriptor()`: private repositories need it

    async def _block(self, cid: CID, path: str = "") -> bytes:
        """A block, verified by the getter, charged to the context's budget
        (remembered or not: what a request may read does not depend on what
        others read before it). Small ones (directories, tags, the descriptor)
        are remembered, least recently used first out: every request walks
        from the root, and a block never changes under its CID."""
        if cid in self._small:
            self._small.move_to_end(cid)
            block = self._small[cid]
        else:
            block = await self._get(str(cid))
            if len(block) <= SMALL_BLOCK:
                self._small[cid] = block
                if len(self._small) > SMALL_BLOCKS:
                    self._small.popitem(last=False)
        budget = _BUDGET.get()
        if budget is not None:
            budget.charge(len(block), self.namespace, path)
        return block

    async def _resolve(self, path: str) -> CID:
        cid = self.root
        parts = [p for p in path.split("/") if p]
        for i, part in enumerate(parts):
            try:
                links = decode_directory(await self._block(cid, "/".join(parts[:i])))
            except DagError:
                raise TreeReadError(f"{path}: {part!r} is below a file") from None
            found = [link.cid for link in links if link.name == part]
            if not found:
                raise TreeReadError(f"{path} is not in the tree")
            cid = found[0]
        return cid

    async def cid(self, path: str) -> CID:
        """The CID of the entry at `path` (a blob's ciphertext root, say)."""
        return await self._resolve(path)

    async def entries(self, path: str = "") -> dict[str, CID]:
        """The directory at `path`: name → CID, read once (for a caller that
        reads many of its entries: `file_at` each, rather than walking to
        the directory again for every one)."""
        try:
            return {link.name: link.cid for link in decode_directory(await self._block(await self._resolve(path),
                                                                                       path))}
        except DagError:
            raise TreeReadError(f"{path} is not a directory") from None

    async def names(self, path: str = "") -> list[str]:
        """The names in the directory at `path`."""
        return list(await self.entries(path))

    async def file(self, path: str, limit: int = MAX_FILE) -> bytes:
        """The bytes of the (small) file at `path`."""
        return await self._file_bytes(await self._resolve(path), limit, path)

    async def file_at(self, cid: CID, path: str, limit: int = MAX_FILE) -> bytes:
        """The bytes of the (small) file `cid`, an entry of `entries(...)` named `path`."""
        return await self._file_bytes(cid, limit, path)

    async def _file_bytes(self, cid: CID, limit: int, path: str, depth: int = 0) -> bytes:
        """The file under `cid`, at most `limit` bytes; every block's length is
        checked against what its parent says before the next is fetched, so a
        crafted DAG cannot make the reader assemble more than `limit`."""
        if depth > MAX_DEPTH:
            raise TreeReadError(f"{path}: the file's DAG is deeper than {MAX_DEPTH} levels")
        if cid.codec == RAW:
            block = await self._block(cid, path)
            if len(block) > limit:
                raise TreeReadError(f"{path} is larger than {limit} bytes")
            return block
        try:
            node = decode_file_node(await self._block(cid, path))
        except DagError as exc:
            raise TreeReadError(f"{path} is not a file: {exc}") from None
        if node.filesize > limit:
            raise TreeReadError(f"{path} is larger than {limit} bytes")
        budget = _BUDGET.get()
        if budget is not None and depth == 0:  # the leaves will hold at least the rest: refuse before fetching them
            budget.expect(node.filesize - len(node.data), self.namespace, path)
        out = bytearray(node.data)
        for link, size in zip(node.links, node.blocksizes):
            if len(out) + size > limit:
                raise TreeReadError(f"{path} is larger than {limit} bytes")
            piece = await self._file_bytes(link.cid, size, path, depth + 1)
            if len(piece) != size:
                raise TreeReadError(f"{path}: a block of {len(piece)} bytes where its parent says {size}")
            out += piece
        if len(out) != node.filesize:
            raise TreeReadError(f"{path}: the file's blocks do not add up to its size")
        return bytes(out)

    async def walk(self) -> AsyncIterator[TreeNode]:
        """Every block of the tree, with the path it hangs under, root first."""
        stack: list[tuple[str, CID]] = [("", self.root)]
        while stack:
            path, cid = stack.pop()
            block = await self._block(cid, path)
            yield TreeNode(path, cid, block)
            if cid.codec != DAG_PB:
                continue
            try:
                children = [(f"{path}/{link.name}", link.cid) for link in decode_directory(block)]
            except DagError:  # a file node: its leaves and inner nodes
                children = [(path, link.cid) for link in decode_file_node(block).links]
            stack.extend(reversed(children))

    # -- what the tree says -------------------------------------------------
    async def descriptor(self, publisher: VerifyKey, min_seq: int = 0, now: float | None = None) -> Descriptor:
        """The descriptor, verified against the key the caller trusts (or the
        key it rotated to), and the tree's top-level entries against the
        `content` it signs. Given `now` (a puller, not an inspection), it must
        also be unexpired and bind the content: a descriptor without `content`
        could be copied into any tree."""
        doc = verify_descriptor(await self.file(layout.DESCRIPTOR, MAX_DESCRIPTOR), publisher, min_seq,
                                self.namespace, now)
        signed = doc.get("content")
        if signed is None:
            if now is not None:
                raise DescriptorError("sealedreg.json does not bind the tree's content (built before "
                                      "descriptors did): the publisher must publish again")
            self.verified = doc
            return doc
        links = {name: str(cid) for name, cid in (await self.entries()).items() if name != layout.DESCRIPTOR}
        if links != signed:
            raise DescriptorError("the tree's content is not what its sealedreg.json signed: "
                                  "a genuine descriptor in someone else's tree")
        self.verified = doc
        return doc

    async def tag(self, repo: str, tag: str) -> str:
        """The manifest digest a public tag names."""
        return (await self.file(layout.tag_path(repo, tag))).decode()

    async def manifest(self, repo: str, digest: str) -> bytes:
        """A public manifest's exact bytes (the caller checks them against `digest`)."""
        return await self.file(layout.manifest_path(repo, digest))

    # -- private repositories (after `descriptor()` verified) ---------------
    def _signed(self) -> tuple[Descriptor, VerifyKey, PublicKey | None]:
        if self.verified is None:
            raise TreeReadError("the descriptor must be verified before a private repository is read")
        doc = self.verified
        try:
            box = PublicKey(parse_tagged(doc.box, "x25519")) if doc.box else None
            return doc, VerifyKey(parse_tagged(doc.signer, "ed25519")), box
        except KeyError_ as exc:
            raise DescriptorError(f"sealedreg.json names a malformed key: {exc}") from None

    async def open_private(self, repo: str, recipients: list[OrgKeys]) -> Opened | None:
        """The envelope of private repository `repo`, found through the first of
        `recipients` that may open it, verified against the descriptor's key and
        opened; None when none of them may (or there is no such repository).
        Envelopes older than the tree are refused."""
        doc, publisher, box = self._signed()
        return await find_private(self.file, namespace=self.namespace, repo=repo, version=doc.version,
                                  seq=doc.seq, publisher=publisher, publisher_box=box, recipients=recipients)

    async def envelope(self, repo: str, recipient: OrgKeys) -> bytes:
        """The unopened envelope of `repo`, where `recipient`'s index says it is
        (v1: at the name computed from `repo`); TreeReadError when it has none."""
        doc, _, _ = self._signed()
        if doc.version < 2:
            return await self.file(layout.envelope_path(layout.v1_envelope_id(self.namespace, repo)))
        for entry in await self.private_entries(recipient):
            if entry.repo == repo:
                return await self.file(layout.envelope_path(entry.envelope))
        raise TreeReadError(f"{repo}: no envelope in the tree that this key may open")

    async def private_entries(self, recipient: OrgKeys) -> list[IndexEntry]:
        """What `recipient`'s index lists in this (v2) tree: nothing for others, and
        nothing in a v1 tree, which has no indexes."""
        doc, _, box = self._signed()
        if doc.version < 2 or box is None:
            return []
        return [entry for _, entry in await recipient_index(self.file, namespace=self.namespace, seq=doc.seq,
                                                            publisher_box=box, recipient=recipient)]
