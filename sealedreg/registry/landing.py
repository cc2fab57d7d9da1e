"""Blobs acknowledged before they are encrypted: the write-ahead of a push
(docs/format.md §2, "Acknowledged, then encrypted").

Encrypting, leaf-hashing and writing a large blob costs about as much again
as receiving it, and it can only start once the digest verifies (the key
comes from it). So a large upload is acknowledged as soon as its verified
plaintext and a commit record are durable in its session
(`Uploads.mark_committed`), and stored here afterwards, a few at a time, in
the background. Until it lands the blob is served from that verified
plaintext (`Registry.read_blob`, re-hashed as it streams); it is published,
exported, mounted or deleted only once landed (`Registry.settle`, `wait`).
A crash leaves the committed session behind; the next `serve` finds it
(`Registry.recover_landings`) and lands it. Nothing unencrypted ever reaches
the store, a tree or another process.

This module owns only the bookkeeping and the retry loop; what landing
means (encrypt, store, index, then drop the session) is
`Registry._land`, under the same locks as a synchronous commit.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, field
from pathlib import Path
from typing import Awaitable, Callable

from sealedreg.metrics import BLOBS_LANDING
from sealedreg.registry.index import BlobRecord

log = logging.getLogger("sealedreg")

RETRY_FIRST = 0.5
RETRY_MAX = 30.0
"""Landing retries (the store is down, the disk is full) back off up to this many seconds."""


@dataclass(frozen=True)
class LandingBlob(BlobRecord):
    """A blob acknowledged to a push whose ciphertext is not stored yet: read
    from `path`, its verified plaintext."""

    path: Path = Path()
    repo: str = ""


@dataclass
class Pending:
    """A verified blob acknowledged to `repo` whose ciphertext is not stored yet."""

    digest: str
    domain: str
    size: int
    repo: str
    session_id: str
    path: Path  # the session's verified plaintext
    landed: asyncio.Event = field(default_factory=asyncio.Event)  # set once stored and indexed, or given up

    def record(self) -> LandingBlob:
        """What a lookup of the blob answers until it lands."""
        return LandingBlob(self.digest, self.size, "", self.domain, self.path, self.repo)


class Landings:
    """The pending blobs of this process and the tasks landing them, at most
    `workers` at once (each keeps a core busy)."""

    def __init__(self, land: Callable[[Pending], Awaitable[None]], workers: int = 2) -> None:
        self._land = land
        self._pending: dict[str, Pending] = {}  # session id → pending
        self._tasks: set[asyncio.Task] = set()
        self._slots = asyncio.Semaphore(workers)

    def __len__(self) -> int:
        return len(self._pending)

    def sessions(self, namespace: str | None = None) -> set[str]:
        """The sessions of the blobs this process is landing (in `namespace`), until each is done."""
        return {sid for sid, p in self._pending.items()
                if namespace is None or p.repo.split("/", 1)[0] == namespace}

    def find(self, digest: str, domain: str) -> Pending | None:
        """A pending blob with this content in this domain, if any."""
        for pending in self._pending.values():
            if pending.digest == digest and pending.domain == domain:
                return pending
        return None

    def in_repo(self, repo: str, digest: str) -> Pending | None:
        """The pending blob `digest` acknowledged to `repo`, if any."""
        for pending in self._pending.values():
            if pending.digest == digest and pending.repo == repo:
                return pending
        return None

    def start(self, pending: Pending) -> Pending:
        """Track `pending` (visible to `find` at once) and land it in the background."""
        self._pending[pending.session_id] = pending
        BLOBS_LANDING.set(len(self._pending))
        task = asyncio.create_task(self._run(pending), name=f"land {pending.digest}")
        self._tasks.add(task)
        task.add_done_callback(self._tasks.discard)
        return pending

    async def _run(self, pending: Pending) -> None:
        delay = RETRY_FIRST
        try:
            while True:
                try:
                    async with self._slots:
                        await self._land(pending)
                    return
                except Exception as exc:  # noqa: BLE001 - the blob is acknowledged: keep trying
                    log.warning("storing %s (pushed to %s) failed, retrying in %.1f s: %s: %s", pending.digest,
                                pending.repo, delay, type(exc).__name__, exc)
                    await asyncio.sleep(delay)
                    delay = min(delay * 2, RETRY_MAX)
        finally:
            self._pending.pop(pending.session_id, None)
            BLOBS_LANDING.set(len(self._pending))
            pending.landed.set()

    async def drain(self, timeout: float) -> int:
        """Let landings in progress finish for up to `timeout` seconds, then
        stop the rest (their sessions stay committed: the next start lands
        them). Returns how many were stopped."""
        tasks = list(self._tasks)
        if not tasks:
            return 0
        _, unfinished = await asyncio.wait(tasks, timeout=timeout)
        for task in unfinished:
            task.cancel()
        await asyncio.gather(*unfinished, return_exceptions=True)
        return len(unfinished)
