"""Content digests (`algorithm:hex`) as the distribution-spec defines them.

Only registered algorithms whose encoded part we can verify are accepted:
a digest we cannot check is a digest we must not trust.
"""

from __future__ import annotations

import hashlib
import re
from dataclasses import dataclass
from typing import Callable

from sealedreg.registry.errors import DigestInvalid, Unsupported

# algorithm -> (hashlib constructor, hex length)
ALGORITHMS: dict[str, tuple[Callable[[], "hashlib._Hash"], int]] = {
    "sha256": (hashlib.sha256, 64),
    "sha512": (hashlib.sha512, 128),
}
DEFAULT_ALGORITHM = "sha256"

# The spec's general grammar; anything that fails it is DIGEST_INVALID, a
# well-formed digest with an unknown algorithm is UNSUPPORTED.
_GRAMMAR = re.compile(r"^[a-z0-9]+(?:[+._-][a-z0-9]+)*:[a-zA-Z0-9=_-]+$")


@dataclass(frozen=True, order=True)
class Digest:
    algorithm: str
    hex: str

    def __str__(self) -> str:
        return f"{self.algorithm}:{self.hex}"

    @classmethod
    def parse(cls, text: str) -> "Digest":
        """Parse and validate; raise DigestInvalid (or Unsupported) otherwise."""
        if len(text) > 256 or not _GRAMMAR.fullmatch(text):
            raise DigestInvalid("invalid digest", detail={"digest": text[:256]})
        algorithm, encoded = text.split(":", 1)
        if algorithm not in ALGORITHMS:
            raise Unsupported(f"unsupported digest algorithm {algorithm!r}")
        expected_len = ALGORITHMS[algorithm][1]
        if len(encoded) != expected_len or not all(c in "0123456789abcdef" for c in encoded):
            raise DigestInvalid("invalid digest", detail={"digest": text})
        return cls(algorithm, encoded)

    @classmethod
    def of(cls, data: bytes, algorithm: str = DEFAULT_ALGORITHM) -> "Digest":
        return cls(algorithm, _hash(algorithm, data))


def _hash(algorithm: str, data: bytes) -> str:
    h = new_hasher(algorithm)
    h.update(data)
    return h.hexdigest()


def new_hasher(algorithm: str) -> "hashlib._Hash":
    try:
        return ALGORITHMS[algorithm][0]()
    except KeyError:
        raise Unsupported(f"unsupported digest algorithm {algorithm!r}") from None


def is_digest(text: str) -> bool:
    """True when `text` looks like a digest rather than a tag (it has a colon)."""
    return ":" in text
