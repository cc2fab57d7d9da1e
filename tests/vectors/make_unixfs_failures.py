"""Regenerate tests/vectors/unixfs-failures.json.

    python -m tests.vectors.make_unixfs_failures > tests/vectors/unixfs-failures.json

dag-pb blocks that are not the UnixFS nodes sealedreg reads (docs/format.md §3,
§6): each must be refused by `decoder` (`file` or `directory`) with `error`.
The valid shapes are pinned by unixfs.json (against Kubo).
"""

import json

from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.unixfs import Link, _bytes_field, _uint_field, encode_directory, encode_file_node

LEAF = CID.of(b"leaf", RAW)


def unixfs(kind: int, filesize: int | None = None, blocksizes: tuple[int, ...] = ()) -> bytes:
    data = _uint_field(1, kind)
    if filesize is not None:
        data += _uint_field(3, filesize)
    return data + b"".join(_uint_field(4, b) for b in blocksizes)


def node(links: list[bytes], data: bytes | None) -> bytes:
    out = b"".join(_bytes_field(2, link) for link in links)
    return out + (_bytes_field(1, data) if data is not None else b"")


def link(cid: CID | None = LEAF, tsize: int = 4) -> bytes:
    return (_bytes_field(1, cid.to_bytes()) if cid else b"") + _bytes_field(2, b"") + _uint_field(3, tsize)


def main() -> None:
    good_file = encode_file_node([Link(LEAF, 4)], [4])
    cases = [
        ("file", "no UnixFS data", node([link()], None), "without UnixFS data"),
        ("file", "a directory where a file should be", encode_directory([Link(LEAF, 4, "x")]), "not a UnixFS file"),
        ("file", "more links than block sizes", node([link(), link()], unixfs(2, 4, (4,))), "disagree"),
        ("file", "filesize that does not add up", node([link()], unixfs(2, 5, (4,))), "filesize disagrees"),
        ("file", "a link without a hash", node([link(None)], unixfs(2, 4, (4,))), "without a hash"),
        ("file", "a link with a broken CID", node([_bytes_field(1, b"\x01\x55\x12\x20abc")], unixfs(2, 4, (4,))),
         "bad link"),
        ("file", "cut short", good_file[:-3], "truncated protobuf field"),
        ("file", "an unsupported wire type", good_file + b"\x0d\x00\x00\x00\x00", "wire type"),
        ("directory", "a file where a directory should be", good_file, "not a UnixFS directory"),
    ]
    print(json.dumps({
        "format": "dag-pb + UnixFS nodes that must be refused",
        "cases": [{"decoder": d, "name": n, "block_hex": b.hex(), "error": e} for d, n, b, e in cases],
    }, indent=2))


if __name__ == "__main__":
    main()
