"""Fuzzing the API's parsers of request headers and parameters (issue 13,
item 6): `Range` on blobs, and `Content-Range`, `Content-Length` and `n`
on uploads and lists, each from arbitrary Latin-1 header bytes as HTTP
delivers them. Only the documented 4xx errors, and a range always lies
within the blob."""

from __future__ import annotations

from urllib.parse import quote

import pytest
from hypothesis import example, given
from hypothesis import strategies as st
from starlette.requests import Request

from sealedreg.api.common import content_length, content_range, page_params
from sealedreg.api.ranges import parse_range
from sealedreg.registry.errors import RangeInvalid, RangeNotSatisfiable, SizeInvalid
from tests.helpers.fuzz import ANY_TEXT, FUZZ, mutated_text

RANGES = ["bytes=0-0", "bytes=5-", "bytes=-5", "bytes=0-99999999999999999999", "bytes=1-2,4-5", "bytes = 3 - 4"]
LATIN1 = st.binary(max_size=40).map(lambda b: b.decode("latin-1"))


@FUZZ
@given(header=st.none() | ANY_TEXT | LATIN1 | mutated_text(RANGES), size=st.integers(0, 2**64))
def test_parse_range_lies_within_the_blob(header, size):
    try:
        r = parse_range(header, size)
    except RangeNotSatisfiable as exc:
        assert exc.size == size
        return
    if r is not None:
        start, end = r
        assert 0 <= start <= end < size


def _request(headers: dict[str, str], query: str = "") -> Request:
    return Request({"type": "http", "method": "PATCH", "path": "/", "query_string": query.encode("latin-1"),
                    "headers": [(k.encode(), v.encode("latin-1")) for k, v in headers.items()]})


CONTENT_RANGES = ["0-99", "bytes=0-99", "bytes 100-199/*", "5-4", "0-9/10"]


@FUZZ
@given(cr=st.none() | LATIN1 | mutated_text(CONTENT_RANGES).filter(lambda t: all(ord(c) < 256 for c in t)),
       cl=st.none() | LATIN1 | st.sampled_from(["100", "0", "²", "\xd9\xa3", " 1", "1 "]))
@example(cr=None, cl="²")                # str.isdigit() says yes, int() says no: ValueError
@example(cr="0-9", cl="¹")
def test_content_range_and_length_raise_only_4xx(cr, cl):
    headers = {k: v for k, v in (("content-range", cr), ("content-length", cl)) if v is not None}
    try:
        start, length = content_range(_request(headers))
    except (RangeInvalid, SizeInvalid):
        return
    if start is not None:
        assert start >= 0 and length >= 1
    assert length is None or (length >= 0 and (cl is None or length == int(cl)))


@FUZZ
@given(n=ANY_TEXT | st.sampled_from(["10", "0", "²", "¹²", "٣"]))
@example(n="²")                          # a query parameter is any UTF-8: a 500 before
def test_page_params_raise_only_size_invalid(n):
    try:
        last, limit = page_params(_request({}, "n=" + quote(n.encode("utf-8", "surrogatepass"))))
    except SizeInvalid:
        return
    assert limit is None or 0 <= limit


@pytest.mark.parametrize("value", ["²", "¹⁰", "٣"])
def test_content_length_is_ascii_digits(value):
    with pytest.raises(SizeInvalid):
        content_length(_request({"content-length": value.encode("utf-8").decode("latin-1")}))
