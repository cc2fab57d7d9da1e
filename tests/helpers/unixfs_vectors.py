"""UnixFS file-CID test vectors: deterministic inputs and the root CIDs Kubo gives them.

`tests/vectors/unixfs.json` lists cases as {name, seed, size, chunk_size,
max_links, cid}.  The input of a case is `content(seed, size)`: the
concatenation of sha256(ascii(f"{seed}:{i}")) for i = 0, 1, 2, ... truncated
to `size` bytes; its leaves are `chunked(data, chunk_size)` (fixed-size
chunks, the last one short; one empty chunk for empty data, which is what
Kubo stores for an empty file); `cid` is what Kubo (version in
`kubo_version`) prints for

    ipfs add --only-hash -Q --cid-version=1 --hash=sha2-256 --raw-leaves \
        --chunker=size-<chunk_size> --max-file-links=<max_links> --trickle=false

Regenerate (needs Kubo; see scripts/build-kubo.sh):

    python3 -m tests.helpers.unixfs_vectors
"""

from __future__ import annotations

import hashlib
import json
import tempfile
from pathlib import Path

from sealedreg.storage.unixfs import MAX_LINKS, build_file

VECTORS_PATH = Path(__file__).resolve().parents[1] / "vectors" / "unixfs.json"


def file_cid(chunks, max_links: int = MAX_LINKS) -> str:
    """The CID (text) Kubo gives a file whose leaves are exactly `chunks`."""
    return str(build_file(chunks, lambda cid, block: None, max_links).cid)

MiB = 1024 * 1024

# (name, seed, size, chunk_size, max_links)
CASES: list[tuple[str, int, int, int, int]] = [
    # the real parameters (docs/format.md §3)
    ("empty", 0, 0, MiB, 1024),
    ("one-byte", 1, 1, MiB, 1024),
    ("chunk-minus-1", 2, MiB - 1, MiB, 1024),
    ("one-chunk", 3, MiB, MiB, 1024),
    ("chunk-plus-1", 4, MiB + 1, MiB, 1024),
    ("3chunks-plus-5", 5, 3 * MiB + 5, MiB, 1024),
    # width 1024 with 1-byte chunks: full level and one more
    ("c1-w1024-full", 6, 1024, 1, 1024),
    ("c1-w1024-full-plus-1", 7, 1025, 1, 1024),
    # small trees: chunk 256, width 4 (depth = internal levels above the leaves)
    ("c256-w4-2chunks", 10, 2 * 256, 256, 4),
    ("c256-w4-full-depth1", 11, 4 * 256, 256, 4),
    ("c256-w4-depth2", 12, 5 * 256, 256, 4),
    ("c256-w4-full-depth2", 13, 16 * 256, 256, 4),
    ("c256-w4-depth3", 14, 16 * 256 + 1, 256, 4),
    ("c256-w4-depth3-short-last", 15, 40 * 256 - 100, 256, 4),
    ("c256-w4-full-depth3", 16, 64 * 256, 256, 4),
    ("c256-w4-depth4", 17, 64 * 256 + 1, 256, 4),
    # width 2 (Kubo's minimum), 1-byte chunks: deep trees
    ("c1-w2-depth3-full", 20, 8, 1, 2),
    ("c1-w2-depth4", 21, 9, 1, 2),
    # odd chunk size and width
    ("c1000-w3-depth3", 30, 27 * 1000 + 1, 1000, 3),
]


def content(seed: int, size: int) -> bytes:
    """sha256(f"{seed}:{i}") for i = 0, 1, ... concatenated, cut to `size` bytes."""
    out = bytearray()
    i = 0
    while len(out) < size:
        out += hashlib.sha256(f"{seed}:{i}".encode("ascii")).digest()
        i += 1
    return bytes(out[:size])


def chunked(data: bytes, chunk_size: int) -> list[bytes]:
    """Fixed-size chunks as Kubo's `size-N` chunker cuts them; [b""] for empty data."""
    if not data:
        return [b""]
    return [data[i:i + chunk_size] for i in range(0, len(data), chunk_size)]


def load_vectors(path: Path = VECTORS_PATH) -> dict:
    return json.loads(path.read_text())


def regenerate(path: Path = VECTORS_PATH) -> dict:
    """Ask Kubo for every case's CID and write the vectors file."""
    from tests.helpers.kubo import _run, kubo_add_only_hash, kubo_binary

    kubo_binary()
    with tempfile.TemporaryDirectory() as tmp:
        version = _run(Path(tmp) / "v", ["version", "--number"]).stdout.decode().strip()
        cases = []
        for name, seed, size, chunk_size, max_links in CASES:
            cid = kubo_add_only_hash(content(seed, size), chunk_size=chunk_size,
                                     max_links=max_links, tmpdir=Path(tmp))
            cases.append({"name": name, "seed": seed, "size": size, "chunk_size": chunk_size,
                          "max_links": max_links, "cid": cid})
    doc = {
        "description": "UnixFS file root CIDs computed by Kubo (CIDv1, sha2-256, raw leaves, "
                       "fixed-size chunker, balanced layout); see tests/helpers/unixfs_vectors.py",
        "content": "concat(sha256(ascii(f'{seed}:{i}')) for i = 0, 1, 2, ...)[:size]; leaves = "
                   "fixed-size chunks of chunk_size bytes, the last one short; one empty leaf for size 0",
        "kubo_command": "ipfs add --only-hash -Q --cid-version=1 --hash=sha2-256 --raw-leaves "
                        "--chunker=size-<chunk_size> --max-file-links=<max_links> --trickle=false",
        "kubo_version": version,
        "cases": cases,
    }
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(doc, indent=2) + "\n")
    return doc


if __name__ == "__main__":
    d = regenerate()
    print(f"wrote {len(d['cases'])} vectors (Kubo {d['kubo_version']}) to {VECTORS_PATH}")
