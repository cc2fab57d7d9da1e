"""The namespace tree (DESIGN §5): the one module that knows its paths.

```
/sealedreg.json                 {"v":1,"ns":…,"seq":N[,"pub":{…},"sig":…]}  signed when the org has keys
/blobs/<alg>/<hh>/<hex>         global-domain ciphertext, named by plaintext digest,
                                sharded by the first two hex digits
/sealed/<id>.json               a private repository's sealed envelope (sealedreg-seal/v1)
/sealed/blobs/<cid>             org-domain or private-only ciphertext (no digest in the name)
/repos/<repo>/tags/<tag>        text: the manifest digest
/repos/<repo>/manifests/<dgst>  the exact manifest bytes
```

The tree is a plain UnixFS directory DAG built from a list of entries; its
root CID is what a namespace publishes (DNSLink or IPNS). Building it is
deterministic: the same entries give the same root on every backend.
"""

from __future__ import annotations

import base64
import hashlib
import json
from dataclasses import dataclass
from typing import Callable

from nacl.exceptions import BadSignatureError
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import OrgKeys, b64
from sealedreg.storage.cid import CID, DAG_PB
from sealedreg.storage.unixfs import Link, build_file, chunked, encode_directory

DESCRIPTOR = "sealedreg.json"


def blob_path(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}"


def sealed_blob_path(cid: str) -> str:
    return f"sealed/blobs/{cid}"


def envelope_id(namespace: str, repo: str) -> str:
    """A private repository's envelope name: reveals neither its name nor its tags."""
    return hashlib.sha256(b"sealedreg repo" + namespace.encode() + repo.encode()).hexdigest()


def envelope_path(namespace: str, repo: str) -> str:
    return f"sealed/{envelope_id(namespace, repo)}.json"


def tag_path(repo: str, tag: str) -> str:
    return f"repos/{repo}/tags/{tag}"


def manifest_path(repo: str, digest: str) -> str:
    return f"repos/{repo}/manifests/{digest}"


@dataclass(frozen=True)
class Entry:
    path: str
    cid: CID
    tsize: int


@dataclass(frozen=True)
class TreeRoot:
    cid: CID
    entries: int


BlockSink = Callable[[CID, bytes], None]


def file_entry(path: str, data: bytes, sink: BlockSink) -> Entry:
    """A small file (a tag, a manifest, the descriptor) as UnixFS blocks."""
    root = build_file(chunked(data), sink)
    return Entry(path, root.cid, root.tsize)


def descriptor(namespace: str, seq: int, keys: OrgKeys | None = None) -> bytes:
    """`sealedreg.json`; with the org's keys it names them and is signed:
    `sig` = Ed25519 over the canonical JSON of every other field."""
    doc: dict = {"v": 1, "ns": namespace, "seq": seq}
    if keys is not None:
        doc["pub"] = {"sig": keys.public.sig_text, "box": keys.public.box_text}
        doc["sig"] = b64(keys.sig.sign(_canonical(doc)).signature)
    return _canonical(doc)


def verify_descriptor(raw: bytes, publisher: VerifyKey, min_seq: int = 0) -> dict:
    """Check a signed `sealedreg.json` against the trusted publisher key, and
    refuse a sequence number below `min_seq` (one already seen: a rollback)."""
    try:
        doc = json.loads(raw)
        sig = base64.b64decode(doc.pop("sig"), validate=True)
        publisher.verify(_canonical(doc), sig)
    except (ValueError, KeyError, TypeError, AttributeError, BadSignatureError):
        raise ValueError("sealedreg.json is not signed by the expected publisher") from None
    if not isinstance(doc.get("seq"), int) or doc["seq"] < min_seq:
        raise ValueError(f"sealedreg.json seq {doc.get('seq')!r} is older than {min_seq}, already seen")
    return doc


def _canonical(doc: dict) -> bytes:
    return json.dumps(doc, sort_keys=True, separators=(",", ":")).encode()


def build_tree(entries: list[Entry], sink: BlockSink) -> TreeRoot:
    """Nest `entries` by path and emit the directory blocks bottom-up."""
    root: dict = {}
    for entry in entries:
        parts = entry.path.split("/")
        if any(p in ("", ".", "..") for p in parts):
            raise ValueError(f"bad tree path {entry.path!r}")
        node = root
        for part in parts[:-1]:
            node = node.setdefault(part, {})
            if not isinstance(node, dict):
                raise ValueError(f"{entry.path!r} is below a file")
        if parts[-1] in node:
            raise ValueError(f"{entry.path!r} twice in the tree")
        node[parts[-1]] = entry

    def emit(node: dict) -> tuple[CID, int]:
        links = []
        for name, child in node.items():
            if isinstance(child, dict):
                cid, tsize = emit(child)
            else:
                cid, tsize = child.cid, child.tsize
            links.append(Link(cid, tsize, name))
        block = encode_directory(links)
        cid = CID.of(block, DAG_PB)
        sink(cid, block)
        return cid, len(block) + sum(link.tsize for link in links)

    cid, _ = emit(root)
    return TreeRoot(cid, len(entries))
