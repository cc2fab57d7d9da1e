"""The embedded backend: content as files under `<data>/store`, no daemon needed.

Content is named by the verified digest of the bytes it holds
(`<algorithm>/<hh>/<hex>`), so putting the same content twice stores it once.
"""

from __future__ import annotations

import os
import shutil
from pathlib import Path
from typing import AsyncIterator

from anyio import to_thread

from sealedreg.fileio import fsync_dir, stream_file, write_atomic
from sealedreg.registry.digests import ALGORITHMS, Digest
from sealedreg.storage.base import READ_CHUNK, ContentId, StoredContent


class ContentMissing(LookupError):
    """The content id is not (or no longer) in the store."""


class EmbeddedStore:
    name = "embedded"

    def __init__(self, root: Path, tmp_dir: Path, durable: bool = True) -> None:
        self.root = root
        self.tmp_dir = tmp_dir
        self.durable = durable

    # -- naming -------------------------------------------------------------
    @staticmethod
    def content_id(digest: Digest) -> ContentId:
        return f"{digest.algorithm}-{digest.hex}"

    def _path(self, content_id: ContentId) -> Path:
        algorithm, _, hexpart = content_id.partition("-")
        if algorithm not in ALGORITHMS or len(hexpart) != ALGORITHMS[algorithm][1] or not all(
            c in "0123456789abcdef" for c in hexpart
        ):
            raise ContentMissing(content_id)
        return self.root / algorithm / hexpart[:2] / hexpart

    # -- writes -------------------------------------------------------------
    async def put_file(self, path: Path, digest: Digest) -> StoredContent:
        cid = self.content_id(digest)
        dest = self._path(cid)
        size = await to_thread.run_sync(self._adopt, path, dest)
        return StoredContent(cid, size)

    def _adopt(self, src: Path, dest: Path) -> int:
        size = src.stat().st_size
        if dest.exists():
            src.unlink(missing_ok=True)
            return size
        dest.parent.mkdir(parents=True, exist_ok=True)
        if self.durable:
            with open(src, "rb+") as f:
                os.fsync(f.fileno())
        try:
            os.replace(src, dest)
        except OSError:  # another filesystem: copy, then swap in atomically
            tmp = self.tmp_dir / f".adopt-{dest.name}"
            shutil.copyfile(src, tmp)
            os.replace(tmp, dest)
            src.unlink(missing_ok=True)
        if self.durable:
            fsync_dir(dest.parent)
        return size

    async def put_bytes(self, data: bytes, digest: Digest) -> StoredContent:
        cid = self.content_id(digest)
        dest = self._path(cid)

        def write() -> None:
            if not dest.exists():
                dest.parent.mkdir(parents=True, exist_ok=True)
                write_atomic(dest, data, self.tmp_dir, self.durable)

        await to_thread.run_sync(write)
        return StoredContent(cid, len(data))

    # -- reads --------------------------------------------------------------
    async def read(self, content_id: ContentId, offset: int = 0, length: int | None = None) -> AsyncIterator[bytes]:
        path = self._path(content_id)
        try:
            async for piece in stream_file(path, offset, length, READ_CHUNK):
                yield piece
        except FileNotFoundError:
            raise ContentMissing(content_id) from None

    async def read_all(self, content_id: ContentId, limit: int) -> bytes:
        path = self._path(content_id)

        def read() -> bytes:
            with open(path, "rb") as f:
                data = f.read(limit + 1)
            if len(data) > limit:
                raise ValueError(f"{content_id} is larger than {limit} bytes")
            return data

        try:
            return await to_thread.run_sync(read)
        except FileNotFoundError:
            raise ContentMissing(content_id) from None

    async def exists(self, content_id: ContentId) -> bool:
        try:
            path = self._path(content_id)
        except ContentMissing:
            return False
        return await to_thread.run_sync(path.exists)

    async def delete(self, content_id: ContentId) -> None:
        path = self._path(content_id)
        await to_thread.run_sync(lambda: path.unlink(missing_ok=True))

    async def list(self) -> AsyncIterator[ContentId]:
        def scan() -> list[ContentId]:
            found = []
            for algo_dir in sorted(self.root.iterdir()) if self.root.exists() else []:
                for shard in sorted(algo_dir.iterdir()):
                    found.extend(f"{algo_dir.name}-{p.name}" for p in sorted(shard.iterdir()))
            return found

        for cid in await to_thread.run_sync(scan):
            yield cid

    async def close(self) -> None:
        return None
