"""The upload state machine, including crashes in the middle of a chunk."""

import asyncio
import hashlib
import json
import os
import time
from pathlib import Path

import pytest

from sealedreg.datadir import DataDir
from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid, TooLarge
from sealedreg.registry.uploads import Uploads


async def chunks(*parts):
    for p in parts:
        yield p


@pytest.fixture
def uploads(tmp_path):
    d = DataDir(tmp_path / "data")
    d.prepare()
    return Uploads(d, ttl=60)


def run(coro):
    return asyncio.run(coro)


def test_append_and_finalize(uploads):
    async def go():
        s = await uploads.create("a")
        s = await uploads.append(s, chunks(b"ab", b"cd"))
        s = await uploads.append(s, chunks(b"ef"), start=4, length=2)
        path, size = await uploads.finalize(s, Digest.of(b"abcdef"))
        assert path.read_bytes() == b"abcdef" and size == 6
    run(go())


def test_out_of_order_and_wrong_length(uploads):
    async def go():
        s = await uploads.create("a")
        with pytest.raises(RangeInvalid):
            await uploads.append(s, chunks(b"x"), start=1)
        with pytest.raises(SizeInvalid):
            await uploads.append(s, chunks(b"xyz"), start=0, length=2)
        with pytest.raises(SizeInvalid):
            await uploads.append(s, chunks(b"x"), start=0, length=2)
        assert (await uploads.get(s.id, "a")).offset == 0
    run(go())


def test_failed_chunk_rolls_back(uploads):
    async def broken():
        yield b"good"
        raise ConnectionError("client went away")

    async def go():
        s = await uploads.create("a")
        s = await uploads.append(s, chunks(b"12"))
        with pytest.raises(ConnectionError):
            await uploads.append(s, broken())
        s = await uploads.get(s.id, "a")
        assert s.offset == 2
        s = await uploads.append(s, chunks(b"34"))
        path, _ = await uploads.finalize(s, Digest.of(b"1234"))
        assert path.read_bytes() == b"1234"
    run(go())


def crashed_session(d: DataDir, written: bytes, tail: bytes) -> str:
    """A session that took `written`, then crashed mid-PATCH with `tail`
    on disk (bytes written, state not updated); its id."""
    async def before_the_crash():
        u = Uploads(d)
        s = await u.create("a")
        await u.append(s, chunks(written))
        return s.id

    sid = asyncio.run(before_the_crash())
    with open(d.session_data(sid), "ab") as f:
        f.write(tail)
    return sid


@pytest.fixture
def datadir(tmp_path) -> DataDir:
    d = DataDir(tmp_path / "data")
    d.prepare()
    return d


def test_crash_mid_patch_is_resumable(datadir):
    """A new process sees the last committed offset; the torn tail is cut."""
    sid = crashed_session(datadir, b"hello ", b"GARBAGE")

    async def second():
        u = Uploads(datadir)  # restarted process: no in-memory hash state
        s = await u.get(sid, "a")
        assert s.offset == 6
        s = await u.append(s, chunks(b"world"), start=6)
        path, size = await u.finalize(s, Digest.of(b"hello world"))
        assert path.read_bytes() == b"hello world"
    asyncio.run(second())


def test_crash_then_put_without_body(datadir):
    sid = crashed_session(datadir, b"data", b"torn")

    async def go():
        u2 = Uploads(datadir)
        s = await u2.get(sid, "a")
        path, size = await u2.finalize(s, Digest.of(b"data", "sha512"))  # sha512: verified by re-reading
        assert size == 4 and path.read_bytes() == b"data"
    asyncio.run(go())


def test_mismatch_discards(uploads):
    async def go():
        s = await uploads.create("a")
        s = await uploads.append(s, chunks(b"abc"))
        with pytest.raises(DigestInvalid):
            await uploads.finalize(s, Digest.of(b"abd"))
        with pytest.raises(BlobUploadUnknown):
            await uploads.get(s.id, "a")
    run(go())


def test_size_limit(tmp_path):
    d = DataDir(tmp_path / "data")
    d.prepare()
    u = Uploads(d, max_blob_size=5)

    async def go():
        s = await u.create("a")
        with pytest.raises(TooLarge):
            await u.append(s, chunks(b"123456"))
        assert (await u.get(s.id, "a")).offset == 0
    run(go())


