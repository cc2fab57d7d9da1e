"""A directory of IPFS blocks named by CID: the embedded backend's disk format.

`<root>/<shard>/<cid>` where shard is the next-to-last two characters of the
CID text (as Kubo's flatfs does), so directories stay small. Writes are
atomic (temp file + rename); reads are verified against the CID, so a
corrupt block is an error, never data. Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
import tempfile
from pathlib import Path
from typing import Iterator

from sealedreg.fileio import fsync_dir
from sealedreg.storage.cid import CID, CIDError


class BlockMissing(LookupError):
    """The block is not in the store."""


class BlockCorrupt(ValueError):
    """The stored bytes do not hash to the block's CID."""


class BlockStore:
    def __init__(self, root: Path, tmp_dir: Path) -> None:
        self.root = root
        self.tmp_dir = tmp_dir

    def path(self, cid: CID) -> Path:
        text = str(cid)
        return self.root / text[-3:-1] / text

    def has(self, cid: CID) -> bool:
        return self.path(cid).exists()

    def put(self, cid: CID, block: bytes, durable: bool = False) -> Path | None:
        """Store `block` (which must hash to `cid`); return its path if newly written."""
        if not cid.verify(block):
            raise BlockCorrupt(f"block does not match {cid}")
        dest = self.path(cid)
        if dest.exists():
            return None
        dest.parent.mkdir(parents=True, exist_ok=True)
        fd, tmp = tempfile.mkstemp(dir=self.tmp_dir, prefix=".blk-")
        try:
            with os.fdopen(fd, "wb") as f:
                f.write(block)
                if durable:
                    f.flush()
                    os.fsync(f.fileno())
            os.replace(tmp, dest)
        except BaseException:
            Path(tmp).unlink(missing_ok=True)
            raise
        return dest

    def get(self, cid: CID, verify: bool = True) -> bytes:
        """The block's bytes, checked against the CID unless the caller checks
        the content end to end itself (`verify=False`)."""
        try:
            block = self.path(cid).read_bytes()
        except FileNotFoundError:
            raise BlockMissing(str(cid)) from None
        if verify and not cid.verify(block):
            raise BlockCorrupt(f"stored block {cid} is corrupt")
        return block

    def delete(self, cid: CID) -> None:
        self.path(cid).unlink(missing_ok=True)

    def sync(self, paths: list[Path]) -> None:
        """Make newly written blocks durable (one pass after a whole DAG)."""
        dirs = set()
        for p in paths:
            fd = os.open(p, os.O_RDONLY)
            try:
                os.fsync(fd)
            finally:
                os.close(fd)
            dirs.add(p.parent)
        for d in dirs:
            fsync_dir(d)

    def __iter__(self) -> Iterator[CID]:
        if not self.root.exists():
            return
        for shard in sorted(self.root.iterdir()):
            for p in sorted(shard.iterdir()):
                try:
                    yield CID.parse(p.name)
                except CIDError:
                    continue
