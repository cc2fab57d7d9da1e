"""The namespace tree's layout (docs/format.md §6): the one module that knows
its paths.

```
/sealedreg.json                 the descriptor (`descriptor`), signed when the org has keys
/blobs/<alg>/<hh>/<hex>         global-domain ciphertext of a public blob, named by its digest,
                                sharded by the first two hex digits
/sealed/<id>.json               a private repository's sealed envelope (sealedreg-seal/v1)
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

DESCRIPTOR = "sealedreg.json"


def blob_path(digest: str) -> str:
    algorithm, _, hexpart = digest.partition(":")
    return f"blobs/{algorithm}/{hexpart[:2]}/{hexpart}"


def sealed_blob_path(cid: str) -> str:
    return f"sealed/blobs/{cid}"


def envelope_id(namespace: str, repo: str) -> str:
    """A private repository's envelope name: it reveals neither the repository's
    name nor its tags (but confirms an exact guess of the name: docs/format.md §8)."""
    return hashlib.sha256(b"sealedreg repo" + namespace.encode() + repo.encode()).hexdigest()


def envelope_path(namespace: str, repo: str) -> str:
    return f"sealed/{envelope_id(namespace, repo)}.json"


def tag_path(repo: str, tag: str) -> str:
    return f"repos/{repo}/tags/{tag}"


def manifest_path(repo: str, digest: str) -> str:
    return f"repos/{repo}/manifests/{digest}"
