"""Regenerate tests/vectors/ce-v1.json (only when the format version changes).

    python -m tests.vectors.make_ce_v1 > tests/vectors/ce-v1.json
"""

import hashlib
import json

from sealedreg.crypto.convergent import CHUNK, PLAIN_CHUNK, derive_key, encrypt
from sealedreg.storage.unixfs import chunked, file_cid


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
    print(json.dumps({"format": "sealedreg-ce/v1", "cases": out}, indent=2))


if __name__ == "__main__":
    main()
