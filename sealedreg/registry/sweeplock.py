"""The one lock between garbage collection and everything that stores content.

Storing is two steps — put the blocks, then record them in the index — and
between the two the blocks are referenced by nothing: a sweep that ran then
would delete (or unpin) what the push is about to record. So every writer
holds this lock *shared* from the moment it looks up whether content is
already stored until its index row is committed, and the sweep holds it
*exclusively* while it decides and releases. It is an `flock` on a file in
the data directory, so it also serialises a `sealedreg gc` run from the CLI
against a running `serve`.
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import AsyncIterator

from anyio import to_thread


class SweepLock:
    def __init__(self, path: Path) -> None:
        self.path = path

    @contextlib.asynccontextmanager
    async def _hold(self, mode: int) -> AsyncIterator[None]:
        # One open file per holder: flock locks belong to the open file, so two
        # shared holders in one process do not share (and release) one lock.
        fd = await to_thread.run_sync(os.open, self.path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)
        try:
            # Waiting runs in a worker thread; a cancelled waiter still gets the
            # lock there, and closing the file below releases it.
            await to_thread.run_sync(fcntl.flock, fd, mode)
            yield
        finally:
            os.close(fd)

    def writing(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held by a writer between looking content up and recording it."""
        return self._hold(fcntl.LOCK_SH)

    def sweeping(self) -> contextlib.AbstractAsyncContextManager[None]:
        """Held by garbage collection while it forgets and releases content."""
        return self._hold(fcntl.LOCK_EX)


class NoSweepLock:
    """For a registry nothing collects concurrently (tests, read-only opens)."""

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        yield

    sweeping = writing
