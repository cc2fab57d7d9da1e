"""The storage seam's shared helpers."""

import pytest

from sealedreg.storage.base import ContentCorrupt, ContentMissing, content_size, parse_content_id
from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.unixfs import build_file, chunked


def test_parse_content_id():
    cid = CID.of(b"x", RAW)
    assert parse_content_id(str(cid)) == cid
    with pytest.raises(ContentMissing):
        parse_content_id("not-a-cid")


def test_content_size_from_the_root_block():
    blocks = {}
    root = build_file(chunked(b"y" * (3 << 20)), lambda c, b: blocks.__setitem__(c, b))
    assert content_size(str(root.cid), blocks[root.cid]) == 3 << 20
    leaf = CID.of(b"abc", RAW)
    assert content_size(str(leaf), b"abc") == 3
    with pytest.raises(ContentCorrupt):
        content_size(str(root.cid), b"\x0a\x02garbage")