def test_expiry(uploads):
    async def go():
        s = await uploads.create("a")
        assert await uploads.expire() == 0
        assert await uploads.expire(now=s.updated + 61) == 1
        with pytest.raises(BlobUploadUnknown):
            await uploads.get(s.id, "a")
    run(go())


def test_state_file_is_json(uploads):
    async def go():
        s = await uploads.create("a")
        state = json.loads((uploads.datadir.session_dir(s.id) / "state.json").read_text())
        assert state["repo"] == "a" and state["offset"] == 0
    run(go())


def test_big_streamed_append_hashes_live(uploads):
    piece = b"z" * 300_000

    async def go():
        s = await uploads.create("a")
        s = await uploads.append(s, chunks(*([piece] * 10)))
        expected = hashlib.sha256(piece * 10).hexdigest()
        assert uploads._live[s.id].hasher.hexdigest() == expected
        path, size = await uploads.finalize(s, Digest("sha256", expected))
        assert size == 3_000_000
    run(go())


def test_hold_serialises_requests_on_one_session(uploads):
    """A commit or cancel waits for an in-flight PATCH instead of racing it."""
    order = []

    async def go():
        s = await uploads.create("a")
        gate = asyncio.Event()

        async def slow_body():
            yield b"first"
            await gate.wait()
            yield b"second"

        async def patch():
            async with uploads.hold(s.id, "a") as held:
                order.append("patch start")
                await uploads.append(held, slow_body())
                order.append("patch end")

        async def cancel():
            order.append("cancel asked")
            await uploads.cancel(s.id, "a")
            order.append("cancelled")

        t1 = asyncio.create_task(patch())
        await asyncio.sleep(0)
        t2 = asyncio.create_task(cancel())
        await asyncio.sleep(0.05)
        assert "cancelled" not in order
        assert await uploads.expire(now=s.updated + 10_000) == 0  # held: not stale
        gate.set()
        await asyncio.gather(t1, t2)
        assert order.index("cancel asked") < order.index("patch end") < order.index("cancelled")
        with pytest.raises(BlobUploadUnknown):
            await uploads.get(s.id, "a")
        assert uploads._locks == {}  # nothing left behind

    run(go())


def test_commit_never_sees_a_half_written_patch(tmp_path):
    """The reviewer's race: PUT while a PATCH is still writing must not encrypt a torn file."""
    from sealedreg.registry.index import Index
    from sealedreg.registry.service import Registry
    from sealedreg.storage.embedded import EmbeddedStore

    d = DataDir(tmp_path / "data")
    d.prepare()
    reg = Registry(Index(d.index), Uploads(d), EmbeddedStore(d.blocks, d.tmp, durable=False))
    part1, part2 = b"x" * 2_000_000, b"y" * 2_000_000

    async def go():
        s = await reg.start_upload("a")
        gate = asyncio.Event()

        async def slow():
            yield part1
            await gate.wait()
            yield part2

        patch = asyncio.create_task(reg.upload_chunk("a", s.id, slow()))
        await asyncio.sleep(0.05)
        commit = asyncio.create_task(reg.commit_upload("a", s.id, Digest.of(part1 + part2)))
        await asyncio.sleep(0.05)
        assert not commit.done()
        gate.set()
        await patch
        record = await commit
        got = b"".join([p async for p in reg.read_blob(record)])
        assert got == part1 + part2

    asyncio.run(go())


def _record_syncs(monkeypatch) -> tuple[list, list]:
    """(what was fsynced, writeback ranges) of what an upload asks of the kernel."""
    from sealedreg import fileio

    fsyncs: list = []
    writebacks: list = []
    monkeypatch.setattr(fileio.os, "fsync", lambda fd: fsyncs.append(os.readlink(f"/proc/self/fd/{fd}")))
    monkeypatch.setattr(fileio, "_SYNC_FILE_RANGE", lambda fd, off, n, flags: writebacks.append((off, n, flags)))
    return fsyncs, writebacks


