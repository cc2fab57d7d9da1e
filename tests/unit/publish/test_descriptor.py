"""`/sealedreg.json`: signed by the org, bound to its namespace, never rolled back."""

import json

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.crypto.signed import canonical, sign_document
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


# -- expiry -------------------------------------------------------------------------
NOW = 1_900_000_000


def test_expires_is_signed_and_kept():
    raw = make_descriptor("example.com", 2, ORG, expires=NOW + 60)
    doc = verify_descriptor(raw, ORG.sig.verify_key, namespace="example.com", now=NOW)
    assert doc["expires"] == NOW + 60 and doc["seq"] == 2


def test_expires_is_written_as_whole_seconds():
    assert json.loads(make_descriptor("example.com", 1, expires=NOW + 0.9))["expires"] == NOW
    assert json.loads(make_descriptor("example.com", 1, ORG, expires=NOW + 0.9))["expires"] == NOW


def test_unsigned_descriptor_carries_expires():
    assert json.loads(make_descriptor("example.com", 1, expires=NOW)) == {"expires": NOW, "ns": "example.com",
                                                                          "seq": 1, "v": 1}


def test_without_now_expiry_is_not_checked():
    assert "expires" not in verify_descriptor(make_descriptor("example.com", 1, ORG), ORG.sig.verify_key)
    past = make_descriptor("example.com", 1, ORG, expires=1)
    assert verify_descriptor(past, ORG.sig.verify_key)["expires"] == 1


def test_given_now_a_descriptor_without_expires_is_refused():
    with pytest.raises(DescriptorError, match="no expiry"):
        verify_descriptor(make_descriptor("example.com", 1, ORG), ORG.sig.verify_key, now=NOW)


@pytest.mark.parametrize("expires", [NOW, NOW - 1, 0, 1])
def test_a_past_or_present_expiry_is_refused(expires):
    raw = make_descriptor("example.com", 1, ORG, expires=expires)
    with pytest.raises(DescriptorError, match="expired"):
        verify_descriptor(raw, ORG.sig.verify_key, now=NOW)


def test_the_expiry_message_names_the_time():
    raw = make_descriptor("example.com", 1, ORG, expires=NOW)
    with pytest.raises(DescriptorError, match="expired at 2030-03-17T17:46:40Z"):
        verify_descriptor(raw, ORG.sig.verify_key, now=NOW + 1)


@pytest.mark.parametrize("now", [NOW + 0.999, NOW + 0.5])
def test_expiry_compares_with_fractional_now(now):
    raw = make_descriptor("example.com", 1, ORG, expires=NOW + 1)
    verify_descriptor(raw, ORG.sig.verify_key, now=now)
    with pytest.raises(DescriptorError, match="expired"):
        verify_descriptor(raw, ORG.sig.verify_key, now=NOW + 1.0)


def test_a_future_expiry_is_accepted():
    raw = make_descriptor("example.com", 1, ORG, expires=NOW + 1)
    assert verify_descriptor(raw, ORG.sig.verify_key, now=NOW)["expires"] == NOW + 1


@pytest.mark.parametrize("expires", ["2030-01-01", str(NOW + 100), NOW + 100.5, True, None, [NOW + 100], {}])
def test_an_expires_that_is_not_an_integer_is_refused(expires):
    fields = {k: v for k, v in json.loads(make_descriptor("example.com", 1, ORG)).items() if k != "sig"}
    fields["expires"] = expires
    raw = sign_document(fields, ORG.sig)
    if expires is None:  # an explicit null is no expiry: refused only when the time is known
        assert verify_descriptor(raw, ORG.sig.verify_key)["expires"] is None
        with pytest.raises(DescriptorError, match="no expiry"):
            verify_descriptor(raw, ORG.sig.verify_key, now=NOW)
        return
    with pytest.raises(DescriptorError, match="expires is not a time"):
        verify_descriptor(raw, ORG.sig.verify_key)
    with pytest.raises(DescriptorError, match="expires is not a time"):
        verify_descriptor(raw, ORG.sig.verify_key, now=NOW)


def test_expires_cannot_be_changed_after_signing():
    doc = json.loads(make_descriptor("example.com", 1, ORG, expires=NOW))
    doc["expires"] = NOW + 10**6
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(canonical(doc), ORG.sig.verify_key, now=NOW)


def test_expiry_is_checked_after_the_signature_and_seq():
    past = make_descriptor("example.com", 1, ORG, expires=1)
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(past, OTHER.sig.verify_key, now=NOW)
    with pytest.raises(DescriptorError, match="already seen"):
        verify_descriptor(past, ORG.sig.verify_key, min_seq=2, now=NOW)
