"""Credentials as they arrive, and what an identity may do."""

import base64

from sealedreg.auth.acl import Acl, Rule
from sealedreg.auth.identity import Identity, Need, client_of, parse_basic, parse_bearer
from sealedreg.auth.scopes import CATALOG, PULL, PUSH, REGISTRY, REPOSITORY, Scope
from sealedreg.auth.tokens import Grant


def enc(text: str) -> str:
    return "Basic " + base64.b64encode(text.encode()).decode()


def test_parse_basic():
    assert parse_basic(enc("alice:pw:with:colons")) == ("alice", "pw:with:colons")
    assert parse_basic(enc("alice:")) == ("alice", "")
    for bad in (enc("nocolon"), enc(":pw"), "Basic !!!", "Bearer x", "Basic", "basic " + "A" * 3,
                "Basic " + base64.b64encode(b"\xff\xfe:x").decode()):
        assert parse_basic(bad) is None


def test_parse_bearer():
    assert parse_bearer("Bearer abc ") == "abc" and parse_bearer("bearer x") == "x"
    assert parse_bearer(enc("a:b")) is None


def test_client_of():
    assert client_of({"client": ("10.0.0.1", 5)}) == "10.0.0.1" and client_of({}) == "unknown"


def test_identity_by_acl_and_by_grant():
    acl = Acl((Rule(("a/**",), frozenset({PULL, PUSH}), users=frozenset({"alice"})),), anonymous_pull=("pub/*",))
    alice = Identity("alice", None, acl)
    assert alice.has(Scope(REPOSITORY, "a/x", frozenset({PULL, PUSH})))
    assert not alice.can(REPOSITORY, "b/x", PULL) and alice.can(REGISTRY, CATALOG, "*")
    anonymous = Identity(None, None, acl)
    assert anonymous.can(REPOSITORY, "pub/x", PULL) and not anonymous.can(REPOSITORY, "pub/x", PUSH)
    assert anonymous.may_see("pub/x") and not anonymous.may_see("a/x")
    granted = Identity("bob", Grant("bob", {(REPOSITORY, "b/x"): frozenset({PULL})}, "jti", 0), acl)
    assert granted.can(REPOSITORY, "b/x", PULL) and not granted.can(REPOSITORY, "a/x", PULL)  # the token decides
    assert repr(anonymous) == "Identity(anonymous)" and not Need().scopes and Need().credential_only
