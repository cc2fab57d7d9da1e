"""Tokens: issue/verify, and every forgery or misuse refused with a reason that never shows the token."""

from __future__ import annotations

import base64
import hashlib
import hmac
import json
import os
import stat
import time

import jwt
import pytest
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ed25519

from sealedreg.auth.scopes import Scope
from sealedreg.auth.tokens import (
    TOKEN_MAX,
    TokenError,
    TokenKeyError,
    Tokens,
    create_key_file,
    generate_key,
    jwk_thumbprint,
    key_pem,
    load_key_file,
    load_or_create_key,
    password_fingerprint,
)

SCOPES = [Scope("repository", "a.example/app", frozenset({"pull", "push"})),
          Scope("registry", "catalog", frozenset({"*"}))]


@pytest.fixture(scope="module")
def key():
    return generate_key()


@pytest.fixture
def tokens(key):
    return Tokens(key, "sealedreg", lifetime=300)


def b64(obj: dict) -> str:
    return base64.urlsafe_b64encode(json.dumps(obj).encode()).rstrip(b"=").decode()


def reason(tokens: Tokens, token: str) -> str:
    with pytest.raises(TokenError) as info:
        tokens.verify(token)
    assert not token or token not in str(info.value)
    return str(info.value)


def test_round_trip(tokens, key):
    token, claims = tokens.issue("alice", SCOPES)
    header = jwt.get_unverified_header(token)
    assert header["alg"] == "EdDSA" and header["kid"] == key.kid
    grant = tokens.verify(token)
    assert grant.subject == "alice" and grant.jti == claims["jti"]
    assert grant.allows("repository", "a.example/app", "push")
    assert not grant.allows("repository", "a.example/app", "delete")
    assert not grant.allows("repository", "a.example/other", "pull")
    assert grant.allows("registry", "catalog", "*")
    assert {"iss", "sub", "aud", "exp", "nbf", "iat", "jti", "access"} <= set(claims)
    assert claims["exp"] - claims["iat"] == 300 and claims["iss"] == claims["aud"] == "sealedreg"


def test_anonymous_token_and_unique_ids(tokens):
    a, ca = tokens.issue(None, [])
    b, cb = tokens.issue(None, [])
    assert tokens.verify(a).subject is None and ca["sub"] == ""
    assert ca["jti"] != cb["jti"]


def test_expired_and_not_yet_valid(tokens):
    old, _ = tokens.issue("alice", SCOPES, now=time.time() - 301)
    assert reason(tokens, old) == "token expired"
    future, _ = tokens.issue("alice", SCOPES, now=time.time() + 60)
    assert reason(tokens, future) == "token not yet valid"


def test_alg_none(tokens, key):
    _, claims = tokens.issue("alice", SCOPES)
    for alg in ("none", "None", "NONE"):
        forged = b64({"alg": alg, "kid": key.kid, "typ": "JWT"}) + "." + b64(claims) + "."
        assert reason(tokens, forged) == "token algorithm not accepted"


def test_hmac_with_the_public_key(tokens, key):
    """The classic algorithm confusion: HS256 keyed with the public key bytes."""
    _, claims = tokens.issue("alice", SCOPES)
    pub = key.public.public_bytes(serialization.Encoding.PEM, serialization.PublicFormat.SubjectPublicKeyInfo)
    signing_input = b64({"alg": "HS256", "kid": key.kid, "typ": "JWT"}) + "." + b64(claims)
    sig = base64.urlsafe_b64encode(hmac.new(pub, signing_input.encode(), hashlib.sha256).digest()).rstrip(b"=")
    assert reason(tokens, signing_input + "." + sig.decode()) == "token algorithm not accepted"


def test_other_key(tokens, key):
    other = Tokens(generate_key(), "sealedreg")
    forged, _ = other.issue("alice", SCOPES)
    assert reason(tokens, forged) == "token signed by an unknown key"
    # ... even when it claims our kid
    _, claims = tokens.issue("alice", SCOPES)
    forged = jwt.encode(claims, other.key.private, algorithm="EdDSA", headers={"kid": key.kid})
    assert reason(tokens, forged) == "token signature does not verify"


def test_tampered_payload(tokens):
    token, claims = tokens.issue("reader", [Scope("repository", "a/x", frozenset({"pull"}))])
    head, _, sig = token.split(".")
    claims["access"][0]["actions"] = ["pull", "push", "delete"]
    assert reason(tokens, f"{head}.{b64(claims)}.{sig}") == "token signature does not verify"


