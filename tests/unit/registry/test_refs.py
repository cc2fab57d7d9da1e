import pytest

from sealedreg.registry.digests import Digest
from sealedreg.registry.errors import DigestInvalid, ManifestInvalid, NameInvalid, Unsupported
from sealedreg.registry.refs import parse_reference, validate_name, validate_pushable, validate_tag

GOOD_NAMES = ["a", "example.com/app", "a/b/c", "my-app", "my__app", "a.b_c-d/e---f", "x" * 255]
BAD_NAMES = ["", "A", "-a", "a-", "a//b", "/a", "a/", "..", "a/../b", "a/./b", ".a", "a\x00b", "a b",
             "%2e%2e", "a/%2e%2e", "x" * 256, "a:b", "a@b", "a___b"]


@pytest.mark.parametrize("name", GOOD_NAMES)
def test_valid_names(name):
    assert validate_name(name) == name


@pytest.mark.parametrize("name", BAD_NAMES)
def test_invalid_names(name):
    with pytest.raises(NameInvalid):
        validate_name(name)


@pytest.mark.parametrize("tag", ["latest", "1.0", "_x", "A" * 128, "v1-rc.2_b"])
def test_valid_tags(tag):
    assert validate_tag(tag) == tag


@pytest.mark.parametrize("tag", ["", ".x", "-x", "A" * 129, "a/b", "a\x00", "a b", ".."])
def test_invalid_tags(tag):
    with pytest.raises(ManifestInvalid):
        validate_tag(tag)


def test_reference_is_tag_or_digest():
    d = "sha256:" + "a" * 64
    assert parse_reference(d) == Digest("sha256", "a" * 64)
    assert parse_reference("latest") == "latest"


def test_digest_parse_and_errors():
    assert str(Digest.parse("sha512:" + "0" * 128)) == "sha512:" + "0" * 128
    for bad in ["sha256:" + "A" * 64, "sha256:" + "a" * 63, "sha256:", ":abc", "sha256", "sha256:../x" + "a" * 60]:
        with pytest.raises(DigestInvalid):
            Digest.parse(bad)
    with pytest.raises(Unsupported):
        Digest.parse("md5:" + "a" * 32)


def test_digest_of_matches_hashlib():
    import hashlib

    assert Digest.of(b"abc").hex == hashlib.sha256(b"abc").hexdigest()
    assert Digest.of(b"abc", "sha512").hex == hashlib.sha512(b"abc").hexdigest()


def test_a_trailing_newline_is_not_part_of_any_grammar():
    for bad in ("alice/app\n", "a\n"):
        with pytest.raises(NameInvalid):
            validate_name(bad)
    with pytest.raises(ManifestInvalid):
        validate_tag("v1\n")
    with pytest.raises(DigestInvalid):
        Digest.parse("sha256:" + "a" * 64 + "\n")


@pytest.mark.parametrize("name", ["acme.test/app/tags", "acme.test/app/tags/latest", "acme.test/manifests",
                                  "library/x/manifests/y"])
def test_names_the_tree_cannot_hold_are_not_pushable(name):
    assert validate_name(name) == name  # a valid name to read
    with pytest.raises(NameInvalid, match="may not be"):
        validate_pushable(name)


@pytest.mark.parametrize("name", ["tags/app", "acme.test/tagsx", "acme.test/app-manifests", "manifests"])
def test_reserved_words_elsewhere_are_fine(name):
    assert validate_pushable(name) == name