def test_chunks_start_their_disk_write_as_they_arrive_and_only_a_commit_record_syncs(tmp_path, monkeypatch):
    """docs/format.md §2: a chunk is not synced (nothing was promised); the
    record of a blob acknowledged before it is stored syncs its bytes, itself
    and both directory entries, in one round."""
    d = DataDir(tmp_path / "data")
    d.prepare()
    fsyncs, writebacks = _record_syncs(monkeypatch)
    piece = b"x" * (1 << 20)
    body = piece * 3 + b"tail"

    async def go():
        u = Uploads(d, durable=True)
        s = await u.create("a")
        s = await u.append(s, chunks(piece, piece, piece, b"tail"))
        assert writebacks == [(0, len(piece), 2), (len(piece), len(piece), 2), (2 * len(piece), len(piece), 2)]
        assert fsyncs == []
        await u.finalize(s, Digest.of(body))
        s = await u.mark_committed(s, Digest.of(body), "global")
        assert sorted(fsyncs) == sorted([str(d.session_data(s.id)), str(d.session_state(s.id)),
                                         str(d.session_commit(s.id)), str(d.session_dir(s.id)), str(d.uploads)])
        assert [c.id for c in await u.committed()] == [s.id]
        with pytest.raises(BlobUploadUnknown):  # closed to further requests
            await u.get(s.id, "a")
    run(go())


async def abc_session(u: Uploads):
    s = await u.create("a")
    return await u.append(s, chunks(b"abc"))


def test_a_torn_commit_record_is_no_commit(datadir):
    """A crash while `mark_committed` syncs can leave its record torn; no 201
    was sent, so the session is an ordinary unfinished upload again."""
    d = datadir

    async def go():
        u = Uploads(d, ttl=60, durable=False)
        s = await abc_session(u)
        for torn in (b"", b'{"digest": "sha256:ab', b"\0" * 40, b'{"digest": 1, "domain": "global"}'):
            d.session_commit(s.id).write_bytes(torn)
            assert await u.committed() == []
            assert (await u.get(s.id, "a")).committed is None
        assert await u.expire(now=time.time() + 120) == 1  # and it expires like any other
    run(go())


def test_durable_false_syncs_nothing(tmp_path, monkeypatch):
    d = DataDir(tmp_path / "data")
    d.prepare()
    fsyncs, writebacks = _record_syncs(monkeypatch)
    body = b"y" * (3 << 20)

    async def go():
        u = Uploads(d, durable=False)
        s = await u.create("a")
        s = await u.append(s, chunks(body))
        path, size = await u.finalize(s, Digest.of(body))
        assert size == 3 << 20
        await u.mark_committed(s, Digest.of(body), "global")
    run(go())
    assert fsyncs == [] and writebacks == []


def test_a_commit_record_that_failed_to_sync_is_removed(datadir, monkeypatch):
    """No 201 was sent: the session must not be left refusing requests and never expiring."""
    from sealedreg import fileio

    d = datadir

    def failing(fd):
        raise OSError(28, "No space left on device")

    async def go():
        u = Uploads(d, ttl=60, durable=True)
        s = await abc_session(u)
        monkeypatch.setattr(fileio.os, "fsync", failing)
        with pytest.raises(OSError):
            await u.mark_committed(s, Digest.of(b"abc"), "global")
        monkeypatch.undo()
        assert not d.session_commit(s.id).exists()
        assert await u.committed() == []
        assert (await u.get(s.id, "a")).offset == 3  # an ordinary open session again
    run(go())


def test_an_unreadable_commit_record_is_never_expired(datadir, monkeypatch):
    d = datadir

    async def go():
        u = Uploads(d, ttl=60, durable=False)
        s = await abc_session(u)
        await u.mark_committed(s, Digest.of(b"abc"), "global")
        d.session_state(s.id).write_bytes(b"")  # the state torn as well: the record decides
        real = Path.read_bytes

        def unreadable(path):
            if path.name == "commit.json":
                raise PermissionError(13, "Permission denied")
            return real(path)

        monkeypatch.setattr(Path, "read_bytes", unreadable)
        assert await u.expire(now=time.time() + 3600) == 0
        monkeypatch.undo()
        assert await u.expire(now=time.time() + 3600) == 0  # readable again: still an acknowledged blob
        assert d.session_dir(s.id).exists()
    run(go())
