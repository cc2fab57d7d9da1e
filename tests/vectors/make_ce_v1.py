"""Regenerate tests/vectors/ce-v1.json (only when the format version changes).

    python -m tests.vectors.make_ce_v1 > tests/vectors/ce-v1.json

`cases` pin the codec; `failures` are ciphertexts that must be refused, each
given as a mutation of a case's ciphertext (`of`), or in full (`ciphertext_hex`),
with the plaintext size the reader is told and the error it must raise.
"""

import hashlib
import json

from cryptography.hazmat.primitives.ciphers.aead import AESGCM

from sealedreg.crypto.convergent import AAD, CHUNK, PLAIN_CHUNK, derive_key, encrypt, nonce
from sealedreg.storage.unixfs import chunked
from tests.helpers.unixfs_vectors import file_cid


def pattern(n: int) -> bytes:
    return bytes(i % 251 for i in range(n))


CASES = [
    ("empty blob, global domain", b"", None),
    ("hello, global domain", b"hello", None),
    ("hello, org domain", b"hello", bytes(range(32))),
    ("one byte short of a chunk", pattern(PLAIN_CHUNK - 1), None),
    ("exactly one chunk", pattern(PLAIN_CHUNK), None),
    ("one chunk and one byte", pattern(PLAIN_CHUNK + 1), None),
    ("three chunks and change, org domain", pattern(3 * PLAIN_CHUNK + 7), bytes(range(100, 132))),
]


def main() -> None:
    out = []
    for name, plain, secret in CASES:
        digest = "sha256:" + hashlib.sha256(plain).hexdigest()
        key = derive_key(digest, secret)
        ct = encrypt(plain, key)
        case = {
            "name": name,
            "plaintext": {"pattern_mod251": len(plain)} if len(plain) > 64 else {"hex": plain.hex()},
            "digest": digest,
            "secret_hex": secret.hex() if secret else None,
            "key_hex": key.hex(),
            "ciphertext_size": len(ct),
            "ciphertext_sha256": hashlib.sha256(ct).hexdigest(),
            "chunk_heads_hex": [ct[i:i + 16].hex() for i in range(0, len(ct), CHUNK)],
            "chunk_tags_hex": [ct[min(i + CHUNK, len(ct)) - 16:min(i + CHUNK, len(ct))].hex()
                               for i in range(0, len(ct), CHUNK)],
            "cid": file_cid(chunked(ct)),
        }
        if len(ct) <= 64:
            case["ciphertext_hex"] = ct.hex()
        out.append(case)
    print(json.dumps({"format": "sealedreg-ce/v1", "cases": out, "failures": failures()}, indent=2))


def failures() -> list[dict]:
    hello = "sha256:" + hashlib.sha256(b"hello").hexdigest()
    not_final = AESGCM(derive_key(hello)).encrypt(nonce(0, last=False), b"hello", AAD)
    three = "three chunks and change, org domain"
    size3 = 3 * PLAIN_CHUNK + 7
    return [
        {"name": "flipped bit in the tag", "of": "hello, global domain", "mutation": {"flip": 20},
         "plain_size": 5, "error": "authentication failed"},
        {"name": "flipped bit in the body", "of": three, "mutation": {"flip": CHUNK + 100},
         "plain_size": size3, "error": "authentication failed"},
        {"name": "truncated by a byte", "of": "hello, global domain", "mutation": {"truncate": 1},
         "plain_size": 5, "error": "ended early"},
        {"name": "extended by a byte", "of": "hello, global domain", "mutation": {"append_hex": "00"},
         "plain_size": 5, "error": "past its last chunk"},
        {"name": "chunks swapped", "of": three, "mutation": {"swap": [0, 1]},
         "plain_size": size3, "error": "authentication failed"},
        {"name": "last chunk dropped, told the shorter size", "of": three, "mutation": {"drop_last": True},
         "plain_size": 3 * PLAIN_CHUNK, "error": "authentication failed"},
        {"name": "last chunk dropped, told the real size", "of": three, "mutation": {"drop_last": True},
         "plain_size": size3, "error": "ended early"},
        {"name": "org-domain content read with the global key", "of": "hello, org domain",
         "mutation": {"secret_hex": None}, "plain_size": 5, "error": "authentication failed"},
        {"name": "final chunk sealed without the last flag", "digest": hello, "secret_hex": None,
         "ciphertext_hex": not_final.hex(), "plain_size": 5, "error": "authentication failed"},
    ]


if __name__ == "__main__":
    main()
