"""Size buckets (docs/format.md §8): sealed things are padded so that their
lengths say little about what they hold — how many recipients an envelope
has, how many tags or layers a repository has, how many repositories a
recipient may open.

Every bucket is a power of two, at least a minimum: the coarsest buckets
there are, so an outsider learns at most the base-2 logarithm of a size.

    pad(data) = u32be(len(data)) ‖ data ‖ 0x00 …   (total: the bucket of len(data) + 4)

`unpad` refuses anything that is not exactly that: a length that is not a
bucket, a length prefix beyond the data, or padding that is not zeros. The
padded bytes are always inside an authenticated ciphertext, so a refusal
here means a publisher wrote a malformed envelope, not that one was changed
in transit.
"""

from __future__ import annotations

import struct

MIN_BODY = 4096
"""The smallest padded envelope body: a repository with a manifest or two."""

MIN_INDEX = 1024
"""The smallest padded recipient index: a dozen entries."""

MIN_COUNT = 8
"""The smallest recipient set (stanzas per envelope, index files per tree)."""

MAX_PADDED = 16 << 20
"""The largest bucket: an envelope holds metadata, never layers."""


class PaddingError(ValueError):
    """Padded bytes that are not in the one form `pad` writes."""


def bucket(n: int, minimum: int) -> int:
    """The smallest power of two that is at least `n` and at least `minimum`."""
    if n < 0 or minimum < 1:
        raise ValueError("a size is not negative and a minimum is positive")
    size = 1 << max(n - 1, 0).bit_length()
    return max(size, 1 << (minimum - 1).bit_length())


def is_bucket(size: int, minimum: int) -> bool:
    return size >= minimum and size & (size - 1) == 0 and size == bucket(size, minimum)


def pad(data: bytes, minimum: int) -> bytes:
    total = bucket(len(data) + 4, minimum)
    if total > MAX_PADDED:
        raise PaddingError(f"{len(data)} bytes do not fit the largest bucket ({MAX_PADDED} bytes)")
    return struct.pack(">I", len(data)) + data + bytes(total - 4 - len(data))


def unpad(padded: bytes, minimum: int) -> bytes:
    if len(padded) < 4 or not is_bucket(len(padded), minimum) or len(padded) > MAX_PADDED:
        raise PaddingError(f"padded to {len(padded)} bytes, which is not a size bucket: cut short or malformed")
    (length,) = struct.unpack(">I", padded[:4])
    if length > len(padded) - 4:
        raise PaddingError("the padding's length prefix runs past its end")
    if any(padded[4 + length:]):
        raise PaddingError("the padding is not zeros")
    return padded[4:4 + length]
