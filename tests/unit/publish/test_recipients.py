"""Naming the other party: key text or a .pub file here; a domain goes to DNS
(tested against a real DNS server in tests/integration/test_private.py)."""

import pytest

from sealedreg.crypto.keys import KeyError_, OrgKeys
from sealedreg.publish import recipients
from sealedreg.publish.keyfiles import write_keys

KEYS = OrgKeys.generate("partner.org")


def test_recipient_by_key_text_and_file(tmp_path):
    label, key = recipients.recipient(KEYS.public.box_text)
    assert bytes(key) == bytes(KEYS.box.public_key) and label == f"kid:{KEYS.public.kid}"
    _, pub = write_keys(KEYS, tmp_path)
    label, key = recipients.recipient(str(pub))
    assert label == "partner.org" and bytes(key) == bytes(KEYS.box.public_key)


def test_publisher_by_key_text_and_file(tmp_path):
    assert bytes(recipients.publisher(KEYS.public.sig_text)) == bytes(KEYS.sig.verify_key)
    _, pub = write_keys(KEYS, tmp_path)
    assert bytes(recipients.publisher(str(pub))) == bytes(KEYS.sig.verify_key)


@pytest.mark.parametrize("text", ["x25519:short", "x25519:" + "A" * 44, "/nonexistent/x.pub", "keys/x.pub"])
def test_bad_recipients(text):
    with pytest.raises(KeyError_):
        recipients.recipient(text)


def test_a_box_key_is_not_a_publisher():
    with pytest.raises(KeyError_):
        recipients.publisher("ed25519:short")
