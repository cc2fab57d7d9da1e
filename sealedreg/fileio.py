"""Small file helpers shared by the data directory's owners: atomic writes
and the fsyncs that make renames durable. Blocking: call from a worker thread.
"""

from __future__ import annotations

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


def write_atomic(path: Path, data: bytes, tmp_dir: Path, durable: bool = True) -> None:
    """Write `data` to `path` so that readers see all of it or none (blocking)."""
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
