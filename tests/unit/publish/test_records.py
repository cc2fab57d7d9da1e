"""The `_sealedreg` TXT record: written, found among other strings, refused when malformed."""

import pytest

from sealedreg.crypto.keys import KeyError_, OrgKeys
from sealedreg.publish.records import keys_from_records, keys_record, parse_fields

KEYS = OrgKeys.generate("partner.org")


def test_record_round_trip_among_other_strings():
    txt = keys_record(KEYS.public)
    assert txt.startswith("v=sealedreg1; sig=ed25519:") and "box=x25519:" in txt
    back = keys_from_records("partner.org", ["unrelated", "ipfsnode=/ip4/127.0.0.1/tcp/1", txt])
    assert bytes(back.box) == bytes(KEYS.box.public_key) and bytes(back.sig) == bytes(KEYS.sig.verify_key)
    assert back.name == "partner.org"


def test_fields_ignore_parts_without_a_value():
    assert parse_fields(" v = sealedreg1 ;junk; sig=a=b ") == {"v": "sealedreg1", "sig": "a=b"}


@pytest.mark.parametrize("records", [
    [],
    ["v=sealedreg2; sig=ed25519:AAAA; box=x25519:AAAA"],
    ["v=sealedreg1; box=x25519:" + "A" * 43 + "="],
    ["v=sealedreg1; sig=ed25519:short; box=x25519:short"],
    ["v=sealedreg1; sig=x25519:" + "A" * 43 + "=; box=x25519:" + "A" * 43 + "="],
])
def test_malformed_records_are_refused(records):
    with pytest.raises(KeyError_):
        keys_from_records("partner.org", records)


# -- the keys-v1 vector -----------------------------------------------------------
import json  # noqa: E402
from pathlib import Path  # noqa: E402

from sealedreg.crypto.keys import parse_keys  # noqa: E402

KV = json.loads((Path(__file__).parents[2] / "vectors" / "keys-v1.json").read_text())


def test_the_txt_record_of_the_keys_vector():
    keys = parse_keys(KV["key_file"].encode(), "vector", "x")
    assert keys_record(keys.public) == KV["txt"]
    found = keys_from_records("example.com", ["other", KV["txt"]])
    assert bytes(found.sig) == bytes(keys.sig.verify_key) and bytes(found.box) == bytes(keys.box.public_key)


@pytest.mark.parametrize("failure", KV["txt_failures"], ids=[f["name"] for f in KV["txt_failures"]])
def test_txt_failure_vectors(failure):
    with pytest.raises(KeyError_, match=failure["error"]):
        keys_from_records("example.com", failure["records"])


def test_records_naming_different_keys_are_refused_not_picked_from():
    mine, other = OrgKeys.generate("acme.test"), OrgKeys.generate("acme.test")
    same = keys_from_records("acme.test", [keys_record(mine.public), keys_record(mine.public) + "; note=x"])
    assert bytes(same.sig) == bytes(mine.public.sig)  # the same keys twice: fine
    for order in ([mine, other], [other, mine]):
        with pytest.raises(KeyError_, match="2 different keys"):
            keys_from_records("acme.test", [keys_record(k.public) for k in order])
