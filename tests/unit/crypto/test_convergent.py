"""sealedreg-ce/v1 against its vectors, an independent HKDF, and every way to get it wrong."""

import hashlib
import hmac
import json
from pathlib import Path

import pytest

from sealedreg.crypto import convergent as ce
from sealedreg.crypto.stream import RangeDecryptor
from sealedreg.storage.unixfs import chunked
from tests.helpers.unixfs_vectors import file_cid

DOC = json.loads((Path(__file__).parents[2] / "vectors" / "ce-v1.json").read_text())
VECTORS = DOC["cases"]
FAILURES = DOC["failures"]


def plaintext(case: dict) -> bytes:
    p = case["plaintext"]
    if "hex" in p:
        return bytes.fromhex(p["hex"])
    return bytes(i % 251 for i in range(p["pattern_mod251"]))


def rfc5869(salt: bytes, ikm: bytes, info: bytes, n: int) -> bytes:
    """HKDF written out from RFC 5869 with the standard library, as a cross-check."""
    prk = hmac.new(salt, ikm, hashlib.sha256).digest()
    okm, t, i = b"", b"", 1
    while len(okm) < n:
        t = hmac.new(prk, t + info + bytes([i]), hashlib.sha256).digest()
        okm += t
        i += 1
    return okm[:n]


@pytest.mark.parametrize("case", VECTORS, ids=[c["name"] for c in VECTORS])
def test_vectors(case):
    plain = plaintext(case)
    assert "sha256:" + hashlib.sha256(plain).hexdigest() == case["digest"]
    secret = bytes.fromhex(case["secret_hex"]) if case["secret_hex"] else None
    key = ce.derive_key(case["digest"], secret)
    assert key.hex() == case["key_hex"]
    assert key == rfc5869(secret or bytes(32), case["digest"].encode(), b"sealedreg-ce/v1 key", 32)
    ct = ce.encrypt(plain, key)
    assert len(ct) == case["ciphertext_size"] == ce.ciphertext_size(len(plain))
    assert hashlib.sha256(ct).hexdigest() == case["ciphertext_sha256"]
    if "ciphertext_hex" in case:
        assert ct.hex() == case["ciphertext_hex"]
    pieces = chunked(ct)
    assert [p[:16].hex() for p in pieces] == case["chunk_heads_hex"]
    assert [p[-16:].hex() for p in pieces] == case["chunk_tags_hex"]
    assert all(len(p) == ce.CHUNK for p in pieces[:-1])
    assert file_cid(pieces) == case["cid"]
    assert ce.decrypt(ct, key) == plain


def test_same_blob_same_ciphertext_different_domain_different():
    d = "sha256:" + "1" * 64
    assert ce.encrypt(b"layer", ce.derive_key(d)) == ce.encrypt(b"layer", ce.derive_key(d))
    assert ce.derive_key(d) != ce.derive_key(d, bytes(range(32)))
    assert ce.derive_key(d, bytes(range(32))) != ce.derive_key(d, bytes(range(1, 33)))


def test_wrong_key():
    ct = ce.encrypt(b"secret layer", ce.derive_key("sha256:" + "a" * 64))
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct, ce.derive_key("sha256:" + "b" * 64))


def test_tampered_byte_anywhere():
    key = ce.derive_key("sha256:" + "c" * 64)
    ct = bytearray(ce.encrypt(bytes(ce.PLAIN_CHUNK + 10), key))
    for pos in (0, 500, ce.CHUNK - 1, ce.CHUNK, len(ct) - 1):
        bad = bytearray(ct)
        bad[pos] ^= 0x80
        with pytest.raises(ce.DecryptionError):
            ce.decrypt(bytes(bad), key)


def test_truncated_extended_reordered():
    key = ce.derive_key("sha256:" + "d" * 64)
    plain = bytes(range(256)) * 10000
    ct = ce.encrypt(plain, key)
    chunks = chunked(ct)
    # dropping the last chunk leaves a non-final chunk where the final one should be
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(b"".join(chunks[:-1]), key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct[:-1], key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(ct + chunks[-1], key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(chunks[1] + chunks[0] + b"".join(chunks[2:]), key)
    with pytest.raises(ce.DecryptionError):
        ce.decrypt(b"short", key)


def test_bad_secret_size():
    with pytest.raises(ValueError):
        ce.derive_key("sha256:" + "e" * 64, b"too short")


def test_size_arithmetic():
    for n in (0, 1, ce.PLAIN_CHUNK - 1, ce.PLAIN_CHUNK, ce.PLAIN_CHUNK + 1, 10 * ce.PLAIN_CHUNK):
        assert ce.plain_size_of(ce.ciphertext_size(n)) == n
    for bad in (0, 5, ce.CHUNK + 3):
        with pytest.raises(ValueError):
            ce.plain_size_of(bad)


def _failing_input(failure: dict) -> tuple[bytes, bytes]:
    """(ciphertext, key) of a failure vector: a case's ciphertext, mutated, or given whole."""
    if "ciphertext_hex" in failure:
        secret = bytes.fromhex(failure["secret_hex"]) if failure["secret_hex"] else None
        return bytes.fromhex(failure["ciphertext_hex"]), ce.derive_key(failure["digest"], secret)
    case = next(c for c in VECTORS if c["name"] == failure["of"])
    secret = bytes.fromhex(case["secret_hex"]) if case["secret_hex"] else None
    key = ce.derive_key(case["digest"], secret)
    ct = bytearray(ce.encrypt(plaintext(case), key))
    m = failure["mutation"]
    if "flip" in m:
        ct[m["flip"]] ^= 1
    if "truncate" in m:
        del ct[-m["truncate"]:]
    if "append_hex" in m:
        ct += bytes.fromhex(m["append_hex"])
    if "swap" in m:
        chunks = chunked(bytes(ct))
        i, j = m["swap"]
        chunks[i], chunks[j] = chunks[j], chunks[i]
        ct = bytearray(b"".join(chunks))
    if m.get("drop_last"):
        ct = bytearray(b"".join(chunked(bytes(ct))[:-1]))
    if "secret_hex" in m:
        key = ce.derive_key(case["digest"], bytes.fromhex(m["secret_hex"]) if m["secret_hex"] else None)
    return bytes(ct), key


@pytest.mark.parametrize("failure", FAILURES, ids=[f["name"] for f in FAILURES])
def test_failure_vectors_are_refused(failure):
    """Read as the registry reads: told the plaintext size, fed the stored ciphertext."""
    ct, key = _failing_input(failure)
    dec = RangeDecryptor(key, failure["plain_size"])
    framer = dec.framer()
    with pytest.raises(ce.DecryptionError, match=failure["error"]):
        for piece in chunked(ct):
            for index, chunk in framer.feed(piece):
                dec.decrypt(index, chunk)
        framer.finish()