def test_audience_and_issuer(key, tokens):
    other_service, _ = Tokens(key, "other-registry", issuer="sealedreg").issue("alice", SCOPES)
    assert reason(tokens, other_service) == "token is for another service"
    other_issuer, _ = Tokens(key, "sealedreg", issuer="someone-else").issue("alice", SCOPES)
    assert reason(tokens, other_issuer) == "token from another issuer"


@pytest.mark.parametrize("claim", ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"])
def test_every_claim_required(tokens, key, claim):
    _, claims = tokens.issue("alice", SCOPES)
    del claims[claim]
    forged = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    assert "claim" in reason(tokens, forged) or "another" in reason(tokens, forged)


def test_access_claim_required_and_well_formed(tokens, key):
    _, claims = tokens.issue("alice", SCOPES)
    for bad in (None, "repository:a:pull", [{"type": "repository", "name": "a"}], [{"type": 1, "name": "a",
                                                                                   "actions": ["pull"]}]):
        c = dict(claims)
        if bad is None:
            del c["access"]
        else:
            c["access"] = bad
        forged = jwt.encode(c, key.private, algorithm="EdDSA", headers={"kid": key.kid})
        assert reason(tokens, forged) in ("not an access token", "malformed access claim")


def test_iat_in_the_future(tokens, key):
    _, claims = tokens.issue("alice", SCOPES)
    claims["iat"] = int(time.time()) + 3600
    forged = jwt.encode(claims, key.private, algorithm="EdDSA", headers={"kid": key.kid})
    assert reason(tokens, forged) in ("token issued in the future", "token not yet valid")


def test_refresh_and_access_tokens_are_not_interchangeable(tokens):
    refresh = tokens.issue_refresh("alice", password_fingerprint("$2y$hash"))
    assert tokens.verify_refresh(refresh) == ("alice", password_fingerprint("$2y$hash"))
    assert reason(tokens, refresh) == "not an access token"
    access, _ = tokens.issue("alice", SCOPES)
    with pytest.raises(TokenError, match="not a refresh token"):
        tokens.verify_refresh(access)
    assert password_fingerprint("a") != password_fingerprint("b")
    assert "$2y$" not in password_fingerprint("$2y$hash")


@pytest.mark.parametrize("garbage", ["", "x", "a.b.c", "...", "eyJ.eyJ.x", "\x00" * 10])
def test_garbage(tokens, garbage):
    assert reason(tokens, garbage) in ("malformed token", "token algorithm not accepted")


def test_oversize_token_refused_unparsed(tokens):
    assert reason(tokens, "a" * (TOKEN_MAX + 1)) == "token too long"


def test_es256_keys(tmp_path):
    key = create_key_file(tmp_path / "es.key", alg="ES256")
    assert key.alg == "ES256"
    t = Tokens(load_key_file(tmp_path / "es.key"), "sealedreg")
    token, _ = t.issue("alice", SCOPES)
    assert jwt.get_unverified_header(token)["alg"] == "ES256"
    assert t.verify(token).subject == "alice"


def test_key_file(tmp_path):
    path = tmp_path / "keys" / "token.key"
    key, created = load_or_create_key(path)
    assert created and stat.S_IMODE(path.stat().st_mode) == 0o600
    again, created = load_or_create_key(path)
    assert not created and again.kid == key.kid == jwk_thumbprint(key.public)
    assert "PRIVATE" not in repr(key) and key_pem(key).decode() not in repr(key)
    with pytest.raises(TokenKeyError, match="refusing to overwrite"):
        create_key_file(path)
    os.chmod(path, 0o644)
    with pytest.raises(TokenKeyError, match="chmod 600"):
        load_key_file(path)
    bad = tmp_path / "bad.key"
    bad.write_bytes(b"not a key")
    os.chmod(bad, 0o600)
    with pytest.raises(TokenKeyError, match="not an unencrypted PEM"):
        load_key_file(bad)


def test_rfc7638_thumbprint_vector():
    """RFC 8037 appendix A.3: the Ed25519 example key's thumbprint."""
    x = base64.urlsafe_b64decode("11qYAYKxCrfVS_7TyWQHOg7hcvPapiMlrwIaaPcHURo=")
    pub = ed25519.Ed25519PublicKey.from_public_bytes(x)
    assert jwk_thumbprint(pub) == "kPrK_qmxVWaYVA9wwBF6Iuo3vVzz7TxHCTwXBygrS4k"
