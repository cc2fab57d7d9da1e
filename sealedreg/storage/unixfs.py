"""UnixFS files as IPFS DAGs, built exactly as Kubo builds them.

Import parameters (Kubo's `unixfs-v1-2025` profile, docs/format.md §3), named once
here: CIDv1, sha2-256, raw leaves, fixed-size chunks of 1 MiB, a balanced
DAG with at most 1024 links per node. A single-chunk file is just its raw
leaf. Inner nodes are dag-pb `PBNode`s whose `Data` is a UnixFS `File`
carrying `filesize` and one `blocksizes` entry per child.

The builder streams: it holds one partial node per tree level, never the
file. Byte-for-byte agreement with Kubo is checked against a real Kubo
(`tests/integration/test_cid_kubo.py`) and against recorded vectors
(`tests/vectors/unixfs.json`).
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Callable, Iterable, Iterator

from sealedreg.storage.cid import CID, DAG_PB, RAW, CIDError, read_varint, varint

CHUNK_SIZE = 1 << 20
MAX_LINKS = 1024
UNIXFS_FILE = 2
UNIXFS_RAW = 0

BlockSink = Callable[[CID, bytes], None]
BlockSource = Callable[[CID], bytes]


class DagError(ValueError):
    """A block that is not the UnixFS file structure we expect."""


# -- protobuf, just the wire format dag-pb and UnixFS need ----------------------
def _key(field_no: int, wire: int) -> bytes:
    return varint(field_no << 3 | wire)


def _bytes_field(field_no: int, value: bytes) -> bytes:
    return _key(field_no, 2) + varint(len(value)) + value


def _uint_field(field_no: int, value: int) -> bytes:
    return _key(field_no, 0) + varint(value)


def _fields(buf: bytes) -> Iterator[tuple[int, int, int | bytes]]:
    """(field number, wire type, value) for each field of a protobuf message."""
    pos = 0
    while pos < len(buf):
        try:
            key, pos = read_varint(buf, pos)
            field_no, wire = key >> 3, key & 7
            if wire == 0:
                value, pos = read_varint(buf, pos)
                yield field_no, wire, value
            elif wire == 2:
                length, pos = read_varint(buf, pos)
                if pos + length > len(buf):
                    raise DagError("truncated protobuf field")
                yield field_no, wire, bytes(buf[pos:pos + length])
                pos += length
            else:
                raise DagError(f"unexpected protobuf wire type {wire}")
        except CIDError as exc:
            raise DagError(str(exc)) from None


# -- UnixFS Data and dag-pb nodes ----------------------------------------------
@dataclass
class Link:
    cid: CID
    tsize: int  # cumulative size of the serialised subtree
    name: str = ""


@dataclass
class FileNode:
    links: list[Link] = field(default_factory=list)
    blocksizes: list[int] = field(default_factory=list)
    data: bytes = b""  # inline file data (Kubo without raw leaves); never written by us
    filesize: int = 0


def encode_file_node(links: list[Link], blocksizes: list[int]) -> bytes:
    """Serialise an inner UnixFS file node: dag-pb Links first, then Data."""
    unixfs = _uint_field(1, UNIXFS_FILE) + _uint_field(3, sum(blocksizes))
    unixfs += b"".join(_uint_field(4, b) for b in blocksizes)
    out = bytearray()
    for link in links:
        pblink = _bytes_field(1, link.cid.to_bytes()) + _bytes_field(2, link.name.encode())
        pblink += _uint_field(3, link.tsize)
        out += _bytes_field(2, pblink)
    out += _bytes_field(1, unixfs)
    return bytes(out)


def _decode_link(raw: bytes) -> Link:
    """One dag-pb PBLink: Hash (1), Name (2), Tsize (3)."""
    link_cid: CID | None = None
    tsize, name = 0, ""
    for f, w, v in _fields(raw):
        if f == 1 and w == 2:
            try:
                link_cid = CID.from_bytes(v)  # type: ignore[arg-type]
            except CIDError as exc:
                raise DagError(f"bad link: {exc}") from None
        elif f == 2 and w == 2:
            name = v.decode(errors="replace")  # type: ignore[union-attr]
        elif f == 3 and w == 0:
            tsize = v  # type: ignore[assignment]
    if link_cid is None:
        raise DagError("link without a hash")
    return Link(link_cid, tsize, name)


def decode_file_node(block: bytes) -> FileNode:
    node = FileNode()
    unixfs: bytes | None = None
    for field_no, wire, value in _fields(block):
        if field_no == 2 and wire == 2:
            node.links.append(_decode_link(value))  # type: ignore[arg-type]
        elif field_no == 1 and wire == 2:
            unixfs = value  # type: ignore[assignment]
    if unixfs is None:
        raise DagError("dag-pb node without UnixFS data")
    kind = None
    for f, w, v in _fields(unixfs):
        if f == 1 and w == 0:
            kind = v
        elif f == 2 and w == 2:
            node.data = v  # type: ignore[assignment]
        elif f == 3 and w == 0:
            node.filesize = v  # type: ignore[assignment]
        elif f == 4 and w == 0:
            node.blocksizes.append(v)  # type: ignore[arg-type]
        elif f == 4 and w == 2:  # packed, in case a writer used it
            pos = 0
            while pos < len(v):  # type: ignore[arg-type]
                try:
                    b, pos = read_varint(v, pos)  # type: ignore[arg-type]
                except CIDError as exc:
                    raise DagError(f"packed blocksizes: {exc}") from None
                node.blocksizes.append(b)
    if kind not in (UNIXFS_FILE, UNIXFS_RAW):
        raise DagError(f"not a UnixFS file node (type {kind})")
    if len(node.blocksizes) != len(node.links):
        raise DagError("blocksizes and links disagree")
    if node.filesize != len(node.data) + sum(node.blocksizes):
        raise DagError("filesize disagrees with the node's contents")
    return node


# -- building -------------------------------------------------------------------
@dataclass(frozen=True)
class DagRoot:
    cid: CID
    size: int  # file bytes
    tsize: int  # bytes of all blocks in the DAG


class FileDagBuilder:
    """Balanced DAG over raw leaves, streamed leaf by leaf.

    Produces Kubo's balanced layout: the tree is filled left to right, a full
    node is closed only when another leaf needs room, and the root is the
    single remaining node (or the only leaf).
    """

    def __init__(self, sink: BlockSink, max_links: int = MAX_LINKS) -> None:
        if max_links < 2:
            raise ValueError("max_links must be at least 2")
        self._sink = sink
        self._max = max_links
        self._levels: list[list[tuple[Link, int]]] = []  # per level: (link, file bytes)
        self._leaves = 0

    def add_leaf(self, data: bytes) -> CID:
        cid = CID.of(data, RAW)
        self._sink(cid, data)
        self._push(0, (Link(cid, len(data)), len(data)))
        self._leaves += 1
        return cid

    def _push(self, level: int, entry: tuple[Link, int]) -> None:
        if level == len(self._levels):
            self._levels.append([])
        if len(self._levels[level]) == self._max:
            self._push(level + 1, self._close(level))
        self._levels[level].append(entry)

    def _close(self, level: int) -> tuple[Link, int]:
        entries = self._levels[level]
        self._levels[level] = []
        block = encode_file_node([link for link, _ in entries], [size for _, size in entries])
        cid = CID.of(block, DAG_PB)
        self._sink(cid, block)
        return Link(cid, len(block) + sum(link.tsize for link, _ in entries)), sum(size for _, size in entries)

    def finish(self) -> DagRoot:
        if self._leaves == 0:
            self.add_leaf(b"")
        level = 0
        while level < len(self._levels) - 1:  # closing a level may add one above it
            if self._levels[level]:
                self._push(level + 1, self._close(level))
            level += 1
        top = len(self._levels) - 1
        entries = self._levels[top]
        if len(entries) == 1 and (top > 0 or self._leaves == 1):
            link, size = entries[0]
        else:
            link, size = self._close(top)
        return DagRoot(link.cid, size, link.tsize)


def build_file(chunks: Iterable[bytes], sink: BlockSink, max_links: int = MAX_LINKS) -> DagRoot:
    builder = FileDagBuilder(sink, max_links)
    for chunk in chunks:
        builder.add_leaf(chunk)
    return builder.finish()


def chunked(data: bytes, size: int = CHUNK_SIZE) -> list[bytes]:
    """Split `data` as Kubo's fixed-size chunker does (nothing for empty input)."""
    return [data[i:i + size] for i in range(0, len(data), size)]


