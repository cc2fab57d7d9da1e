"""Blocking file work moved off the event loop, pipelined.

Every helper here keeps at most a couple of pieces (≤ 1 MiB each) in memory,
so memory stays flat whatever the size of the file, and overlaps the disk
work in a worker thread with the network work on the event loop.
"""

from __future__ import annotations

import asyncio
import os
from pathlib import Path
from typing import AsyncIterator, BinaryIO

from anyio import to_thread

PIECE = 1 << 20


def _read_piece(f: BinaryIO, n: int) -> bytes:
    return f.read(n)


async def stream_file(path: Path, offset: int = 0, length: int | None = None,
                      piece: int = PIECE) -> AsyncIterator[bytes]:
    """Yield `length` bytes of `path` from `offset`, reading one piece ahead.

    Raises EOFError if the file is shorter than asked for: a short read is an
    error, never a short answer.
    """
    f = await to_thread.run_sync(open, path, "rb")
    try:
        if offset:
            await to_thread.run_sync(f.seek, offset)
        remaining = length if length is not None else (await to_thread.run_sync(os.fstat, f.fileno())).st_size - offset
        loop = asyncio.get_running_loop()
        pending = None
        if remaining > 0:
            pending = loop.run_in_executor(None, _read_piece, f, min(piece, remaining))
        while pending is not None:
            data = await pending
            if not data:
                raise EOFError(f"{path.name}: {remaining} bytes missing")
            remaining -= len(data)
            pending = loop.run_in_executor(None, _read_piece, f, min(piece, remaining)) if remaining > 0 else None
            yield data
    finally:
        if pending is not None:
            try:
                await pending
            except Exception:  # noqa: BLE001 - the read is abandoned either way
                pass
        await to_thread.run_sync(f.close)


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, tmp_dir: Path, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see all of it or none (blocking)."""
    import tempfile

    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".w-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
