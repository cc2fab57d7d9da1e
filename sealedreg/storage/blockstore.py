"""A directory of IPFS blocks named by CID: the embedded backend's disk format.

`<root>/<shard>/<cid>` where shard is the next-to-last two characters of the
CID text (as Kubo's flatfs does), so directories stay small. Writes are
atomic (temp file + rename); reads are verified against the CID, so a
corrupt block is an error, never data. Blocking: call from a worker thread.
"""

from __future__ import annotations

import os
from pathlib import Path

from sealedreg.fileio import fsync_dir, fsync_file, write_atomic
from sealedreg.storage.cid import CID


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

    def put(self, cid: CID, block: bytes, durable: bool = False, hashed: bool = False,
            writeback: bool = False) -> Path:
        """Store `block` (which must hash to `cid`) and return its path.
        `hashed`: the caller computed `cid` from these very bytes (a DAG it
        is building), so they are not hashed a second time. `writeback`: the
        caller will `sync` it, so its disk write starts now.

        A file already there is trusted only if it verifies: a torn or rotten
        copy is replaced, so a push never succeeds on top of a bad block. The
        caller makes the returned paths durable (`sync`), existing ones too.
        """
        if not hashed and not cid.verify(block):
            raise BlockCorrupt(f"block does not match {cid}")
        dest = self.path(cid)
        try:
            if cid.verify(dest.read_bytes()):
                return dest
        except FileNotFoundError:
            pass
        if not dest.parent.exists():
            dest.parent.mkdir(parents=True, exist_ok=True)
            fsync_dir(self.root)  # the new shard's own entry
        write_atomic(dest, block, self.tmp_dir, durable, writeback)
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

    def remove(self, cid: CID, dry_run: bool = False) -> int | None:
        """Delete the block (garbage collection); its size, or None if it was not here."""
        path = self.path(cid)
        try:
            size = path.stat().st_size
            if not dry_run:
                path.unlink()
        except FileNotFoundError:
            return None
        return size

    def quarantine(self, cid: CID, dest: Path) -> bool:
        """Move the block aside to `dest` if it is here and does not verify."""
        path = self.path(cid)
        try:
            if cid.verify(path.read_bytes()):
                return False
        except FileNotFoundError:
            return False
        dest.mkdir(parents=True, exist_ok=True)
        os.replace(path, dest / str(cid))
        return True

    def sync(self, paths: list[Path]) -> None:
        """Make newly written blocks durable (one pass after a whole DAG)."""
        for p in paths:
            fsync_file(p)
        for d in {p.parent for p in paths}:
            fsync_dir(d)
