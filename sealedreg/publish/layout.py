"""The namespace tree's layout (docs/format.md §6): the one module that knows
its paths.

```
/sealedreg.json                 the descriptor (`descriptor`), signed when the org has keys
/blobs/<alg>/<hh>/<hex>         global-domain ciphertext of a public blob, named by its digest,
                                sharded by the first two hex digits
/sealed/<id>.json               a private repository's sealed envelope (sealedreg-seal/v2; id: random)
/sealed/index/<name>            a recipient's index of the envelopes it may open (name: keyed, per seq)
/sealed/blobs/<cid>             org-domain or private-only ciphertext (no digest in the name)
/repos/<repo>/tags/<tag>        a public tag: a file holding the manifest digest
/repos/<repo>/manifests/<dgst>  a public manifest: its exact bytes
```

Names and digests reaching here have passed the registry's grammar (no `/`
in a tag, no `..` in a name); the directory builder refuses an empty, `.`
or `..` component whatever comes in.
"""

from __future__ import annotations

import hashlib
import secrets

DESCRIPTOR = "sealedreg.json"


def blob_path(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}"


def sealed_blob_path(cid: str) -> str:
    return f"sealed/blobs/{cid}"


SEALED = "sealed"
INDEX_DIR = "sealed/index"


def new_envelope_id() -> str:
    """A v2 envelope's name: random, so it says nothing about the repository
    (its recipients find it through their index)."""
    return secrets.token_hex(32)


def envelope_path(envelope: str) -> str:
    return f"{SEALED}/{envelope}.json"


def index_path(name: str) -> str:
    return f"{INDEX_DIR}/{name}"


def v1_envelope_id(namespace: str, repo: str) -> str:
    """A v1 envelope's name, for reading trees published before v2: an unkeyed
    hash that confirms an exact guess of the name (docs/format.md §8.7)."""
    return hashlib.sha256(b"sealedreg repo" + namespace.encode() + repo.encode()).hexdigest()


def tag_path(repo: str, tag: str) -> str:
    return f"repos/{repo}/tags/{tag}"


def manifest_path(repo: str, digest: str) -> str:
    return f"repos/{repo}/manifests/{digest}"
