"""Fuzzing the registry's parsers of what clients send (issue 13, item 6):
manifests and index manifests, digests, repository names, tags and
references. Each raises only its documented RegistryError, and what it
accepts reads back as itself."""

from __future__ import annotations

import json

import pytest
from hypothesis import example, given
from hypothesis import strategies as st

from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import (DigestInvalid, ManifestInvalid, ManifestUnknown, NameInvalid,
                                       Unsupported)
from sealedreg.registry.manifests import (DOCKER_LIST, DOCKER_MANIFEST, OCI_INDEX, OCI_MANIFEST, VALIDATORS,
                                          parse_manifest)
from sealedreg.registry.refs import (parse_reference, read_reference, validate_name, validate_pushable,
                                     validate_tag)
from tests.helpers.fuzz import ANY_TEXT, FUZZ, deeply_nested, json_values, mutated, mutated_text

CONFIG = b'{"architecture":"amd64","os":"linux"}'
LAYER = b"layer"


def _desc(content: bytes, media_type: str, **extra) -> dict:
    return {"mediaType": media_type, "digest": str(Digest.of(content)), "size": len(content), **extra}


IMAGE = {"schemaVersion": 2, "mediaType": OCI_MANIFEST,
         "config": _desc(CONFIG, "application/vnd.oci.image.config.v1+json"),
         "layers": [_desc(LAYER, "application/vnd.oci.image.layer.v1.tar+gzip"),
                    _desc(b"inline", "application/octet-stream", data="aW5saW5l")],
         "annotations": {"a": "b"}}
INDEX = {"schemaVersion": 2, "mediaType": OCI_INDEX,
         "manifests": [_desc(json.dumps(IMAGE).encode(), OCI_MANIFEST, platform={"os": "linux"})],
         "subject": _desc(b"s", OCI_MANIFEST)}
DOCKER = {**IMAGE, "mediaType": DOCKER_MANIFEST}
LIST = {**INDEX, "mediaType": DOCKER_LIST}
MANIFESTS = [json.dumps(m).encode() for m in (IMAGE, INDEX, DOCKER, LIST)]
CONTENT_TYPES = st.none() | st.sampled_from(["", OCI_MANIFEST, OCI_INDEX, DOCKER_MANIFEST, "application/json",
                                             "text/plain; charset=utf-8", "APPLICATION/VND.OCI.IMAGE.INDEX.V1+JSON"])
DESCRIPTOR = st.fixed_dictionaries({}, optional={"mediaType": json_values() | st.just(OCI_MANIFEST),
                                                 "digest": json_values() | st.just(str(Digest.of(b""))),
                                                 "size": json_values() | st.just(0),
                                                 "data": json_values() | st.just(""),
                                                 "urls": json_values(), "annotations": json_values()})
SHAPED = st.fixed_dictionaries({"schemaVersion": st.just(2) | json_values()}, optional={
    "mediaType": st.sampled_from(list(VALIDATORS)) | json_values(), "config": DESCRIPTOR | json_values(),
    "layers": st.lists(DESCRIPTOR | json_values(), max_size=3) | json_values(),
    "manifests": st.lists(DESCRIPTOR, max_size=3) | json_values(), "subject": DESCRIPTOR | json_values(),
    "annotations": json_values(), "artifactType": json_values() | st.just("application/x.a")})


@FUZZ
@given(body=st.binary(max_size=300) | mutated(MANIFESTS) | SHAPED.map(lambda d: json.dumps(d).encode()),
       content_type=CONTENT_TYPES)
@example(body=b'{"schemaVersion":2,"config":{"mediaType":"a/b","digest":"sha256:' + b"0" * 64
         + b'","size":1e400},"layers":[]}', content_type=None)
def test_parse_manifest_raises_only_manifest_invalid(body, content_type):
    try:
        info = parse_manifest(body, content_type)
    except ManifestInvalid:
        return
    assert info.media_type in VALIDATORS
    for digest in info.blobs + info.manifests + ([info.subject] if info.subject else []):
        assert str(Digest.parse(digest)) == digest


@pytest.mark.parametrize("body", [deeply_nested(), b'{"schemaVersion":2,"config":' * 20_000])
def test_deeply_nested_manifests_are_invalid(body):
    with pytest.raises(ManifestInvalid):
        parse_manifest(body, OCI_MANIFEST)


DIGESTS = [str(Digest.of(b"x")), str(Digest.of(b"x", "sha512")), "sha256+b64:abc", "md5:" + "0" * 32]


@FUZZ
@given(text=ANY_TEXT | mutated_text(DIGESTS))
def test_digest_parse_raises_only_digest_errors_and_round_trips(text):
    try:
        digest = Digest.parse(text)
    except (DigestInvalid, Unsupported):
        return
    assert str(digest) == text and len(digest.hex) == {"sha256": 64, "sha512": 128}[digest.algorithm]


NAMES = ["example.com/app", "a/b__c/d-e", "library/alpine", "x" * 255]
TAGS = ["latest", "1.0", "_x", "a" * 128]


@FUZZ
@given(text=ANY_TEXT | mutated_text(NAMES + TAGS + DIGESTS))
def test_names_tags_and_references_raise_only_registry_errors(text):
    for check, errors in ((validate_name, NameInvalid), (validate_pushable, NameInvalid),
                          (validate_tag, ManifestInvalid), (parse_reference, (ManifestInvalid, DigestInvalid,
                                                                              Unsupported)),
                          (read_reference, ManifestUnknown)):
        try:
            value = check(text)
        except errors:
            continue
        assert value == text or str(value) == text
    try:
        validate_name(text)
    except NameInvalid:
        return
    assert text.isascii() and ".." not in text and not text.startswith("/") and "\0" not in text


@pytest.mark.parametrize("text", ["a" + "-" * 250 + "!", "a" + "._" * 127 + "!", "a" * 254 + "/", "a_" * 127 + "_"])
def test_name_grammar_stays_fast_on_near_misses(text):
    """Each is one character from valid: a backtracking pattern would take ages on them."""
    with pytest.raises(NameInvalid):
        validate_name(text)
