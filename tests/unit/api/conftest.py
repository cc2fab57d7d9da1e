from __future__ import annotations

import hashlib
import json
from typing import Iterator

import pytest
from starlette.testclient import TestClient

from sealedreg.server import assemble
from sealedreg.config import Config


def app_for(config: Config):
    """The app `serve` would run for `config`, in process."""
    return assemble(config).app


@pytest.fixture
def client(tmp_path) -> Iterator[TestClient]:
    config = Config(data=tmp_path / "data", durable=False)
    with TestClient(app_for(config)) as c:
        yield c


def sha256(data: bytes) -> str:
    return "sha256:" + hashlib.sha256(data).hexdigest()


def push_blob(client: TestClient, repo: str, data: bytes) -> str:
    digest = sha256(data)
    r = client.post(f"/v2/{repo}/blobs/uploads/?digest={digest}", content=data)
    assert r.status_code == 201, r.text
    return digest


def image_manifest(config_digest: str, config_size: int, layers: list[tuple[str, int]], **extra) -> bytes:
    doc = {
        "schemaVersion": 2,
        "mediaType": "application/vnd.oci.image.manifest.v1+json",
        "config": {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": config_digest,
                   "size": config_size},
        "layers": [{"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": d, "size": s}
                   for d, s in layers],
        **extra,
    }
    return json.dumps(doc, indent=1).encode()


def push_image(client: TestClient, repo: str, tag: str, layer: bytes = b"layer", **extra) -> tuple[str, bytes]:
    config = b'{"architecture":"amd64","os":"linux"}'
    cd = push_blob(client, repo, config)
    ld = push_blob(client, repo, layer)
    body = image_manifest(cd, len(config), [(ld, len(layer))], **extra)
    r = client.put(f"/v2/{repo}/manifests/{tag}", content=body,
                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
    assert r.status_code == 201, r.text
    return r.headers["docker-content-digest"], body


@pytest.fixture
def org_client(tmp_path) -> Iterator[TestClient]:
    """A registry where namespace `org.example` has its own dedupe domain."""
    from sealedreg.config import NamespaceConfig
    from sealedreg.protected_files import create_secret

    secret = tmp_path / "org.secret"
    create_secret(secret)
    config = Config(data=tmp_path / "data", durable=False,
                    namespaces={"org.example": NamespaceConfig(org_secret=secret)})
    with TestClient(app_for(config)) as c:
        yield c
