"""Hypothesis strategies for fuzzing parsers of untrusted input: valid samples
(from tests/vectors/ or the package's own writers) mutated the ways real
damage and real attackers change them — bit flips, truncation, insertion,
deletion, duplication and splicing of two samples — plus the settings every
parser property runs with (no wall-clock deadline: CI machines are noisy)."""

from __future__ import annotations

from typing import Sequence

from hypothesis import HealthCheck, settings
from hypothesis import strategies as st

FUZZ = settings(max_examples=250, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""The default for a parser property."""

FEW = settings(max_examples=80, deadline=None, suppress_health_check=[HealthCheck.too_slow])
"""For properties whose every example does real cryptography or big inputs."""

_OPS = ("flip", "byte", "cut", "cut_front", "insert", "delete", "duplicate", "splice")


def _mutate(draw, data: list, pool: Sequence, unit: st.SearchStrategy) -> list:
    """Apply one to four edits to `data` (a list of bytes or characters)."""
    for _ in range(draw(st.integers(1, 4))):
        op = draw(st.sampled_from(_OPS))
        n = len(data)
        if op == "flip" and n and isinstance(data[0], int):
            i = draw(st.integers(0, n - 1))
            data[i] ^= 1 << draw(st.integers(0, 7))
        elif op in ("flip", "byte") and n:
            data[draw(st.integers(0, n - 1))] = draw(unit)
        elif op == "cut":
            del data[draw(st.integers(0, n)):]
        elif op == "cut_front":
            del data[:draw(st.integers(0, n))]
        elif op == "insert":
            at = draw(st.integers(0, n))
            data[at:at] = draw(st.lists(unit, min_size=1, max_size=8))
        elif op == "delete" and n:
            at = draw(st.integers(0, n - 1))
            del data[at:at + draw(st.integers(1, 8))]
        elif op == "duplicate" and n:
            at = draw(st.integers(0, n - 1))
            span = data[at:at + draw(st.integers(1, 16))]
            data[at:at] = span
        elif op == "splice":
            other = list(draw(st.sampled_from(pool)))
            cut = draw(st.integers(0, n))
            data[cut:] = other[draw(st.integers(0, len(other))):]
    return data


def mutated(samples: Sequence[bytes]) -> st.SearchStrategy[bytes]:
    """A sample from `samples`, unchanged or edited (bytes)."""
    pool = [bytes(s) for s in samples]

    @st.composite
    def strategy(draw) -> bytes:
        data = list(draw(st.sampled_from(pool)))
        if draw(st.integers(0, 9)) == 0:
            return bytes(data)
        return bytes(_mutate(draw, data, pool, st.integers(0, 255)))

    return strategy()


# Characters that matter to text parsers: ASCII, its separators, Latin-1 (what
# HTTP header bytes decode to), non-ASCII digits and a lone surrogate.
TEXT_UNITS = st.one_of(
    st.characters(min_codepoint=0, max_codepoint=0x7F),
    st.sampled_from(list(" \t\n\r:;,=/-_.*@#$%+()[]\"'\\\x00\x85\xa0²¹\u0661\u06f3\u2028\ufffd\ud800\U0001d7d9")),
    st.characters(),
)


def mutated_text(samples: Sequence[str]) -> st.SearchStrategy[str]:
    """A sample from `samples`, unchanged or edited (text)."""
    pool = list(samples)

    @st.composite
    def strategy(draw) -> str:
        data = list(draw(st.sampled_from(pool)))
        if draw(st.integers(0, 9)) == 0:
            return "".join(data)
        return "".join(_mutate(draw, data, pool, TEXT_UNITS))

    return strategy()


ANY_TEXT = st.text(TEXT_UNITS, max_size=120)
"""Arbitrary text, weighted towards the characters parsers split on."""

_JSON_CHARACTERS = TEXT_UNITS.filter(lambda c: not "\ud800" <= c <= "\udfff")  # JSON text is UTF-8
JSON_SCALARS = (st.none() | st.booleans() | st.integers(-(2**70), 2**70)
                | st.floats(allow_nan=False, allow_infinity=False) | st.text(_JSON_CHARACTERS, max_size=12))


def json_values(scalars: st.SearchStrategy = JSON_SCALARS, max_leaves: int = 12) -> st.SearchStrategy:
    """Arbitrary JSON-encodable values (what a hostile document may put in any field)."""
    return st.recursive(scalars, lambda inner: st.lists(inner, max_size=4)
                        | st.dictionaries(st.text(max_size=8), inner, max_size=4), max_leaves=max_leaves)


def deeply_nested(depth: int = 100_000) -> bytes:
    """JSON nested past Python's recursion limit (RecursionError in a naive reader)."""
    return b"[" * depth + b"]" * depth
