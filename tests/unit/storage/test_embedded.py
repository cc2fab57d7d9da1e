"""The embedded backend's block directory: atomic, verified, self-healing."""

import asyncio
import random

import pytest

from sealedreg.storage.base import ContentCorrupt, ContentMissing
from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.unixfs import chunked
from tests.helpers.unixfs_vectors import file_cid


@pytest.fixture
def store(tmp_path):
    (tmp_path / "tmp").mkdir()
    return EmbeddedStore(tmp_path / "blocks", tmp_path / "tmp", durable=True)


async def _chunks(data: bytes, size: int = 1 << 20):
    for c in chunked(data, size):
        yield c


def run(coro):
    return asyncio.run(coro)


DATA = random.Random(1).randbytes(2_300_000)  # a root and three distinct leaves


def test_put_read_and_dedupe(store, tmp_path):
    stored = run(store.put_chunks(_chunks(DATA)))
    assert stored.content_id == file_cid(chunked(DATA)) and stored.size == len(DATA)
    assert len(stored.blocks) == 4
    files = sorted(p for p in (tmp_path / "blocks").rglob("*") if p.is_file())
    again = run(store.put_chunks(_chunks(DATA)))
    assert again == stored and sorted(p for p in (tmp_path / "blocks").rglob("*") if p.is_file()) == files

    async def read(o, n, verify=True):
        return b"".join([p async for p in store.read(stored.content_id, o, n, verify_leaves=verify)])

    assert run(read(0, len(DATA))) == DATA
    assert run(read(1_048_570, 20)) == DATA[1_048_570:1_048_590]
    assert run(store.size(stored.content_id)) == len(DATA)
    assert list(p.name for p in (tmp_path / "tmp").iterdir()) == []


def test_a_corrupt_block_already_there_is_replaced(store, tmp_path):
    stored = run(store.put_chunks(_chunks(b"payload" * 1000)))
    (path,) = [p for p in (tmp_path / "blocks").rglob("*") if p.is_file()]
    path.write_bytes(b"")  # torn by a crash
    with pytest.raises(ContentCorrupt):
        run(store.get_block(stored.content_id))
    run(store.put_chunks(_chunks(b"payload" * 1000)))  # the same content pushed again
    assert run(store.get_block(stored.content_id)) == b"payload" * 1000


def test_corrupt_and_missing_blocks_are_errors(store, tmp_path):
    stored = run(store.put_chunks(_chunks(DATA)))
    leaf = CID.of(chunked(DATA)[1], RAW)
    path = store.blocks.path(leaf)
    raw = bytearray(path.read_bytes())
    raw[0] ^= 1
    path.write_bytes(bytes(raw))

    async def read_all():
        return [p async for p in store.read(stored.content_id)]

    with pytest.raises(ContentCorrupt):
        run(read_all())
    path.unlink()
    with pytest.raises(ContentMissing):
        run(read_all())
    with pytest.raises(ContentMissing):
        run(store.get_block("not-a-cid"))
    assert run(store.exists("../../etc/passwd")) is False


def test_put_block_checks_the_cid(store):
    cid = CID.of(b"right", RAW)
    with pytest.raises(ContentCorrupt):
        run(store.put_block(str(cid), b"wrong"))
    run(store.put_block(str(cid), b"right"))
    assert run(store.get_block(str(cid))) == b"right"
