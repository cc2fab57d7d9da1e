"""The straight content path: verified plaintext in, verified plaintext out, and
every way stored content can be wrong is caught before or while it is served."""

import asyncio
import hashlib

import pytest

from sealedreg.crypto import convergent as ce
from sealedreg.registry import content
from sealedreg.registry.errors import IntegrityError
from sealedreg.storage.cid import CID
from sealedreg.storage.unixfs import build_file, chunked

BLOB = bytes((i * 7919) % 256 for i in range(2 * ce.PLAIN_CHUNK + 4321))
DIGEST = "sha256:" + hashlib.sha256(BLOB).hexdigest()
KEY = ce.derive_key(DIGEST)


def run(coro):
    return asyncio.run(coro)



@pytest.fixture
def stored(store, tmp_path):
    f = tmp_path / "upload"
    f.write_bytes(BLOB + b"trailing bytes past the verified size")
    return run(content.store_file(store, f, len(BLOB), KEY, DIGEST))


def read(store, cid, key=KEY, digest=DIGEST, size=len(BLOB), offset=0, length=None) -> bytes:
    async def go():
        return b"".join([p async for p in content.read_verified(store, cid, key, digest, size, offset, length)])
    return run(go())


def test_store_file_is_the_codec_and_the_dag(store, stored):
    assert stored.content_id == str(build_file(chunked(ce.encrypt(BLOB, KEY)), lambda c, b: None).cid)
    assert stored.size == ce.ciphertext_size(len(BLOB)) and len(stored.blocks) == 4


def test_store_bytes_and_read_all(store):
    small = b'{"schemaVersion":2}'
    digest = "sha256:" + hashlib.sha256(small).hexdigest()
    key = ce.derive_key(digest)
    put = run(content.store_bytes(store, small, key))
    assert run(content.read_all(store, put.content_id, key, digest, len(small))) == small


def test_whole_and_ranged_reads(store, stored):
    assert read(store, stored.content_id) == BLOB
    for offset, length in ((0, 1), (ce.PLAIN_CHUNK - 3, 10), (len(BLOB) - 5, 5), (100, ce.PLAIN_CHUNK + 7)):
        assert read(store, stored.content_id, offset=offset, length=length) == BLOB[offset:offset + length]


def test_the_empty_blob_is_authenticated_too(store):
    digest = "sha256:" + hashlib.sha256(b"").hexdigest()
    put = run(content.store_bytes(store, b"", ce.derive_key(digest)))
    assert read(store, put.content_id, ce.derive_key(digest), digest, 0) == b""
    with pytest.raises(IntegrityError):
        read(store, put.content_id, KEY, digest, 0)


def test_wrong_key_or_digest_never_yields_a_complete_response(store, stored):
    with pytest.raises(IntegrityError):
        read(store, stored.content_id, key=ce.derive_key("sha256:" + "0" * 64))
    other = "sha256:" + "1" * 64  # right key, wrong digest claimed: every chunk decrypts, the hash does not match

    async def until_error():
        got = []
        with pytest.raises(IntegrityError, match="does not match its digest"):
            async for piece in content.read_verified(store, stored.content_id, KEY, other, len(BLOB)):
                got.append(piece)
        return b"".join(got)

    # Every authenticated chunk went out; only the last few bytes waited for the digest.
    assert run(until_error()) == BLOB[:len(BLOB) - content._HELD_BACK]


class GatedStore:
    """The store's ciphertext, but nothing past its first `pieces` pieces until `gate` opens."""

    def __init__(self, store, pieces: int) -> None:
        self.store, self.pieces, self.gate = store, pieces, asyncio.Event()

    async def read(self, cid, offset=0, length=None, verify_leaves=True):
        n = 0
        async for piece in self.store.read(cid, offset, length, verify_leaves):
            if n == self.pieces:
                await self.gate.wait()
            n += 1
            yield piece


class TricklingStore(GatedStore):
    """The first chunk at once, then the next one a KiB at a time, like a slow
    network (all but its last byte, and only until `gate` opens), then the rest
    once it has."""

    async def read(self, cid, offset=0, length=None, verify_leaves=True):
        whole = b"".join([p async for p in self.store.read(cid, offset, length, verify_leaves)])
        yield whole[:ce.CHUNK]
        at = ce.CHUNK
        while at < 2 * ce.CHUNK - 1 and not self.gate.is_set():
            await asyncio.sleep(0.001)
            yield whole[at:min(at + 1024, 2 * ce.CHUNK - 1)]
            at = min(at + 1024, 2 * ce.CHUNK - 1)
        await self.gate.wait()
        yield whole[at:]


