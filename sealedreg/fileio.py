"""Small file helpers shared by the data directory's owners: atomic writes
and the fsyncs that make renames durable. Blocking: call from a worker thread.
"""

from __future__ import annotations

import ctypes
import os
import tempfile
from pathlib import Path

PIECE = 1 << 20
"""Bytes an upload hands to a worker thread at a time."""


def fsync_dir(path: Path) -> None:
    """Make a rename in `path` durable."""
    fd = os.open(path, os.O_RDONLY | os.O_DIRECTORY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def _find_sync_file_range():
    try:
        fn = ctypes.CDLL(None, use_errno=True).sync_file_range
    except (OSError, AttributeError):
        return None
    fn.argtypes = [ctypes.c_int, ctypes.c_int64, ctypes.c_int64, ctypes.c_uint]
    fn.restype = ctypes.c_int
    return fn


_SYNC_FILE_RANGE = _find_sync_file_range()  # Linux's sync_file_range(2); None elsewhere
_SYNC_FILE_RANGE_WRITE = 2


def start_writeback(fd: int, offset: int, length: int) -> bool:
    """Ask the kernel to start writing `length` bytes at `offset` to disk now,
    without waiting. The fsync that later makes the file durable then finds
    most of it written already: the disk works while the rest of the body is
    still arriving, instead of all at once after its last byte (the 201 of a
    large push waits for that fsync, docs/format.md §2). Only a hint: it
    promises nothing (whether the kernel took it is returned, for tests; a
    write error resurfaces at the fsync), and on a system without
    sync_file_range(2) it does nothing."""
    if _SYNC_FILE_RANGE is None:
        return False
    return _SYNC_FILE_RANGE(fd, offset, length, _SYNC_FILE_RANGE_WRITE) == 0


def fsync_file(path: Path) -> None:
    """Make `path`'s bytes durable (through a new descriptor: any of its inode's will do)."""
    fd = os.open(path, os.O_RDONLY)
    try:
        os.fsync(fd)
    finally:
        os.close(fd)


def write_atomic(path: Path, data: bytes, tmp_dir: Path, durable: bool = True, writeback: bool = False) -> None:
    """Write `data` to `path` so that readers see all of it or none (blocking).
    `writeback`: not synced here, but the caller will sync it soon
    (`start_writeback`)."""
    fd, tmp = tempfile.mkstemp(dir=tmp_dir, prefix=".w-")
    try:
        with os.fdopen(fd, "wb") as f:
            f.write(data)
            if durable:
                f.flush()
                os.fsync(f.fileno())
            elif writeback:
                f.flush()
                start_writeback(f.fileno(), 0, len(data))
        os.replace(tmp, path)
        if durable:
            fsync_dir(path.parent)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise
