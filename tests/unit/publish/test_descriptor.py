"""`/sealedreg.json`: signed by the org, bound to its namespace, never rolled back."""

import json
from pathlib import Path

import pytest

from sealedreg.crypto.keys import OrgKeys, b64, parse_keys
from sealedreg.crypto.signed import canonical, sign_document
from sealedreg.publish.descriptor import DescriptorError, make_descriptor, verify_descriptor

ORG, OTHER = OrgKeys.generate("example.com"), OrgKeys.generate("other")


def test_signed_descriptor_verifies_for_its_key_and_namespace():
    raw = make_descriptor("example.com", 4, ORG)
    doc = verify_descriptor(raw, ORG.sig.verify_key, min_seq=4, namespace="example.com")
    assert doc["ns"] == "example.com" and doc["seq"] == 4 and doc["pub"]["box"] == ORG.public.box_text
    assert "sig" not in doc.fields and doc.signer == ORG.public.sig_text and doc.rotated_from is None


def test_unsigned_descriptor_without_keys():
    assert json.loads(make_descriptor("example.com", 1)) == {"ns": "example.com", "seq": 1, "v": 2}
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
                                                                          "seq": 1, "v": 2}


def test_without_now_expiry_is_not_checked():
    assert "expires" not in verify_descriptor(make_descriptor("example.com", 1, ORG), ORG.sig.verify_key).fields
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


# -- version 2: key rotation (seal-v2.json) ---------------------------------------------
V2 = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v2.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V2["keys"].items()}


def _verify(case: dict):
    return verify_descriptor(case["descriptor"].encode(), KEYS[case["key"]].sig.verify_key, min_seq=case["min_seq"],
                             namespace=case["namespace"], now=case["now"])


@pytest.mark.parametrize("case", V2["descriptors"], ids=[c["name"] for c in V2["descriptors"]])
def test_descriptor_vectors(case):
    doc = _verify(case)
    assert (doc.signer, doc.rotated_from) == (case["signer"], case["rotated_from"])
    assert doc.version == 2 and doc.seq == json.loads(case["descriptor"])["seq"]
    assert doc.box == json.loads(case["descriptor"])["pub"]["box"]


def test_descriptor_vectors_are_made_by_make_descriptor():
    """The vectors' bytes are what make_descriptor writes (Ed25519 is deterministic)."""
    rotated = KEYS["rotated"]
    for case in V2["descriptors"]:
        fields = json.loads(case["descriptor"])
        keys = rotated if "prev" in fields else KEYS["publisher"]
        assert make_descriptor(fields["ns"], fields["seq"], keys, expires=fields["expires"],
                               content=fields["content"]).decode() == case["descriptor"]


@pytest.mark.parametrize("failure", V2["descriptor_failures"], ids=[f["name"] for f in V2["descriptor_failures"]])
def test_descriptor_failure_vectors(failure):
    with pytest.raises(DescriptorError, match=failure["error"]):
        _verify(failure)


def test_the_rotated_keys_remember_the_old_ones():
    rotated = KEYS["rotated"]
    assert rotated.previous is not None
    assert rotated.previous.public.sig_text == KEYS["publisher"].public.sig_text
    assert rotated.box_keys() == [rotated.box, KEYS["publisher"].box]


NEW = ORG.rotated()


def test_a_rotation_is_followed_from_the_old_key():
    raw = make_descriptor("example.com", 5, NEW, expires=NOW + 60)
    doc = verify_descriptor(raw, ORG.sig.verify_key, min_seq=5, namespace="example.com", now=NOW)
    assert doc.signer == NEW.public.sig_text and doc.rotated_from == ORG.public.sig_text
    assert doc["prev"] == {"sig": ORG.public.sig_text} and doc.box == NEW.public.box_text
    assert "sig" not in doc.fields and "prev_sig" not in doc.fields


def test_a_rotation_verifies_plainly_under_the_new_key():
    doc = verify_descriptor(make_descriptor("example.com", 5, NEW), NEW.sig.verify_key)
    assert doc.signer == NEW.public.sig_text and doc.rotated_from is None


def test_after_a_rotation_the_old_key_alone_is_not_enough():
    """Whoever still holds the old key cannot publish to readers that moved to the new one."""
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(make_descriptor("example.com", 6, ORG), NEW.sig.verify_key)


def test_a_rotation_needs_both_signatures():
    doc = json.loads(make_descriptor("example.com", 5, NEW))
    for name in ("sig", "prev_sig"):
        with pytest.raises(DescriptorError, match="rotation both"):
            verify_descriptor(canonical({k: v for k, v in doc.items() if k != name}), ORG.sig.verify_key)


def test_a_rotation_cannot_be_redirected():
    """Changing the new key named (to one the attacker holds) breaks the old key's countersignature."""
    doc = json.loads(make_descriptor("example.com", 5, NEW))
    doc["pub"] = {"sig": OTHER.public.sig_text, "box": OTHER.public.box_text}
    fields = {k: v for k, v in doc.items() if k not in ("sig", "prev_sig")}
    doc["sig"] = b64(OTHER.sig.sign(canonical(fields)).signature)
    with pytest.raises(DescriptorError, match="rotation both"):
        verify_descriptor(canonical(doc), ORG.sig.verify_key)


def test_a_rotation_is_checked_for_seq_and_expiry_like_any_descriptor():
    raw = make_descriptor("example.com", 5, NEW, expires=NOW)
    with pytest.raises(DescriptorError, match="already seen"):
        verify_descriptor(raw, ORG.sig.verify_key, min_seq=6)
    with pytest.raises(DescriptorError, match="expired"):
        verify_descriptor(raw, ORG.sig.verify_key, now=NOW)


def test_a_v2_descriptor_must_name_its_signer():
    fields = {"v": 2, "ns": "example.com", "seq": 1, "pub": {"sig": OTHER.public.sig_text,
                                                              "box": OTHER.public.box_text}}
    with pytest.raises(DescriptorError, match="names another key"):
        verify_descriptor(sign_document(fields, ORG.sig), ORG.sig.verify_key)


def test_a_version_1_descriptor_still_verifies():
    """Trees published before v2 carry "v": 1 descriptors, signed the same way."""
    fields = {"v": 1, "ns": "example.com", "seq": 3, "expires": NOW + 60,
              "pub": {"sig": ORG.public.sig_text, "box": ORG.public.box_text}}
    doc = verify_descriptor(sign_document(fields, ORG.sig), ORG.sig.verify_key, min_seq=3, namespace="example.com",
                            now=NOW)
    assert doc.version == 1 and doc.seq == 3 and doc.signer == ORG.public.sig_text and doc.rotated_from is None
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(sign_document(fields, ORG.sig), OTHER.sig.verify_key)


@pytest.mark.parametrize("version", [0, 3, "2", None])
def test_other_versions_are_refused(version):
    fields = {"v": version, "ns": "example.com", "seq": 1,
              "pub": {"sig": ORG.public.sig_text, "box": ORG.public.box_text}}
    with pytest.raises(DescriptorError, match="not a version"):
        verify_descriptor(sign_document(fields, ORG.sig), ORG.sig.verify_key)


@pytest.mark.parametrize("version", [True, 1.0, 2.0, "2"])
def test_a_version_that_only_compares_equal_to_a_known_one_is_refused(version):
    fields = {k: v for k, v in json.loads(make_descriptor("example.com", 1, ORG)).items() if k != "sig"}
    with pytest.raises(DescriptorError, match="version"):
        verify_descriptor(sign_document({**fields, "v": version}, ORG.sig), ORG.sig.verify_key)


def test_a_verified_descriptor_answers_membership():
    doc = verify_descriptor(make_descriptor("example.com", 1, ORG), ORG.sig.verify_key)
    assert "seq" in doc and "expires" not in doc


@pytest.mark.parametrize("bad", ["AAAA", "!!!", 7, None])
def test_a_signature_that_is_not_64_bytes_of_base64_is_refused(bad):
    doc = json.loads(make_descriptor("example.com", 1, ORG))
    with pytest.raises(DescriptorError, match="expected publisher"):
        verify_descriptor(canonical({**doc, "sig": bad}), ORG.sig.verify_key)
