"""Pair keys: publisher and recipient compute the same ones without a word
exchanged, nobody else does, and a low-order box key is refused rather than
giving a secret everyone knows."""

import hashlib
import hmac
import json
import struct
from pathlib import Path

import pytest
from cryptography.hazmat.primitives.asymmetric.x25519 import X25519PrivateKey, X25519PublicKey
from nacl.public import PublicKey

from sealedreg.crypto.keys import OrgKeys, parse_keys
from sealedreg.crypto.pairwise import PairError, as_publisher, as_recipient, shared_secret

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v2.json").read_text())
KEYS = {role: parse_keys(json.dumps(doc).encode(), "vector", role) for role, doc in V["keys"].items()}
LOW_ORDER = [bytes.fromhex(f["public_hex"]) for f in V["pairwise_failures"]]


@pytest.mark.parametrize("case", V["pairwise"], ids=[c["name"] for c in V["pairwise"]])
def test_pairwise_vectors_from_both_sides(case):
    publisher, recipient = KEYS[case["publisher"]], KEYS[case["recipient"]]
    assert shared_secret(publisher.box, recipient.box.public_key).hex() == case["shared_secret_hex"]
    assert shared_secret(recipient.box, publisher.box.public_key).hex() == case["shared_secret_hex"]
    for pair in (as_publisher(publisher.box, recipient.box.public_key, case["namespace"]),
                 as_recipient(recipient.box, publisher.box.public_key, case["namespace"])):
        assert (pair.name_key.hex(), pair.index_key.hex()) == (case["name_key_hex"], case["index_key_hex"])
        assert {str(seq): pair.index_name(int(seq)) for seq in case["index_names"]} == case["index_names"]


def _hkdf_sha256(ikm: bytes, salt: bytes, info: bytes, length: int) -> bytes:
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    out, block = b"", b""
    for i in range((length + 31) // 32):
        block = hmac.new(prk, block + info + bytes([i + 1]), hashlib.sha256).digest()
        out += block
    return out[:length]


@pytest.mark.parametrize("case", V["pairwise"], ids=[c["name"] for c in V["pairwise"]])
def test_pairwise_vectors_follow_the_written_formula(case):
    """Recomputed from the format's description with other code (RFC 5869 by
    hand, X25519 from `cryptography`), so the vector pins the format, not the code."""
    publisher, recipient = KEYS[case["publisher"]], KEYS[case["recipient"]]
    pub_pk, rec_pk = bytes(publisher.box.public_key), bytes(recipient.box.public_key)
    ss = X25519PrivateKey.from_private_bytes(bytes(publisher.box)).exchange(X25519PublicKey.from_public_bytes(rec_pk))
    pair = _hkdf_sha256(ss, b"sealedreg-seal/v2 pair", pub_pk + rec_pk + case["namespace"].encode(), 64)
    assert ss.hex() == case["shared_secret_hex"]
    assert (pair[:32].hex(), pair[32:].hex()) == (case["name_key_hex"], case["index_key_hex"])
    for seq, name in case["index_names"].items():
        mac = hmac.new(pair[:32], b"sealedreg index" + struct.pack(">Q", int(seq)), hashlib.sha256).hexdigest()
        assert mac == name


def test_a_stranger_does_not_get_the_pair():
    pub, rec, stranger = KEYS["publisher"], KEYS["recipient"], KEYS["stranger"]
    pair = as_publisher(pub.box, rec.box.public_key, "example.com")
    for other in (as_recipient(stranger.box, pub.box.public_key, "example.com"),
                  as_publisher(pub.box, stranger.box.public_key, "example.com"),
                  as_recipient(rec.box, stranger.box.public_key, "example.com")):
        assert other.name_key != pair.name_key and other.index_key != pair.index_key


def test_the_pair_depends_on_the_namespace_and_the_roles():
    """The same two organisations share other keys in each other's namespace,
    and as publisher and recipient the other way round."""
    pub, rec = KEYS["publisher"], KEYS["recipient"]
    pair = as_publisher(pub.box, rec.box.public_key, "example.com")
    assert as_publisher(pub.box, rec.box.public_key, "partner.org") != pair
    assert as_publisher(rec.box, pub.box.public_key, "example.com") != pair


def test_index_names_change_with_every_seq_and_never_show_the_keys():
    pair = as_publisher(KEYS["publisher"].box, KEYS["recipient"].box.public_key, "example.com")
    names = {pair.index_name(seq) for seq in range(100)}
    assert len(names) == 100 and all(len(n) == 64 for n in names)
    assert pair.name_key.hex() not in repr(pair) and pair.index_key.hex() not in repr(pair)


@pytest.mark.parametrize("point", LOW_ORDER, ids=[f["name"] for f in V["pairwise_failures"]])
def test_a_low_order_box_key_is_refused(point):
    """Its shared secret is all zeros whatever our key: anyone could compute the pair."""
    me = OrgKeys.generate("x").box
    with pytest.raises(PairError, match="low-order"):
        shared_secret(me, PublicKey(point))
    with pytest.raises(PairError, match="low-order"):
        as_publisher(me, PublicKey(point), "example.com")
    with pytest.raises(PairError, match="low-order"):
        as_recipient(me, PublicKey(point), "example.com")


def test_the_low_order_vectors():
    assert {p.hex() for p in LOW_ORDER} >= {"00" * 32,
                                            "e0eb7a7c3b41b8ae1656e3faf19fc46ada098deb9c32b1fd866205165f49b800"}


# Every X25519 point of small order, and non-canonical encodings of some (libsodium's list).
SMALL_ORDER = ["0100000000000000000000000000000000000000000000000000000000000000",
               "5f9c95bca3508c24b1d0b1559c83ef5b04445cc4581c8e86d8224eddd09f1157",
               "ecffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
               "edffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f",
               "eeffffffffffffffffffffffffffffffffffffffffffffffffffffffffffff7f"]


@pytest.mark.parametrize("point", SMALL_ORDER)
def test_other_small_order_points_are_refused(point):
    with pytest.raises(PairError):
        as_recipient(KEYS["recipient"].box, PublicKey(bytes.fromhex(point)), "example.com")
