import json

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.storage import tree
from sealedreg.storage.cid import CID, DAG_PB


def test_paths_and_envelope_ids():
    assert tree.blob_path("sha256:" + "ab" * 32) == "blobs/sha256/ab/" + "ab" * 32
    a = tree.envelope_id("example.com", "example.com/a")
    assert len(a) == 64 and a != tree.envelope_id("example.com", "example.com/b")
    assert "example" not in tree.envelope_path("example.com", "example.com/a")


def test_empty_tree_is_the_empty_directory():
    root = tree.build_tree([], lambda c, b: None)
    assert str(root.cid) == "bafybeiczsscdsbs7ffqz55asqdf3smv6klcw3gofszvwlyarci47bgf354"


@pytest.mark.parametrize("paths", [["a/../b"], ["a//b"], ["a", "a/b"], ["a/b", "a"], ["x", "x"], [""]])
def test_bad_paths(paths):
    entries = [tree.Entry(p, CID.of(b"x", DAG_PB), 1) for p in paths]
    with pytest.raises(ValueError):
        tree.build_tree(entries, lambda c, b: None)


def test_signed_descriptor():
    org, other = OrgKeys.generate("example.com"), OrgKeys.generate("other")
    raw = tree.descriptor("example.com", 4, org)
    doc = tree.verify_descriptor(raw, org.sig.verify_key, min_seq=4)
    assert doc["ns"] == "example.com" and doc["pub"]["box"] == org.public.box_text
    with pytest.raises(ValueError, match="expected publisher"):
        tree.verify_descriptor(raw, other.sig.verify_key)
    with pytest.raises(ValueError, match="already seen"):
        tree.verify_descriptor(raw, org.sig.verify_key, min_seq=5)
    forged = json.loads(raw)
    forged["seq"] = 99
    with pytest.raises(ValueError):
        tree.verify_descriptor(json.dumps(forged).encode(), org.sig.verify_key)
    assert json.loads(tree.descriptor("example.com", 1)) == {"ns": "example.com", "seq": 1, "v": 1}
