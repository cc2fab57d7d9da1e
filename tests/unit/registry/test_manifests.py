"""Manifest validators, one per media type, chosen by a table."""

import base64
import json

import pytest

from sealedreg.registry import manifests as mf
from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import ManifestInvalid

CFG = {"mediaType": "application/vnd.oci.image.config.v1+json", "digest": str(Digest.of(b"{}")), "size": 2}
LAYER = {"mediaType": "application/vnd.oci.image.layer.v1.tar+gzip", "digest": str(Digest.of(b"L")), "size": 1}


def image(**extra) -> bytes:
    return json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST, "config": CFG, "layers": [LAYER],
                       **extra}).encode()


def test_every_supported_type_has_a_validator():
    assert set(mf.VALIDATORS) == {mf.OCI_MANIFEST, mf.OCI_INDEX, mf.DOCKER_MANIFEST, mf.DOCKER_LIST}


def test_image_depends_on_config_and_layers():
    info = mf.parse_manifest(image(), mf.OCI_MANIFEST)
    assert info.media_type == mf.OCI_MANIFEST and info.blobs == [CFG["digest"], LAYER["digest"]]
    assert info.artifact_type == CFG["mediaType"]  # what referrers report without artifactType


def test_inline_and_nondistributable_layers_are_not_required():
    inline = {**LAYER, "data": base64.b64encode(b"L").decode()}
    foreign = {**LAYER, "mediaType": "application/vnd.oci.image.layer.nondistributable.v1.tar",
               "digest": str(Digest.of(b"F"))}
    body = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_MANIFEST, "config": CFG,
                       "layers": [inline, foreign]}).encode()
    assert mf.parse_manifest(body, None).blobs == [CFG["digest"]]


def test_index_depends_on_children_and_subject_is_recorded():
    child = {"mediaType": mf.OCI_MANIFEST, "digest": str(Digest.of(image())), "size": len(image())}
    body = json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": [child],
                       "subject": child, "annotations": {"a": "b"}, "artifactType": "application/x-sig"}).encode()
    info = mf.parse_manifest(body, mf.OCI_INDEX)
    assert info.manifests == [child["digest"]] and info.subject == child["digest"]
    assert info.annotations == {"a": "b"} and info.artifact_type == "application/x-sig"


def test_media_type_from_the_shape_when_undeclared():
    body = json.dumps({"schemaVersion": 2, "config": CFG, "layers": []}).encode()
    assert mf.parse_manifest(body, "application/json").media_type == mf.OCI_MANIFEST


@pytest.mark.parametrize("body,content_type", [
    (b"not json", None),
    (b"[]", None),
    (image(schemaVersion=1), None),
    (image(), mf.OCI_INDEX),                                          # header disagrees with mediaType
    (image(mediaType="application/vnd.example+json"), None),          # unsupported type
    (json.dumps({"schemaVersion": 2, "config": CFG, "layers": []}).encode(), mf.DOCKER_MANIFEST),  # undeclared Docker
    (image(layers="x"), None),
    (image(layers=[{**LAYER, "size": -1}]), None),
    (image(layers=[{**LAYER, "size": True}]), None),
    (image(layers=[{**LAYER, "digest": "sha256:short"}]), None),
    (image(layers=[{**LAYER, "mediaType": "no-slash"}]), None),
    (image(layers=[{**LAYER, "data": base64.b64encode(b"other").decode()}]), None),
    (image(layers=[{**LAYER, "urls": "http://x"}]), None),
    (image(annotations={"a": 1}), None),
    (image(artifactType=7), None),
    (json.dumps({"schemaVersion": 2, "mediaType": mf.OCI_INDEX, "manifests": {}}).encode(), None),
])
def test_invalid_manifests(body, content_type):
    with pytest.raises(ManifestInvalid):
        mf.parse_manifest(body, content_type)
