"""Upload sessions: bytes on disk while they arrive, invisible until committed.

A session is a directory `<data>/uploads/<id>/` holding `data` (the bytes so
far) and `state.json` (the repository and the offset reached). The state is
replaced atomically after each chunk is written, so a failed PATCH leaves the
session at its previous offset — resumable — and any torn tail is cut off on
the next write. Chunks are not synced: nothing was promised about them, and
after a crash bytes that did not reach the disk fail the digest check at the
commit. Nothing here is visible to a pull: only `Registry.commit_upload`
makes a blob visible, after its digest verifies.

A large verified upload may be acknowledged before it is encrypted
(docs/format.md §2, "Acknowledged, then encrypted"): `commit.json` then
records it (digest, dedupe domain), durably, and the session is the
write-ahead record of that blob — closed to further requests, never
expired, and finished (stored, then removed) by `sealedreg.registry.landing`,
also after a crash.
"""

from __future__ import annotations

import asyncio
import contextlib
import hashlib
import json
import os
import shutil
import time
import uuid
from dataclasses import dataclass
from pathlib import Path
from typing import AsyncIterable, AsyncIterator, BinaryIO, Callable

from anyio import to_thread

from sealedreg.datadir import DataDir, is_session_id
from sealedreg.fileio import PIECE, fsync_dir, fsync_file, start_writeback, write_atomic
from sealedreg.registry.digests import Digest, new_hasher
from sealedreg.registry.errors import BlobUploadUnknown, DigestInvalid, RangeInvalid, SizeInvalid, TooLarge


@dataclass
class Session:
    id: str
    repo: str
    offset: int
    created: float
    updated: float
    committed: dict | None = None  # {"digest", "domain"}: verified, acknowledged, not yet stored

    def to_json(self) -> bytes:
        doc = {"id": self.id, "repo": self.repo, "offset": self.offset,
               "created": self.created, "updated": self.updated}
        if self.committed is not None:
            doc["committed"] = self.committed
        return json.dumps(doc).encode()


class _LiveHash:
    """The sha256 of a session's first `offset` bytes, kept while the process lives."""

    def __init__(self) -> None:
        self.offset = 0
        self.hasher = hashlib.sha256()


async def _together(calls: list[tuple[Callable[[Path], None], Path]]) -> None:
    """Every `fn(path)` at once, each in a worker thread; the first error raised as itself."""
    await asyncio.gather(*(to_thread.run_sync(fn, path) for fn, path in calls))


def _write_and_hash(f: BinaryIO, hasher: "hashlib._Hash", data: bytes, writeback: bool = False) -> None:
    f.write(data)
    if writeback:  # the fsync at the end of the request will find this piece on disk already
        f.flush()
        start_writeback(f.fileno(), f.tell() - len(data), len(data))
    hasher.update(data)


class _SessionLock:
    def __init__(self) -> None:
        self.lock = asyncio.Lock()
        self.users = 0


