"""Dedupe domains: which secret a repository's content is encrypted under."""

import pytest

from sealedreg.crypto.convergent import derive_key
from sealedreg.datadir import DataDir
from sealedreg.registry.domains import GLOBAL, Domains, UnknownDomain, namespace_of

SECRET = bytes(range(32))
D = "sha256:" + "ab" * 32


def test_org_and_global_domains():
    domains = Domains({"example.com": SECRET})
    assert domains.for_repo("example.com/app").name == "org:example.com"
    assert domains.for_repo("other.org/app").name == GLOBAL
    assert domains.get("org:example.com").kind == "org" and domains.get(GLOBAL).kind == GLOBAL
    assert domains.content_key(D, GLOBAL) == derive_key(D) != domains.content_key(D, "org:example.com")
    assert domains.content_key(D, "org:example.com") == derive_key(D, SECRET)
    assert namespace_of("example.com/a/b") == "example.com"


def test_a_domain_never_shows_its_secret():
    assert SECRET.hex() not in repr(Domains({"example.com": SECRET}).get("org:example.com"))


@pytest.mark.parametrize("name", ["org:missing.com", "org:example.com~" + "0" * 32, "elsewhere", "org:"])
def test_unknown_domains(name):
    with pytest.raises(UnknownDomain):
        Domains({"example.com": SECRET}).get(name)


def test_rotation_makes_a_fresh_0600_secret_in_the_data_dir(tmp_path):
    datadir = DataDir(tmp_path / "d")
    domains = Domains({"example.com": SECRET}, datadir)
    fresh = domains.rotate("example.com")
    assert fresh.name.startswith("org:example.com~") and fresh.secret not in (None, SECRET)
    (path,) = datadir.secrets.iterdir()
    assert path.stat().st_mode & 0o777 == 0o600 and path.read_bytes() == fresh.secret
    again = Domains({"example.com": SECRET}, datadir)  # another process finds it by name
    assert again.get(fresh.name).secret == fresh.secret
    with pytest.raises(UnknownDomain):
        domains.rotate("other.org")  # no org secret to rotate
    with pytest.raises(UnknownDomain):
        Domains({"example.com": SECRET}).rotate("example.com")  # nowhere to keep it
