"""The one lock between garbage collection and everything that stores content.

Storing is two steps — put the blocks, then record them in the index — and
between the two the blocks are referenced by nothing: a sweep that ran then
would delete (or unpin) what the push is about to record. So every writer
holds this lock *shared* from the moment it looks up whether content is
already stored until its index row is committed, and the sweep holds it
*exclusively* while it decides and releases. It is made of `flock`s on two
files in the data directory, so it also serialises a `sealedreg gc` run from
the CLI against a running `serve`:

* `gc.lock` is the lock itself: writers shared, the sweep exclusive;
* `gc.gate` gives the sweep priority. A writer passes the gate (shared, for
  an instant) before taking the lock; the sweep closes the gate (exclusive)
  first, so new writers queue behind it while the ones inside finish —
  without it, Linux grants new shared locks forever and a busy registry
  would starve the sweep.

Nobody blocks a thread waiting: every attempt is non-blocking and a waiter
sleeps on the event loop between attempts. (A waiter parked in a worker
thread would hold that thread; enough pushes during a sweep would take the
whole pool, and the sweep, needing a thread to finish, never would.)
"""

from __future__ import annotations

import contextlib
import fcntl
import os
from pathlib import Path
from typing import AsyncIterator

import anyio

_FIRST_WAIT, _LONGEST_WAIT = 0.002, 0.05


async def _acquire(fd: int, mode: int) -> None:
    wait = _FIRST_WAIT
    while True:
        try:
            fcntl.flock(fd, mode | fcntl.LOCK_NB)
            return
        except BlockingIOError:
            await anyio.sleep(wait)
            wait = min(wait * 2, _LONGEST_WAIT)


def _open(path: Path) -> int:
    # One open file per holder: flock locks belong to the open file, so two
    # holders in one process never share (and release) one lock. Closing the
    # file releases its lock, whatever happened in between.
    return os.open(path, os.O_RDWR | os.O_CREAT | os.O_CLOEXEC, 0o600)


class SweepLock:
    def __init__(self, lock: Path, gate: Path) -> None:
        self.lock = lock
        self.gate = gate

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        """Held by a writer between looking content up and recording it."""
        lock = _open(self.lock)
        try:
            gate = _open(self.gate)
            try:
                await _acquire(gate, fcntl.LOCK_SH)
                await _acquire(lock, fcntl.LOCK_SH)
            finally:
                os.close(gate)
            yield
        finally:
            os.close(lock)

    @contextlib.asynccontextmanager
    async def sweeping(self) -> AsyncIterator[None]:
        """Held by garbage collection while it forgets and releases content."""
        gate, lock = _open(self.gate), _open(self.lock)
        try:
            await _acquire(gate, fcntl.LOCK_EX)
            await _acquire(lock, fcntl.LOCK_EX)
            yield
        finally:
            os.close(lock)
            os.close(gate)


class NoSweepLock:
    """For a registry nothing collects concurrently (tests, read-only opens)."""

    @contextlib.asynccontextmanager
    async def writing(self) -> AsyncIterator[None]:
        yield

    sweeping = writing