class Uploads:
    def __init__(self, datadir: DataDir, ttl: float = 24 * 3600, max_blob_size: int | None = None,
                 durable: bool = True) -> None:
        self.datadir = datadir
        self.durable = durable
        self.ttl = ttl
        self.max_blob_size = max_blob_size
        self._locks: dict[str, _SessionLock] = {}  # only sessions some request is using
        self._live: dict[str, _LiveHash] = {}

    # -- lifecycle ----------------------------------------------------------
    async def create(self, repo: str) -> Session:
        now = time.time()
        session = Session(uuid.uuid4().hex, repo, 0, now, now)
        d = self.datadir.session_dir(session.id)

        def make() -> None:
            d.mkdir(mode=0o700)
            self.datadir.session_data(session.id).touch()
            write_atomic(self.datadir.session_state(session.id), session.to_json(), d, durable=False)

        await to_thread.run_sync(make)
        self._live[session.id] = _LiveHash()
        return session

    async def get(self, session_id: str, repo: str) -> Session:
        """The session, if it exists, belongs to `repo` and is still open; else BlobUploadUnknown."""
        if not is_session_id(session_id):
            raise BlobUploadUnknown(detail={"session": session_id[:64]})
        try:
            session = await to_thread.run_sync(self._read_state, session_id)
        except (FileNotFoundError, ValueError, TypeError):
            raise BlobUploadUnknown(detail={"session": session_id}) from None
        if session.repo != repo or session.committed is not None:  # a committed upload is finished
            raise BlobUploadUnknown(detail={"session": session_id})
        return session

    def data_file(self, session_id: str) -> Path:
        """Where a session's bytes are."""
        return self.datadir.session_data(session_id)

    def _read_state(self, session_id: str) -> Session:
        # The record first: `remove` deletes the state first, so a session read
        # while it goes is either whole or gone, never open but without its record.
        committed = self._commit_of(session_id)
        session = Session(**json.loads(self.datadir.session_state(session_id).read_bytes()))
        if session.committed is None:  # (a record written before commit.json kept it in the state)
            session.committed = committed
        return session

    def _commit_of(self, session_id: str) -> dict | None:
        """The session's commit record; None if there is none or it is torn (a
        crash during `mark_committed`, before any 201). A record that exists
        but cannot be read (permissions, I/O) raises OSError: it may be an
        acknowledged blob, so it is never taken for none."""
        try:
            record = json.loads(self.datadir.session_commit(session_id).read_bytes())
        except FileNotFoundError:
            return None
        except ValueError:  # torn
            return None
        if not (isinstance(record, dict) and isinstance(record.get("digest"), str)
                and isinstance(record.get("domain"), str)):
            return None
        return {"digest": record["digest"], "domain": record["domain"]}

    # -- the write-ahead record of blobs acknowledged before they are stored ------
    async def mark_committed(self, session: Session, digest: Digest, domain: str) -> Session:
        """Record, durably, that this held session's verified bytes are the blob
        `digest` of `domain`, acknowledged to the client: from here on only
        `remove` ends the session, and a crash leaves it to `committed()`."""
        record = {"digest": str(digest), "domain": domain}
        d = self.datadir.session_dir(session.id)
        path = self.datadir.session_commit(session.id)
        await to_thread.run_sync(write_atomic, path, json.dumps(record).encode(), d, False)
        if self.durable:
            # One round of fsyncs, issued together (the filesystem may commit them as
            # one): the bytes, the state recovery reads the repository and size from,
            # the record, their directory's entries, and the session's own entry in
            # uploads/ (made by `create`, never synced before). Until all return nothing
            # is acknowledged; a crash in between leaves at worst a torn record, which
            # `_commit_of` reads as none: the client never had its 201.
            try:
                await _together([(fsync_file, self.datadir.session_data(session.id)),
                                 (fsync_file, self.datadir.session_state(session.id)), (fsync_file, path),
                                 (fsync_dir, d), (fsync_dir, self.datadir.uploads)])
            except BaseException:
                # Not acknowledged (an I/O error, or the request cancelled): no record may
                # remain, or the session would refuse requests and never expire or land.
                path.unlink(missing_ok=True)
                raise
        session.committed = record
        return session

    async def committed(self) -> list[Session]:
        """Every committed session not yet stored, oldest first (any process's view)."""
        def scan() -> list[Session]:
            found = []
            for d in self.datadir.uploads.iterdir():
                if not is_session_id(d.name):
                    continue
                try:
                    session = self._read_state(d.name)
                except (OSError, ValueError, TypeError):
                    continue
                if session.committed is not None:
                    found.append(session)
            return sorted(found, key=lambda s: s.updated)

        return await to_thread.run_sync(scan)

    @contextlib.asynccontextmanager
    async def hold(self, session_id: str, repo: str) -> AsyncIterator[Session]:
        """Exclusive use of a session for one request.

        While held, no other request appends to, commits, cancels or expires
        it: a commit can never see a file another PATCH is still writing.
        """
        entry = self._locks.get(session_id)
        if entry is None:
            entry = self._locks[session_id] = _SessionLock()
        entry.users += 1
        try:
            async with entry.lock:
                yield await self.get(session_id, repo)
        finally:
            entry.users -= 1
            if entry.users == 0 and self._locks.get(session_id) is entry:
                del self._locks[session_id]

    def is_held(self, session_id: str) -> bool:
        return session_id in self._locks

    async def cancel(self, session_id: str, repo: str) -> None:
        async with self.hold(session_id, repo) as session:
            await self.remove(session.id)

    async def remove(self, session_id: str) -> None:
        """Delete a session's files (the caller holds it, or nobody can)."""
        self._live.pop(session_id, None)
        d = self.datadir.session_dir(session_id)

        def delete() -> None:
            # The state first: from then on every reader finds no session, never a
            # half-deleted one that has lost its commit record but not its state.
            self.datadir.session_state(session_id).unlink(missing_ok=True)
            shutil.rmtree(d, ignore_errors=True)

        await to_thread.run_sync(delete)

    async def expire(self, now: float | None = None) -> int:
        """Remove sessions not touched for `ttl` seconds; return how many went."""
        cutoff = (now or time.time()) - self.ttl

        def scan() -> list[tuple[str, str]]:
            stale = []
            for d in self.datadir.uploads.iterdir():
                if not is_session_id(d.name):
                    continue
                try:
                    if self._commit_of(d.name) is not None:
                        continue  # an acknowledged blob waiting to be stored: never stale
                except OSError:
                    continue  # a record that cannot be read now may be one too
                try:
                    state = json.loads(self.datadir.session_state(d.name).read_bytes())
                    updated, repo = state["updated"], state["repo"]
                    if state.get("committed") is not None:
                        continue  # (the same, recorded in the state before commit.json)
                except (OSError, ValueError, KeyError, AttributeError):
                    updated, repo = d.stat().st_mtime, None
                if updated < cutoff:
                    stale.append((d.name, repo))
            return stale

        removed = 0
        for session_id, repo in await to_thread.run_sync(scan):
            if self.is_held(session_id):
                continue  # in use right now: not stale after all
            if repo is None:  # unreadable state: never a live session
                await self.remove(session_id)
                removed += 1
                continue
            try:
                async with self.hold(session_id, repo) as session:
                    if session.updated < cutoff:
                        await self.remove(session.id)
                        removed += 1
            except BlobUploadUnknown:
                pass
        return removed

    # -- writing (the caller holds the session) -----------------------------
    async def append(self, session: Session, chunks: AsyncIterable[bytes],
                     start: int | None = None, length: int | None = None) -> Session:
        """Append a chunk to a held session. `start` (from Content-Range) must
        equal the offset. On any failure the session stays at its previous offset."""
        if start is not None and start != session.offset:
            raise RangeInvalid(detail={"offset": session.offset, "start": start})
        return await self._append_locked(session, chunks, length)

    async def _append_locked(self, session: Session, chunks: AsyncIterable[bytes], length: int | None) -> Session:
        d = self.datadir.session_dir(session.id)
        live = self._live.get(session.id)
        if live is not None and live.offset != session.offset:
            live = None  # the process restarted or a write was rolled back: rehash at the end
        hasher = live.hasher.copy() if live else hashlib.sha256()
        f = await to_thread.run_sync(open, self.datadir.session_data(session.id), "r+b")
        written = 0
        try:
            await to_thread.run_sync(f.truncate, session.offset)
            await to_thread.run_sync(f.seek, session.offset)
            loop = asyncio.get_running_loop()
            pending: asyncio.Future | None = None
            parts: list[bytes] = []
            buffered = 0
            limit = self.max_blob_size
            async for chunk in chunks:
                if not chunk:
                    continue
                parts.append(chunk)
                buffered += len(chunk)
                if limit is not None and session.offset + written + buffered > limit:
                    raise TooLarge(detail={"limit": limit})
                if length is not None and written + buffered > length:
                    raise SizeInvalid("body longer than Content-Range/Content-Length")
                if buffered >= PIECE:
                    data = b"".join(parts)
                    parts.clear()
                    buffered = 0
                    if pending is not None:
                        await pending
                    pending = loop.run_in_executor(None, _write_and_hash, f, hasher, data, self.durable)
                    written += len(data)
            if pending is not None:
                await pending
                pending = None
            if parts:
                data = b"".join(parts)
                await to_thread.run_sync(_write_and_hash, f, hasher, data)
                written += len(data)
            if length is not None and written != length:
                raise SizeInvalid("body shorter than Content-Range/Content-Length")

            # Not synced: nothing promised these bytes yet. The writes started above are on
            # their way to disk; `mark_committed` waits for them, and only for a blob it
            # acknowledges before storing. After a crash, a torn chunk fails the digest check.
            await to_thread.run_sync(f.flush)
        except BaseException:
            if pending is not None:
                try:
                    await pending
                except Exception:  # noqa: BLE001 - rolling back anyway
                    pass
            await to_thread.run_sync(f.close)
            raise
        await to_thread.run_sync(f.close)
        session.offset += written
        session.updated = time.time()
        await to_thread.run_sync(write_atomic, self.datadir.session_state(session.id), session.to_json(), d, False)
        if live is None:
            live = _LiveHash()
            if session.offset == written:  # we hashed from byte 0
                live.hasher, live.offset = hasher, session.offset
            else:
                live.offset = -1
            self._live[session.id] = live
        else:
            live.hasher, live.offset = hasher, session.offset
        return session

    async def finalize(self, session: Session, digest: Digest) -> tuple[Path, int]:
        """Verify a held session's bytes against `digest`; return (data file, size).

        On mismatch the session is discarded and DigestInvalid raised: nothing
        unverified goes further (docs/format.md §2).
        """
        data = self.datadir.session_data(session.id)
        # A crash mid-PATCH may have left a torn tail past the committed offset.
        await to_thread.run_sync(os.truncate, data, session.offset)
        live = self._live.get(session.id)
        if digest.algorithm == "sha256" and live is not None and live.offset == session.offset:
            actual = live.hasher.hexdigest()
        else:
            actual = await to_thread.run_sync(_hash_file, data, session.offset, digest.algorithm)
        if actual != digest.hex:
            await self.remove(session.id)
            raise DigestInvalid(detail={"digest": str(digest)})
        return data, session.offset


def _hash_file(path: Path, size: int, algorithm: str) -> str:
    h = new_hasher(algorithm)
    with open(path, "rb") as f:
        remaining = size
        while remaining > 0:
            piece = f.read(min(PIECE, remaining))
            if not piece:
                raise EOFError("upload data shorter than its recorded offset")
            h.update(piece)
            remaining -= len(piece)
    return h.hexdigest()
