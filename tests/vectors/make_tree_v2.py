"""Regenerate tests/vectors/tree-v2.json (only when the tree format changes).

    python -m tests.vectors.make_tree_v2 > tests/vectors/tree-v2.json

(tests/vectors/tree-v1.json, made by this script's version-1 ancestor, is
kept frozen: version 1 descriptors must still verify.)

A namespace tree built from fixed inputs (docs/format.md §6): one public blob
(the ciphertext of `blob_plain_hex` in the global domain), one public manifest
and its tag, signed by fixed keys. Building it again must give `root`, the
same `descriptor` bytes and the same CID at every path. Private envelopes are
randomised and pinned by seal-v2.json instead. `descriptor_failures` must be
refused when verified with `key`, for `namespace`, after `min_seq` was seen.
"""

import asyncio
import hashlib
import json
import tempfile
from pathlib import Path

from nacl.public import PrivateKey
from nacl.signing import SigningKey

from sealedreg.crypto.convergent import derive_key, encrypt
from sealedreg.crypto.keys import OrgKeys
from sealedreg.crypto.signed import canonical, sign_document
from sealedreg.publish import layout
from sealedreg.publish.builder import NamespaceSnapshot, PublicManifest, PublicTag, TreeBlob, build_tree
from sealedreg.publish.descriptor import make_descriptor
from sealedreg.publish.reader import TreeReader
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.unixfs import chunked

NAMESPACE = "example.com"
KEYS = OrgKeys(NAMESPACE, SigningKey(bytes(range(32))), PrivateKey(bytes(range(32, 64))))
OTHER = OrgKeys("other.net", SigningKey(bytes(range(64, 96))), PrivateKey(bytes(range(96, 128))))
BLOB = b"a public layer"
MANIFEST = b'{"schemaVersion":2,"mediaType":"application/vnd.oci.image.manifest.v1+json"}'
REPO, TAG = "example.com/app", "1.0"


async def build() -> dict:
    with tempfile.TemporaryDirectory() as tmp:
        (Path(tmp) / "tmp").mkdir()
        store = EmbeddedStore(Path(tmp) / "blocks", Path(tmp) / "tmp", durable=False)
        blob_digest = "sha256:" + hashlib.sha256(BLOB).hexdigest()

        async def leaves():
            for leaf in chunked(encrypt(BLOB, derive_key(blob_digest))):
                yield leaf

        blob = await store.put_chunks(leaves())
        manifest_digest = "sha256:" + hashlib.sha256(MANIFEST).hexdigest()
        snap = NamespaceSnapshot(NAMESPACE, KEYS, blobs=[TreeBlob(blob_digest, blob.content_id, True)],
                                 manifests=[PublicManifest(REPO, manifest_digest, MANIFEST)],
                                 tags=[PublicTag(REPO, TAG, manifest_digest)])
        built = await build_tree(store, snap, None)
        reader = TreeReader(store.get_block, built.root, NAMESPACE)
        files = {}
        async for node in reader.walk():
            files.setdefault(node.path, str(node.cid))
        return {"root": built.root, "seq": built.seq, "blob_digest": blob_digest, "blob_cid": blob.content_id,
                "manifest_digest": manifest_digest, "paths": files,
                "descriptor": (await reader.file(layout.DESCRIPTOR)).decode()}


def descriptor_failures() -> list[dict]:
    good = json.loads(make_descriptor(NAMESPACE, 1, KEYS))
    fields = {k: v for k, v in good.items() if k != "sig"}

    def case(name: str, raw: bytes, error: str, **check) -> dict:
        return {"name": name, "descriptor": raw.decode(), "namespace": check.get("namespace", NAMESPACE),
                "min_seq": check.get("min_seq", 0), "error": error}

    return [
        case("signed by another key", make_descriptor(NAMESPACE, 1, OTHER), "expected publisher"),
        case("changed after signing", canonical({**good, "seq": 2}), "expected publisher"),
        case("signature removed", canonical(fields), "expected publisher"),
        case("not canonical JSON", json.dumps(good, indent=1).encode(), "canonical"),
        case("for another namespace", make_descriptor("other.net", 1, KEYS), "not 'example.com'"),
        case("older than one already seen", make_descriptor(NAMESPACE, 1, KEYS), "already seen", min_seq=2),
        case("another version", sign_document({**fields, "v": 3}, KEYS.sig), "version 2"),
        case("not JSON", b"sealedreg", "not JSON"),
    ]


def main() -> None:
    print(json.dumps({
        "format": "sealedreg namespace tree (docs/format.md §6) with a signed descriptor",
        "namespace": NAMESPACE, "key": json.loads(KEYS.to_json()),
        "blob_plain_hex": BLOB.hex(), "manifest": MANIFEST.decode(), "repository": REPO, "tag": TAG,
        **asyncio.run(build()),
        "descriptor_failures": descriptor_failures(),
    }, indent=2))


if __name__ == "__main__":
    main()