# -- reading --------------------------------------------------------------------
@dataclass(frozen=True)
class LeafSpan:
    cid: CID
    start: int  # first byte wanted within the leaf
    end: int  # one past the last byte wanted
    inline: bytes | None = None  # data held in an inner node rather than a leaf


def leaf_spans(get_block: BlockSource, root: CID, offset: int, length: int) -> list[LeafSpan]:
    """The leaves (and byte ranges in them) that hold file bytes [offset, offset+length).

    Inner nodes are fetched through `get_block` (which must verify them);
    leaves are only named, for the caller to fetch.
    """
    spans: list[LeafSpan] = []
    if length <= 0:
        return spans

    def walk(cid: CID, base: int, node_size: int | None) -> None:
        lo, hi = offset, offset + length
        if cid.codec == RAW:
            size = node_size if node_size is not None else len(get_block(cid))
            a, b = max(lo - base, 0), min(hi - base, size)
            if a < b:
                spans.append(LeafSpan(cid, a, b))
            return
        node = decode_file_node(get_block(cid))
        pos = base
        if node.data:
            a, b = max(lo - pos, 0), min(hi - pos, len(node.data))
            if a < b:
                spans.append(LeafSpan(cid, a, b, node.data[a:b]))
            pos += len(node.data)
        for link, size in zip(node.links, node.blocksizes):
            if pos >= hi:
                break
            if pos + size > lo:
                walk(link.cid, pos, size)
            pos += size

    walk(root, 0, None)
    return spans


