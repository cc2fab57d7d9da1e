"""HTTP `Range` requests on blobs (RFC 9110 §14): one byte range, or none."""

from __future__ import annotations

import re

from sealedreg.registry.errors import RangeNotSatisfiable

_SPEC = re.compile(r"^bytes=(\d{0,19})-(\d{0,19})$")


def parse_range(header: str | None, size: int) -> tuple[int, int] | None:
    """Return (start, end) inclusive for a satisfiable single range.

    None means "serve the whole blob": no header, a header we do not
    understand, or several ranges (a server may ignore Range). A well-formed
    range that cannot be satisfied raises RangeNotSatisfiable (416).
    """
    if not header:
        return None
    m = _SPEC.match(header.strip().replace(" ", ""))
    if not m:
        return None
    first, last = m.group(1), m.group(2)
    if first == "" and last == "":
        return None
    if first == "":  # suffix range: the last N bytes
        n = int(last)
        if n == 0 or size == 0:
            raise RangeNotSatisfiable(size)
        return max(size - n, 0), size - 1
    start = int(first)
    if last != "" and int(last) < start:
        # RFC 9110 would have us ignore it; the conformance suites want 416.
        raise RangeNotSatisfiable(size)
    if start >= size:
        raise RangeNotSatisfiable(size)
    end = int(last) if last != "" else size - 1
    return start, min(end, size - 1)
