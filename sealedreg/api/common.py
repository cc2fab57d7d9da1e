"""Small helpers every route module shares: parameters, headers, bodies."""

from __future__ import annotations

import asyncio
import re
from typing import AsyncIterator
from urllib.parse import quote, urlencode

from starlette.requests import Request

from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import BodyStalled, DigestInvalid, RangeInvalid, SizeInvalid, TooLarge
from sealedreg.registry.refs import validate_name
from sealedreg.registry.service import Registry

LIST_MAX = 10000
"""The most entries one tags/catalog page returns, whatever `n` asks for."""


def registry(request: Request) -> Registry:
    return request.app.state.registry


def repo_name(request: Request) -> str:
    return validate_name(request.path_params["name"])


def digest_param(text: str | None) -> Digest:
    if not text:
        raise DigestInvalid("digest parameter missing")
    return Digest.parse(text)


def page_params(request: Request) -> tuple[str | None, int | None]:
    """`last` and `n` of a paginated list; n is clamped to LIST_MAX."""
    last = request.query_params.get("last") or None
    n_text = request.query_params.get("n")
    if n_text is None or n_text == "":
        return last, None
    if not (n_text.isascii() and n_text.isdigit()):  # "²".isdigit(), yet int("²") fails
        raise SizeInvalid("n must be a non-negative integer", detail={"n": n_text[:32]})
    return last, min(int(n_text), LIST_MAX)


def paginate(items: list[str], limit: int, path: str) -> tuple[list[str], dict[str, str]]:
    """Cut a list fetched with `limit + 1` rows to one page; add `Link` if more follow."""
    if limit == 0 or len(items) <= limit:
        return items[:limit], {}
    page = items[:limit]
    return page, {"Link": f'<{path}?{urlencode({"n": limit, "last": page[-1]})}>; rel="next"'}


def location(repo: str, *below: str) -> str:
    """The URL path of something in `repo`: `location(repo, "manifests", digest)`."""
    return "/".join(["/v2", repo, *(quote(part, safe=":") for part in below)])


def upload_range(offset: int) -> str:
    """The `Range` header of an upload: the bytes received so far, inclusive."""
    return f"0-{max(offset - 1, 0)}"


_CONTENT_RANGE = re.compile(r"^(?:bytes[ =])?(\d{1,19})-(\d{1,19})(?:/(?:\d{1,19}|\*))?$")


def content_range(request: Request) -> tuple[int | None, int | None]:
    """(start, length) of an upload chunk: from Content-Range when given (a
    malformed one is 416), else (None, Content-Length or None)."""
    header = request.headers.get("content-range")
    if header is None:
        return None, content_length(request)
    m = _CONTENT_RANGE.match(header.strip())
    if not m:
        raise RangeInvalid("malformed Content-Range", detail={"content-range": header[:64]})
    start, end = int(m.group(1)), int(m.group(2))
    if end < start:
        raise RangeInvalid("Content-Range ends before it starts")
    length = end - start + 1
    declared = content_length(request)
    if declared is not None and declared != length:
        raise SizeInvalid("Content-Range does not match Content-Length")
    return start, length


def content_length(request: Request) -> int | None:
    text = request.headers.get("content-length")
    if text is None:
        return None
    if not (text.isascii() and text.isdigit()):  # "²".isdigit(), yet int("²") fails
        raise SizeInvalid("malformed Content-Length")
    return int(text)


async def body(request: Request) -> AsyncIterator[bytes]:
    """The request body as it streams in, failing (408) when no byte arrives
    for `body_timeout` seconds: a stalled or trickling client gives back its
    upload slot and the session instead of holding them for ever."""
    timeout = request.app.state.config.body_timeout
    pieces = request.stream().__aiter__()
    while True:
        try:
            async with asyncio.timeout(timeout):  # no task per piece, unlike wait_for
                piece = await pieces.__anext__()
        except StopAsyncIteration:
            return
        except TimeoutError:
            raise BodyStalled(f"no byte of the request body for {timeout:g} s") from None
        yield piece


async def read_limited(request: Request, limit: int) -> bytes:
    """Read a small body whole, refusing (413) anything over `limit` early."""
    declared = content_length(request)
    if declared is not None and declared > limit:
        raise TooLarge(f"body larger than {limit} bytes")
    parts: list[bytes] = []
    size = 0
    async for chunk in body(request):
        size += len(chunk)
        if size > limit:
            raise TooLarge(f"body larger than {limit} bytes")
        parts.append(chunk)
    return b"".join(parts)


def has_body(request: Request) -> bool:
    """True when the request says it carries a body (chunked or non-zero length)."""
    if "chunked" in request.headers.get("transfer-encoding", "").lower():
        return True
    return (content_length(request) or 0) > 0
