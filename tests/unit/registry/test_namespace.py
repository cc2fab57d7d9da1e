"""The registry's side of publishing: what a namespace holds, split into what
is published in the clear and what is sealed."""

import asyncio

from sealedreg.crypto.convergent import derive_key
from sealedreg.crypto.keys import OrgKeys
from sealedreg.registry.domains import Domains
from sealedreg.registry.index import BlobRecord, Index, ManifestRecord
from sealedreg.registry.namespace import snapshot
from sealedreg.registry.policy import NamespacePolicy, Policy

SECRET = bytes(range(32))
KEYS = OrgKeys.generate("example.com")
PARTNER = OrgKeys.generate("partner.org")
SHARED = BlobRecord("sha256:" + "1" * 64, 10, "bafkshared", "global")
PRIVATE = BlobRecord("sha256:" + "2" * 64, 20, "bafkprivate", "org:example.com")
ORGPUB = BlobRecord("sha256:" + "5" * 64, 50, "bafkorgpub", "org:example.com")
MPUB = BlobRecord("sha256:" + "3" * 64, 30, "bafkmpub", "global")
MPRIV = BlobRecord("sha256:" + "4" * 64, 40, "bafkmpriv", "org:example.com")


def test_snapshot_splits_public_and_private(tmp_path):
    index = Index(tmp_path / "i.sqlite")
    policy = Policy({"example.com": NamespacePolicy("example.com", ("secret-*",), keys=KEYS)})
    domains = Domains({"example.com": SECRET})

    async def go():
        await index.add_blob("example.com/app", SHARED)
        await index.add_blob("example.com/secret-a", SHARED)
        await index.add_blob("example.com/secret-a", PRIVATE)
        await index.add_blob("example.com/secret-a", ORGPUB)
        await index.add_blob("example.com/app", ORGPUB)  # org domain: by CID even when public
        await index.put_manifest(ManifestRecord("example.com/app", MPUB.digest, "global", "t/pub", 30, None, None,
                                                None), MPUB, (), ["1.0"])
        await index.put_manifest(ManifestRecord("example.com/secret-a", MPRIV.digest, MPRIV.domain, "t/priv", 40,
                                                None, None, None), MPRIV, (), ["hush"])
        await index.grant("example.com/secret-a", PARTNER.public.kid, PARTNER.public.box_text)

        async def read(stored):
            return b"bytes of " + stored.digest.encode()

        return await snapshot(index, policy, domains, read, "example.com")

    snap = asyncio.run(go())
    index.close()
    assert snap.namespace == "example.com" and snap.keys is KEYS
    placed = {(b.digest, b.cid): b.public for b in snap.blobs}
    assert placed == {(SHARED.digest, SHARED.content_id): True, (PRIVATE.digest, PRIVATE.content_id): False,
                      (ORGPUB.digest, ORGPUB.content_id): False}
    assert [(m.repo, m.digest) for m in snap.manifests] == [("example.com/app", MPUB.digest)]
    assert [(t.repo, t.tag) for t in snap.tags] == [("example.com/app", "1.0")]
    (sealed,) = snap.private
    contents = sealed.contents
    assert contents.repo == "example.com/secret-a" and contents.tags == {"hush": MPRIV.digest}
    assert contents.manifests == {MPRIV.digest: ("t/priv", b"bytes of " + MPRIV.digest.encode())}
    assert contents.layers[PRIVATE.digest].key == derive_key(PRIVATE.digest, SECRET)
    assert contents.layers[PRIVATE.digest].domain == "org"
    assert contents.layers[SHARED.digest].key == derive_key(SHARED.digest)
    assert [bytes(k) for k in sealed.grantees] == [bytes(PARTNER.box.public_key)]
