"""Digests: only what can be verified is accepted."""

import hashlib

import pytest

from sealedreg.registry.digests import Digest, is_digest, new_hasher
from sealedreg.registry.errors import DigestInvalid, Unsupported


def test_parse_and_of():
    d = Digest.of(b"x")
    assert str(d) == "sha256:" + hashlib.sha256(b"x").hexdigest() and Digest.parse(str(d)) == d
    s = Digest.of(b"x", "sha512")
    assert Digest.parse(str(s)).hex == hashlib.sha512(b"x").hexdigest()


@pytest.mark.parametrize("text", ["", "sha256", "sha256:", "sha256:" + "A" * 64, "sha256:" + "a" * 63,
                                  "sha256:" + "a" * 65, "sha256:" + "g" * 64, "sha256:../etc", "sha256:a\n",
                                  "SHA256:" + "a" * 64, "x" * 300])
def test_malformed_digests(text):
    with pytest.raises(DigestInvalid):
        Digest.parse(text)


def test_well_formed_but_unknown_algorithms_are_unsupported():
    with pytest.raises(Unsupported):
        Digest.parse("md5:" + "a" * 32)
    with pytest.raises(Unsupported):
        new_hasher("md5")


def test_is_digest_tells_digests_from_tags():
    assert is_digest("sha256:abc") and not is_digest("latest")