def walk_blocks(get_block: BlockSource, root: CID) -> Iterator[tuple[CID, bytes]]:
    """Every block of the DAG under `root`, depth first, each exactly once."""
    seen: set[CID] = set()
    stack = [root]
    while stack:
        cid = stack.pop()
        if cid in seen:
            continue
        seen.add(cid)
        block = get_block(cid)
        yield cid, block
        if cid.codec == DAG_PB:
            stack.extend(reversed([link.cid for link in node_links(block)]))


def node_links(block: bytes) -> list[Link]:
    """The links of a dag-pb node, file or directory."""
    try:
        return decode_file_node(block).links
    except DagError:
        return decode_directory(block)


# -- directories (the namespace tree) ------------------------------------------
UNIXFS_DIRECTORY = 1


def encode_directory(links: list[Link]) -> bytes:
    """A plain UnixFS directory node: named links sorted by name, then Data."""
    out = bytearray()
    for link in sorted(links, key=lambda l: l.name.encode()):
        pblink = _bytes_field(1, link.cid.to_bytes()) + _bytes_field(2, link.name.encode())
        pblink += _uint_field(3, link.tsize)
        out += _bytes_field(2, pblink)
    out += _bytes_field(1, _uint_field(1, UNIXFS_DIRECTORY))
    return bytes(out)


def file_size(block: bytes, cid: CID) -> int:
    """Bytes of file content under the DAG whose root block is `block`."""
    if cid.codec == RAW:
        return len(block)
    return decode_file_node(block).filesize


def dag_tsize(block: bytes, cid: CID) -> int:
    """Cumulative size of the DAG whose root block is `block` (as links record it)."""
    if cid.codec == RAW:
        return len(block)
    return len(block) + sum(link.tsize for link in decode_file_node(block).links)


def decode_directory(block: bytes) -> list[Link]:
    """The named links of a plain UnixFS directory node, which must be
    canonical: names valid UTF-8, strictly increasing as bytes (so no name
    twice), none empty, `.`, `..` or holding `/`. A reader that let a
    duplicate name through could check one link and follow the other."""
    links: list[Link] = []
    kind = None
    for field_no, wire, value in _fields(block):
        if field_no == 2 and wire == 2:
            links.append(_decode_link(value))  # type: ignore[arg-type]
        elif field_no == 1 and wire == 2:
            for f, w, v in _fields(value):  # type: ignore[arg-type]
                if f == 1 and w == 0:
                    kind = v
    if kind != UNIXFS_DIRECTORY:
        raise DagError("not a UnixFS directory")
    previous: bytes | None = None
    for link in links:
        raw = link.name.encode()
        if "\ufffd" in link.name or not raw or link.name in (".", "..") or "/" in link.name:
            raise DagError(f"directory entry {link.name!r} is not a valid name")
        if previous is not None and raw <= previous:
            raise DagError(f"directory entries are not in strict name order at {link.name!r}")
        previous = raw
    return links


@dataclass(frozen=True)
class PathEntry:
    """A file (any DAG) placed at `path` in a directory tree."""

    path: str  # components separated by "/", none empty, "." or ".."
    cid: CID
    tsize: int  # cumulative size of its DAG, as the parent's link records it


def file_entry(path: str, data: bytes, sink: BlockSink) -> PathEntry:
    """A small file as UnixFS blocks (given to `sink`), placed at `path`."""
    root = build_file(chunked(data), sink)
    return PathEntry(path, root.cid, root.tsize)


def build_directories(entries: list[PathEntry], sink: BlockSink) -> CID:
    """Nest `entries` by path into plain UnixFS directories, emit the
    directory blocks bottom-up, and return the root directory's CID. The same
    entries always give the same root (links are sorted by name)."""
    root: dict = {}
    for entry in entries:
        parts = entry.path.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad tree path {entry.path!r}")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{entry.path!r} is below a file")
        if parts[-1] in node:
            raise ValueError(f"{entry.path!r} twice in the tree")
        node[parts[-1]] = entry

    def emit(node: dict) -> tuple[CID, int]:
        links = []
        for name, child in node.items():
            cid, tsize = emit(child) if isinstance(child, dict) else (child.cid, child.tsize)
            links.append(Link(cid, tsize, name))
        block = encode_directory(links)
        cid = CID.of(block, DAG_PB)
        sink(cid, block)
        return cid, len(block) + sum(link.tsize for link in links)

    return emit(root)[0]
