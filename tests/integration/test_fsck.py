"""`sealedreg fsck` on both backends with a real client: a rotten block in the
store's own files is found, named per repository, taken out of use by
`--repair`, and healed by pushing the image again."""

from __future__ import annotations

import base64
import json
import subprocess
import sys
from pathlib import Path

import pytest

from sealedreg.storage.cid import CID
from tests.helpers.backends import BACKENDS, registry_on
from tests.helpers.clients import ClientSandbox
from tests.helpers.ocilayout import write_image

pytestmark = pytest.mark.integration


def fsck(data: Path, *args: str, api: str | None) -> tuple[int, dict]:
    argv = [sys.executable, "-m", "sealedreg", "fsck", "--data", str(data), "--json", *args]
    if api:
        argv += ["--ipfs-api", api]
    done = subprocess.run(argv, capture_output=True, text=True, timeout=300)
    assert done.returncode in (0, 1), done.stderr
    return done.returncode, json.loads(done.stdout)


def block_file(backend: str, data: Path, node, cid: str) -> Path:
    """Where the store keeps the block: the embedded store's shard, or Kubo's flatfs."""
    if backend == "embedded":
        return data / "blocks" / cid[-3:-1] / cid
    key = base64.b32encode(CID.parse(cid).multihash).decode().rstrip("=")
    return node.ipfs_path / "blocks" / key[-3:-1] / f"{key}.data"


@pytest.mark.parametrize("backend", BACKENDS)
def test_fsck_finds_a_rotten_block_and_a_push_heals_it(backend, tmp_path, request):
    if backend == "kubo":
        request.getfixturevalue("kubo_built")
    img = write_image(tmp_path / "img", layers=[300_000], seed=21, compresslevel=0, tag="t")
    data = tmp_path / "data"
    with registry_on(backend, tmp_path) as (srv, node), ClientSandbox(tmp_path / "sb", srv.address) as sb:
        api = node.api_url if node else None
        ref = f"docker://{srv.address}/x.org/app:1"
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", ref, debug=False)
        assert fsck(data, api=api)[0] == 0
        argv = [sys.executable, "-m", "sealedreg", "inspect", "--data", str(data), "x.org/app:1"]
        doc = json.loads(subprocess.run(argv + (["--ipfs-api", api] if api else []), capture_output=True,
                                        text=True, check=True).stdout)
        layer = next(b for b in doc["blobs"] if b["role"] == "layer")  # one block: under 1 MiB
        path = block_file(backend, data, node, layer["cid"])
        rotten = bytearray(path.read_bytes())
        rotten[1000] ^= 0xFF
        path.write_bytes(bytes(rotten))

        code, report = fsck(data, api=api)
        assert code == 1 and not report["clean"]
        assert report["repositories"] == {"x.org/app": [layer["digest"]]}
        assert report["damage"][0]["blocks"] == [layer["cid"]]
        code, report = fsck(data, "--repair", api=api)
        assert code == 0 and report["clean"]
        sb.skopeo("copy", "--dest-tls-verify=false", f"oci:{img.path}:t", ref, debug=False)  # re-push: heals
        sb.skopeo("copy", "--src-tls-verify=false", ref, f"oci:{tmp_path / 'out'}:t", debug=False)
        code, report = fsck(data, api=api)
        assert code == 0 and report["damage"] == [] and report["blobs"] == 3
