"""Regenerate tests/vectors/keys-v1.json (only when a key format changes).

    python -m tests.vectors.make_keys_v1 > tests/vectors/keys-v1.json

An organisation's key file, public key file, kid and `_sealedreg` TXT record
for fixed keys (docs/format.md §8); `failures` are key files and TXT record
sets that must be refused with their `error`.
"""

import json

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from sealedreg.crypto.keys import OrgKeys, b64
from sealedreg.publish.records import keys_record

KEYS = OrgKeys("example.com", SigningKey(bytes(range(32))), PrivateKey(bytes(range(32, 64))))


def main() -> None:
    pub = KEYS.public
    record = keys_record(pub)
    short = "A" * 20
    print(json.dumps({
        "format": "sealedreg-key/v1, sealedreg-pub/v1, _sealedreg TXT v=sealedreg1",
        "key_file": KEYS.to_json().decode(),
        "pub_file": pub.to_json().decode(),
        "kid": pub.kid,
        "txt": record,
        "key_failures": [
            {"name": "not JSON", "file": "sealedreg", "error": "not a sealedreg key file"},
            {"name": "a public key file", "file": pub.to_json().decode(), "error": "not a sealedreg-key/v1 key file"},
            {"name": "no box key", "file": json.dumps({"v": "sealedreg-key/v1", "sig": "ed25519:" + b64(bytes(32))}),
             "error": "not a sealedreg-key/v1 key file"},
            {"name": "short signing key", "file": json.dumps({"v": "sealedreg-key/v1", "sig": "ed25519:" + short,
                                                                "box": "x25519:" + b64(bytes(32))}),
             "error": "must be 32 bytes"},
            {"name": "box key where the signing key goes",
             "file": json.dumps({"v": "sealedreg-key/v1", "sig": "x25519:" + b64(bytes(32)),
                                 "box": "x25519:" + b64(bytes(32))}), "error": "expected ed25519:"},
            {"name": "not base64", "file": json.dumps({"v": "sealedreg-key/v1", "sig": "ed25519:!!!!",
                                                       "box": "x25519:" + b64(bytes(32))}), "error": "not base64"},
        ],
        "txt_failures": [
            {"name": "no record", "records": [], "error": "no v=sealedreg1 record"},
            {"name": "another version", "records": [record.replace("sealedreg1", "sealedreg2")],
             "error": "no v=sealedreg1 record"},
            {"name": "no signing key", "records": [f"v=sealedreg1; box={pub.box_text}"],
             "error": "no v=sealedreg1 record"},
            {"name": "short key", "records": [f"v=sealedreg1; sig=ed25519:{short}; box={pub.box_text}"],
             "error": "must be 32 bytes"},
            {"name": "keys swapped", "records": [f"v=sealedreg1; sig={pub.box_text}; box={pub.sig_text}"],
             "error": "expected ed25519:"},
        ],
    }, indent=2))


if __name__ == "__main__":
    main()
