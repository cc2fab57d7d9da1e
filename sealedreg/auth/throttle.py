"""Slow down password guessing, per client, without blocking anyone else.

Each client (its IP address) may fail `allowed` logins within `window`
seconds at full speed. After that, every further failure doubles the wait
before it may try again (1 s, 2 s, 4 s, … up to `max_delay`); while it waits,
its login attempts are answered 429 `TOOMANYREQUESTS` with `Retry-After`,
without the password even being checked. Failures older than `window` are
forgotten. A success does not wipe the record (else one known account would
let a client interleave unlimited guesses); the window does.

Checks still running count too (`begin`/`end` around each one), so a client
firing many guesses in parallel gets no more of them through than one sending
them one by one.

Only password checks count: bad or expired tokens are not guessable and are
not throttled. State is in memory, bounded to `max_clients` clients.
"""

from __future__ import annotations

import math
import time
from collections import OrderedDict, deque
from dataclasses import dataclass, field
from typing import Callable


@dataclass
class _Record:
    failures: deque[float] = field(default_factory=deque)


@dataclass
class Throttle:
    allowed: int = 5  # failures within `window` at full speed
    window: float = 300.0
    base_delay: float = 1.0
    max_delay: float = 60.0
    max_clients: int = 10_000
    clock: Callable[[], float] = time.monotonic
    _clients: OrderedDict[str, _Record] = field(default_factory=OrderedDict, init=False, repr=False)
    _pending: dict[str, int] = field(default_factory=dict, init=False, repr=False)

    def _record(self, client: str, now: float) -> _Record | None:
        rec = self._clients.get(client)
        if rec is None:
            return None
        while rec.failures and rec.failures[0] <= now - self.window:
            rec.failures.popleft()
        if not rec.failures:
            del self._clients[client]
            return None
        return rec

    def retry_after(self, client: str) -> int:
        """Seconds `client` must wait before its next login attempt (0: go ahead)."""
        now = self.clock()
        rec = self._record(client, now)
        failures = len(rec.failures) if rec is not None else 0
        if failures + self._pending.get(client, 0) < self.allowed:
            return 0
        if rec is None or failures < self.allowed:
            return 1  # only the checks still running could take it over the limit: wait for them
        excess = failures - self.allowed
        delay = min(self.base_delay * (2 ** min(excess, 32)), self.max_delay)
        wait = rec.failures[-1] + delay - now
        return math.ceil(wait) if wait > 0 else 0

    def begin(self, client: str) -> None:
        """A password check for `client` starts (call `end` when it is decided)."""
        self._pending[client] = self._pending.get(client, 0) + 1

    def end(self, client: str) -> None:
        left = self._pending.get(client, 0) - 1
        if left > 0:
            self._pending[client] = left
        else:
            self._pending.pop(client, None)

    def failed(self, client: str) -> None:
        now = self.clock()
        rec = self._record(client, now)
        if rec is None:
            rec = self._clients[client] = _Record()
            while len(self._clients) > self.max_clients:
                self._clients.popitem(last=False)
        else:
            self._clients.move_to_end(client)
        rec.failures.append(now)
        while len(rec.failures) > self.allowed + 64:
            rec.failures.popleft()