def test_a_chunk_goes_out_when_decrypted_not_when_the_next_one_is_complete(store, stored):
    trickling = TricklingStore(store, 0)

    async def go():
        reading = content.read_verified(trickling, stored.content_id, KEY, DIGEST, len(BLOB))
        first = await asyncio.wait_for(anext(reading), timeout=10)
        trickling.gate.set()
        return first + b"".join([p async for p in reading])

    assert run(go()) == BLOB


def test_a_whole_read_releases_its_first_chunk_before_the_next_is_read(store, stored):
    gated = GatedStore(store, 1)

    async def go():
        reading = content.read_verified(gated, stored.content_id, KEY, DIGEST, len(BLOB))
        first = await asyncio.wait_for(anext(reading), timeout=10)  # the store is still holding chunk 2
        gated.gate.set()
        return first + b"".join([p async for p in reading])

    assert run(go()) == BLOB


def test_a_tampered_leaf_is_caught_on_whole_and_ranged_reads(store, stored, tmp_path):
    leaf = CID.parse(stored.blocks[0])  # the first leaf (leaves come before the root)
    path = store.blocks.path(leaf)
    raw = bytearray(path.read_bytes())
    raw[10] ^= 1
    path.write_bytes(bytes(raw))
    with pytest.raises(IntegrityError):
        read(store, stored.content_id)
    with pytest.raises(IntegrityError):
        read(store, stored.content_id, offset=5, length=10)


def test_prove_accepts_a_pushed_dag_and_refuses_a_foreign_one(store, stored):
    blocks = run(content.prove(store, stored.content_id, KEY, DIGEST, len(BLOB)))
    assert set(blocks) == set(stored.blocks)
    odd = run(store.put_chunks(_pieces(ce.encrypt(BLOB, KEY), 300_000)))  # same ciphertext, other leaves
    with pytest.raises(IntegrityError):
        run(content.prove(store, odd.content_id, KEY, DIGEST, len(BLOB)))
    with pytest.raises(IntegrityError, match="does not match its digest|does not verify"):
        run(content.prove(store, stored.content_id, KEY, "sha256:" + "2" * 64, len(BLOB)))
    with pytest.raises(IntegrityError):
        run(content.prove(store, stored.content_id, KEY, DIGEST, len(BLOB) + 1))


async def _pieces(data: bytes, size: int):
    for c in chunked(data, size):
        yield c


def test_a_short_upload_file_is_refused(store, tmp_path):
    f = tmp_path / "short"
    f.write_bytes(b"abc")
    with pytest.raises(EOFError):
        run(content.store_file(store, f, 10, KEY, DIGEST))


def test_an_upload_file_changed_after_it_was_verified_is_never_stored(store, tmp_path):
    f = tmp_path / "changed"
    f.write_bytes(BLOB[:-1] + b"\x00")  # same size, other bytes than DIGEST names
    with pytest.raises(IntegrityError, match="changed after it was verified"):
        run(content.store_file(store, f, len(BLOB), KEY, DIGEST))


def test_a_landing_blob_is_read_from_its_file_verified(tmp_path):
    f = tmp_path / "plain"
    f.write_bytes(BLOB + b"past the size")

    async def read_plain(path, digest=DIGEST):
        return b"".join([p async for p in content.read_plain_verified(path, len(BLOB), digest)])

    assert run(read_plain(f)) == BLOB
    f.write_bytes(BLOB[:100] + b"\xff" + BLOB[101:])
    with pytest.raises(IntegrityError, match="does not match"):
        run(read_plain(f))
    f.write_bytes(BLOB[:-5])
    with pytest.raises(IntegrityError, match="shorter"):
        run(read_plain(f))
    with pytest.raises(FileNotFoundError):
        run(read_plain(tmp_path / "gone"))


def test_a_wrong_landing_file_never_yields_its_last_bytes(tmp_path):
    f = tmp_path / "plain"
    f.write_bytes(BLOB[:-1] + b"\x00")
    got = []

    async def go():
        async for piece in content.read_plain_verified(f, len(BLOB), DIGEST):
            got.append(piece)

    with pytest.raises(IntegrityError):
        run(go())
    assert b"".join(got) == BLOB[:len(BLOB) - content._HELD_BACK]
