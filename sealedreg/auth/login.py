"""Password logins: the users file checked with bcrypt, throttled per client,
successes remembered briefly (docs/auth.md "Users", "Throttling").

Used by Basic auth on every request and by the token service; never logs a
password, and an unknown user costs as much time as a known one.
"""

from __future__ import annotations

import hashlib
import hmac
import logging
import os
import time
from collections import OrderedDict
from dataclasses import dataclass
from enum import Enum

from anyio import to_thread

from sealedreg.auth import users as userfile
from sealedreg.auth.throttle import Throttle

log = logging.getLogger("sealedreg.auth")


class Outcome(Enum):
    OK = "ok"
    BAD = "bad"
    THROTTLED = "throttled"


@dataclass(frozen=True)
class Login:
    outcome: Outcome
    user: str | None = None
    hashed: str | None = None
    retry_after: int = 0


class Passwords:
    CACHE_TTL = 300.0
    CACHE_SIZE = 1024

    def __init__(self, users: userfile.Users, throttle: Throttle | None = None) -> None:
        self.users = users
        self.throttle = throttle or Throttle()
        # Successful password checks, remembered briefly so a client that
        # authenticates every request does not pay bcrypt every time. Keyed by
        # an HMAC under a per-process random key: the cache holds no password.
        self._cache_key = os.urandom(32)
        self._ok: OrderedDict[bytes, tuple[str, float]] = OrderedDict()

    def _cache_id(self, user: str, password: str) -> bytes:
        return hmac.new(self._cache_key, user.encode() + b"\0" + password.encode(), hashlib.sha256).digest()

    async def login(self, client: str, user: str, password: str) -> Login:
        """Check a user's password, throttled per client."""
        wait = self.throttle.retry_after(client)
        if wait:
            log.info("login throttled for client %s (retry after %ds)", client, wait)
            return Login(Outcome.THROTTLED, retry_after=wait)
        hashed = self.users.hash_of(user)
        key = self._cache_id(user, password)
        cached = self._ok.get(key)
        now = time.monotonic()
        if hashed is not None and cached is not None and cached[0] == hashed and cached[1] > now:
            return Login(Outcome.OK, user, hashed)
        self.throttle.begin(client)
        try:
            cost = self.users.max_cost()
            if hashed is None:
                await to_thread.run_sync(userfile.dummy_check, password, cost)
                ok = False
            else:
                ok = await to_thread.run_sync(userfile.check_password, password, hashed, cost)
            if not ok:
                self.throttle.failed(client)
        finally:
            self.throttle.end(client)
        if hashed is None:
            log.info("login failed from %s: unknown user", client)
            return Login(Outcome.BAD)
        if not ok:
            log.info("login failed from %s: wrong password for user %s", client, user)
            return Login(Outcome.BAD)
        self._ok[key] = (hashed, now + self.CACHE_TTL)
        self._ok.move_to_end(key)
        while len(self._ok) > self.CACHE_SIZE:
            self._ok.popitem(last=False)
        return Login(Outcome.OK, user, hashed)
