"""Organisation keys and their encodings, against the keys-v1 vector."""

import json
from pathlib import Path

import pytest

from sealedreg.crypto.keys import KeyError_, OrgKeys, b64, check_key_name, kid, parse_keys, parse_public, parse_tagged

KV = json.loads((Path(__file__).parents[2] / "vectors" / "keys-v1.json").read_text())


def test_the_keys_vector():
    keys = parse_keys(KV["key_file"].encode(), "vector", "x")
    assert keys.to_json().decode() == KV["key_file"]
    assert keys.public.to_json().decode() == KV["pub_file"] and keys.public.kid == KV["kid"]
    pub = parse_public(KV["pub_file"].encode(), "vector", "x")
    assert bytes(pub.sig) == bytes(keys.sig.verify_key) and kid(bytes(pub.box)) == KV["kid"]


@pytest.mark.parametrize("failure", KV["key_failures"], ids=[f["name"] for f in KV["key_failures"]])
def test_key_file_failure_vectors(failure):
    with pytest.raises(KeyError_, match=failure["error"]):
        parse_keys(failure["file"].encode(), "vector", "x")


def test_repr_never_shows_a_private_key():
    keys = OrgKeys.generate("x")
    assert b64(bytes(keys.sig)) not in repr(keys) and b64(bytes(keys.box)) not in repr(keys)


def test_tagged_keys_and_names():
    assert parse_tagged("x25519:" + b64(bytes(32)), "x25519") == bytes(32)
    for bad in ("ed25519:" + b64(bytes(32)), "x25519:" + b64(bytes(31)), "x25519"):
        with pytest.raises(KeyError_):
            parse_tagged(bad, "x25519")
    assert check_key_name("example.com") == "example.com"
    for name in ("../x", "a/b", "", ".hidden", "x" * 200):
        with pytest.raises(KeyError_):
            check_key_name(name)
