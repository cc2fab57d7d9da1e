"""Concurrent uploads, per client and in total (`max_uploads_per_client`,
`max_uploads`): one client cannot take every worker, file handle and disk
stream by opening hundreds of uploads at once, and the rest keep working.

A slot is held for the whole of an upload request that carries a body
(`PATCH`, or `PUT`/`POST` with one) and given back when it ends, however it
ends. Past a limit the request is refused at once — 429 `TOOMANYREQUESTS`
with `Retry-After`, before any byte of its body is read — so a client backs
off and retries. A client is its user name once authenticated, else its
address.
"""

from __future__ import annotations

import contextlib
from collections import Counter
from typing import Iterator

from starlette.requests import Request

from sealedreg.auth.caller import identity_of
from sealedreg.registry.errors import TooManyRequests


class UploadSlots:
    def __init__(self, per_client: int, total: int) -> None:
        self.per_client = per_client  # 0: no limit
        self.total = total
        self._held: Counter[str] = Counter()

    @contextlib.contextmanager
    def hold(self, client: str) -> Iterator[None]:
        """A slot for `client` for the length of the block, or TooManyRequests."""
        if self.total and sum(self._held.values()) >= self.total:
            raise TooManyRequests("too many uploads in progress on this registry; retry shortly")
        if self.per_client and self._held[client] >= self.per_client:
            raise TooManyRequests(f"more than {self.per_client} uploads at once from one client; retry shortly")
        self._held[client] += 1
        try:
            yield
        finally:
            self._held[client] -= 1
            if not self._held[client]:
                del self._held[client]


def client_of(request: Request) -> str:
    identity = identity_of(request.scope)
    if identity is not None and identity.subject:
        return f"user:{identity.subject}"
    return f"addr:{request.client.host if request.client else '-'}"


def upload_slot(request: Request) -> contextlib.AbstractContextManager[None]:
    slots: UploadSlots = request.app.state.upload_slots
    return slots.hold(client_of(request))
