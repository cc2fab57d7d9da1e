"""Regenerate tests/vectors/seal-v1.json (only when the format version changes).

    python -m tests.vectors.make_seal_v1 > tests/vectors/seal-v1.json

Sealing is randomised (DEK, nonce, sealed-box ephemeral keys), so the vector
is one envelope made once, with the fixed keys that must open it.
"""

import json

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from sealedreg.crypto.envelope import seal
from sealedreg.crypto.keys import OrgKeys, b64
from sealedreg.storage.tree import envelope_id

PUBLISHER = OrgKeys("example.com", SigningKey(bytes(range(32))), PrivateKey(bytes(range(32, 64))))
RECIPIENT = OrgKeys("partner.org", SigningKey(bytes(range(64, 96))), PrivateKey(bytes(range(96, 128))))
PAYLOAD = {"v": 1, "repo": "example.com/secret", "tags": {"1.0": "sha256:" + "ab" * 32},
           "layers": {"sha256:" + "cd" * 32: {"cid": "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                                               "size": 0, "key": b64(bytes(32))}}}


def main() -> None:
    envelope = seal(PAYLOAD, namespace="example.com", envelope_id=envelope_id("example.com", PAYLOAD["repo"]),
                    seq=7, publisher=PUBLISHER,
                    recipients=[PUBLISHER.box.public_key, RECIPIENT.box.public_key])
    print(json.dumps({
        "format": "sealedreg-seal/v1",
        "publisher_key": json.loads(PUBLISHER.to_json()),
        "recipient_key": json.loads(RECIPIENT.to_json()),
        "envelope": envelope.decode(),
        "payload": PAYLOAD,
        "seq": 7,
    }, indent=2))


if __name__ == "__main__":
    main()
