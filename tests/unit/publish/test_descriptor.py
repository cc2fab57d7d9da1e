"""`/sealedreg.json`: signed by the org, bound to its namespace, never rolled back."""

import json

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.crypto.signed import canonical
from sealedreg.publish.descriptor import DescriptorError, make_descriptor, verify_descriptor

ORG, OTHER = OrgKeys.generate("example.com"), OrgKeys.generate("other")


def test_signed_descriptor_verifies_for_its_key_and_namespace():
    raw = make_descriptor("example.com", 4, ORG)
    doc = verify_descriptor(raw, ORG.sig.verify_key, min_seq=4, namespace="example.com")
    assert doc["ns"] == "example.com" and doc["seq"] == 4 and doc["pub"]["box"] == ORG.public.box_text
    assert "sig" not in doc


def test_unsigned_descriptor_without_keys():
    assert json.loads(make_descriptor("example.com", 1)) == {"ns": "example.com", "seq": 1, "v": 1}
    with pytest.raises(DescriptorError):
        verify_descriptor(make_descriptor("example.com", 1), ORG.sig.verify_key)


def test_wrong_key_rollback_and_other_namespace_are_refused():
    raw = make_descriptor("example.com", 4, ORG)
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(raw, OTHER.sig.verify_key)
    with pytest.raises(DescriptorError, match="already seen"):
        verify_descriptor(raw, ORG.sig.verify_key, min_seq=5)
    with pytest.raises(DescriptorError, match="not 'other.net'"):
        verify_descriptor(raw, ORG.sig.verify_key, namespace="other.net")


@pytest.mark.parametrize("change", [
    lambda d: d.update(seq=99),
    lambda d: d.update(ns="evil.com"),
    lambda d: d["pub"].update(sig=OTHER.public.sig_text),
    lambda d: d.pop("sig"),
    lambda d: d.update(sig="AAAA"),
])
def test_any_change_breaks_the_signature(change):
    doc = json.loads(make_descriptor("example.com", 4, ORG))
    change(doc)
    with pytest.raises(DescriptorError):
        verify_descriptor(canonical(doc), ORG.sig.verify_key)


def test_non_canonical_encoding_is_refused():
    raw = make_descriptor("example.com", 4, ORG)
    spaced = json.dumps(json.loads(raw), indent=1).encode()
    with pytest.raises(DescriptorError, match="canonical"):
        verify_descriptor(spaced, ORG.sig.verify_key)
