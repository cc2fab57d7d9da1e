import pytest
from hypothesis import given
from hypothesis import strategies as st

from sealedreg.api.ranges import parse_range
from sealedreg.registry.errors import RangeNotSatisfiable


@pytest.mark.parametrize("header,size,expected", [
    (None, 10, None),
    ("bytes=0-4", 10, (0, 4)),
    ("bytes=5-", 10, (5, 9)),
    ("bytes=-3", 10, (7, 9)),
    ("bytes=-30", 10, (0, 9)),
    ("bytes=2-100", 10, (2, 9)),
    ("bytes=0-0", 1, (0, 0)),
    ("bytes=0-1,3-4", 10, None),  # several ranges: served whole
    ("items=0-1", 10, None),
    ("bytes=-", 10, None),
])
def test_parse_range(header, size, expected):
    assert parse_range(header, size) == expected


@pytest.mark.parametrize("header,size", [("bytes=5-2", 10), ("bytes=500-0", 1000), ("bytes=10-", 10), ("bytes=10-20", 10), ("bytes=-0", 10), ("bytes=0-", 0)])
def test_unsatisfiable(header, size):
    with pytest.raises(RangeNotSatisfiable) as info:
        parse_range(header, size)
    assert info.value.size == size


@given(size=st.integers(1, 10_000), a=st.integers(0, 20_000), b=st.integers(0, 20_000))
def test_range_is_within_blob(size, a, b):
    try:
        span = parse_range(f"bytes={a}-{b}", size)
    except RangeNotSatisfiable:
        assert a >= size or b < a
        return
    if span is not None:
        start, end = span
        assert 0 <= start <= end < size
        assert start == a
