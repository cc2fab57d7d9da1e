"""Our UnixFS DAG builder gives the same root CID as Kubo (docs/format.md §3).

`sealedreg.storage.unixfs.file_cid(chunks, max_links)` is the CIDv1 of the
UnixFS file whose raw leaves are exactly `chunks`, in order, in a balanced
DAG with at most `max_links` links per node.  Kubo's answer comes from
`ipfs add --only-hash` with the same chunk size and width, on the same bytes.

Cases: the real parameters (1 MiB chunks, 1024 links) around the chunk
boundaries; and small chunks / widths that Kubo accepts (chunks down to 1
byte, widths down to 2) to build trees of 2-4 internal levels cheaply,
including exactly full levels (width**k chunks) and one chunk more.
"""

from __future__ import annotations

from pathlib import Path

import pytest

from tests.helpers.kubo import kubo_add_only_hash
from tests.helpers.unixfs_vectors import chunked, content, load_vectors

pytestmark = [pytest.mark.integration, pytest.mark.usefixtures("kubo_built")]

MiB = 1024 * 1024


@pytest.fixture(scope="module")
def hash_dir(tmp_path_factory: pytest.TempPathFactory) -> Path:
    """One offline Kubo repo for the whole module (`kubo_add_only_hash` makes it once)."""
    return tmp_path_factory.mktemp("kubo-cid")


def _file_cid():
    from tests.helpers.unixfs_vectors import file_cid
    return file_cid


def _check(seed: int, size: int, chunk_size: int, max_links: int, hash_dir: Path) -> str:
    data = content(seed, size)
    want = kubo_add_only_hash(data, chunk_size=chunk_size, max_links=max_links, tmpdir=hash_dir)
    chunks = chunked(data, chunk_size)
    got = _file_cid()(chunks, max_links=max_links)
    assert got == want, (f"size={size} chunk={chunk_size} width={max_links} "
                         f"({len(chunks)} leaves): ours {got}, Kubo {want}")
    return want


# --------------------------------------------------------------------------- 1 MiB chunks, 1024 links


@pytest.mark.parametrize("size", [0, 1, MiB - 1, MiB, MiB + 1, 3 * MiB + 5],
                         ids=["0", "1", "1MiB-1", "1MiB", "1MiB+1", "3MiB+5"])
def test_real_chunk_size(size: int, hash_dir: Path) -> None:
    cid = _check(1000 + size % 997, size, MiB, 1024, hash_dir)
    # one chunk (incl. the empty file): the root is the raw leaf itself
    assert cid.startswith("bafkrei" if size <= MiB else "bafybei")


def test_default_width_is_1024(hash_dir: Path) -> None:
    data = content(77, 2 * MiB)
    assert _file_cid()(chunked(data, MiB)) == kubo_add_only_hash(data, tmpdir=hash_dir)


# --------------------------------------------------------------------------- small chunks and widths


def _levels(n_chunks: int, width: int) -> int:
    """Internal levels above the leaves in Kubo's balanced layout."""
    levels, cap = 0, 1
    while cap < n_chunks:
        levels += 1
        cap *= width
    return levels


SMALL = [
    # (chunk_size, width, number of chunks, bytes short in the last chunk)
    (256, 4, 2, 0),
    (256, 4, 3, 17),
    (256, 4, 4, 0),       # one full level
    (256, 4, 5, 0),       # 2 levels
    (256, 4, 11, 100),
    (256, 4, 16, 0),      # 2 full levels
    (256, 4, 17, 0),      # 3 levels, the 2nd root child a single-child chain
    (256, 4, 17, 255),    # ... whose only leaf is 1 byte
    (256, 4, 40, 0),
    (256, 4, 64, 0),      # 3 full levels
    (256, 4, 65, 0),      # 4 levels
    (1, 2, 2, 0),         # Kubo's minimums: 1-byte chunks, 2 links per node
    (1, 2, 7, 0),
    (1, 2, 8, 0),
    (1, 2, 9, 0),
    (1, 2, 33, 0),
    (1000, 3, 9, 0),
    (1000, 3, 10, 999),
    (1000, 3, 27, 0),
    (1000, 3, 28, 0),
    (4096, 8, 64, 0),
    (4096, 8, 65, 4095),
    (1, 1024, 1024, 0),   # the real width: one full level
    (1, 1024, 1025, 0),   # ... and one more leaf (2 levels)
]


@pytest.mark.parametrize("chunk_size,width,n_chunks,short", SMALL,
                         ids=[f"c{c}-w{w}-n{n}" + (f"-short{s}" if s else "") for c, w, n, s in SMALL])
def test_small_trees(chunk_size: int, width: int, n_chunks: int, short: int, hash_dir: Path) -> None:
    size = n_chunks * chunk_size - short
    assert len(chunked(content(0, size), chunk_size)) == n_chunks
    assert _levels(n_chunks, width) >= 1
    _check(n_chunks * 31 + width, size, chunk_size, width, hash_dir)


def test_three_levels_at_width_1024(hash_dir: Path) -> None:
    """1 MiB + 1 one-byte leaves: width**2 + 1 chunks, 3 levels at the real width."""
    _check(4242, 1024 * 1024 + 1, 1, 1024, hash_dir)


# --------------------------------------------------------------------------- recorded vectors


VECTORS = load_vectors()["cases"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors_are_kubos(case: dict, hash_dir: Path) -> None:
    """tests/vectors/unixfs.json still says what Kubo says (the unit tests trust it)."""
    data = content(case["seed"], case["size"])
    assert kubo_add_only_hash(data, chunk_size=case["chunk_size"], max_links=case["max_links"],
                              tmpdir=hash_dir) == case["cid"]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors_match_file_cid(case: dict) -> None:
    chunks = chunked(content(case["seed"], case["size"]), case["chunk_size"])
    assert _file_cid()(chunks, max_links=case["max_links"]) == case["cid"]
