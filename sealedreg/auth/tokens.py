"""Bearer tokens: JWTs the registry signs with its own key and checks on every request.

Key file: a PEM (PKCS#8) Ed25519 key (`EdDSA`, the default) or EC P-256 key
(`ES256`), mode 0600, created on first start when missing. Its `kid` is the
key's RFC 7638 JWK thumbprint, put in every token header.

Access token claims (Docker token spec):

    {"iss": service, "sub": user ("" when anonymous), "aud": service,
     "exp", "nbf", "iat", "jti",
     "access": [{"type": "repository", "name": "example.com/app", "actions": ["pull", "push"]}]}

A refresh token (`offline_token=true`) is a JWT of the same key with
`"use": "refresh"`, no `access`, and `pwv`: a fingerprint of the user's
password hash when it was issued, so changing the password (or removing the
user) revokes it. A refresh token is never accepted as an access token, nor
the other way round.

Every check is strict: the algorithm must be the key's (so `alg: none` and
HMAC-with-the-public-key tricks fail), the `kid` must be ours, the signature
must verify, `iss`/`aud` must be this service, `exp`/`nbf`/`iat`/`jti` must be
present and `exp`, `nbf` and `iat` must hold now. Errors say which check
failed and never include the token.
"""

from __future__ import annotations

import base64
import datetime as dt
import hashlib
import json
import os
import secrets
import time
from dataclasses import dataclass
from pathlib import Path
from typing import Any, Iterable

import jwt
from cryptography.hazmat.primitives import serialization
from cryptography.hazmat.primitives.asymmetric import ec, ed25519

from sealedreg.protected_files import check_private
from sealedreg.auth.scopes import REGISTRY, REPOSITORY, Scope

TOKEN_MAX = 8192
"""The longest token accepted (ours are well under 2 KiB)."""

ALGORITHMS = ("EdDSA", "ES256")


class TokenKeyError(ValueError):
    """A signing key file that is missing, unreadable, too open or of the wrong kind."""


class TokenError(ValueError):
    """A token that does not verify; the message is a short reason, safe to log."""


def _b64url(data: bytes) -> str:
    return base64.urlsafe_b64encode(data).rstrip(b"=").decode()


@dataclass(frozen=True)
class SigningKey:
    private: ed25519.Ed25519PrivateKey | ec.EllipticCurvePrivateKey
    alg: str
    kid: str

    @property
    def public(self):
        return self.private.public_key()

    def __repr__(self) -> str:  # never show key material
        return f"SigningKey(alg={self.alg!r}, kid={self.kid!r})"


def jwk_thumbprint(public) -> str:
    """RFC 7638 thumbprint of an Ed25519 or P-256 public key (base64url SHA-256)."""
    if isinstance(public, ed25519.Ed25519PublicKey):
        raw = public.public_bytes(serialization.Encoding.Raw, serialization.PublicFormat.Raw)
        jwk = {"crv": "Ed25519", "kty": "OKP", "x": _b64url(raw)}
    else:
        nums = public.public_numbers()
        jwk = {"crv": "P-256", "kty": "EC", "x": _b64url(nums.x.to_bytes(32, "big")),
               "y": _b64url(nums.y.to_bytes(32, "big"))}
    canonical = json.dumps(jwk, separators=(",", ":"), sort_keys=True).encode()
    return _b64url(hashlib.sha256(canonical).digest())


def _signing_key(private) -> SigningKey:
    if isinstance(private, ed25519.Ed25519PrivateKey):
        alg = "EdDSA"
    elif isinstance(private, ec.EllipticCurvePrivateKey) and isinstance(private.curve, ec.SECP256R1):
        alg = "ES256"
    else:
        raise TokenKeyError("token key must be an Ed25519 or EC P-256 private key")
    return SigningKey(private, alg, jwk_thumbprint(private.public_key()))


def generate_key(alg: str = "EdDSA") -> SigningKey:
    if alg == "EdDSA":
        return _signing_key(ed25519.Ed25519PrivateKey.generate())
    if alg == "ES256":
        return _signing_key(ec.generate_private_key(ec.SECP256R1()))
    raise TokenKeyError(f"unsupported token algorithm {alg!r} (available: {', '.join(ALGORITHMS)})")


def key_pem(key: SigningKey) -> bytes:
    return key.private.private_bytes(serialization.Encoding.PEM, serialization.PrivateFormat.PKCS8,
                                     serialization.NoEncryption())


def create_key_file(path: Path, alg: str = "EdDSA") -> SigningKey:
    """Write a new key to `path` (mode 0600); never overwrite an existing file."""
    key = generate_key(alg)
    path.parent.mkdir(parents=True, exist_ok=True, mode=0o700)
    try:
        fd = os.open(path, os.O_WRONLY | os.O_CREAT | os.O_EXCL, 0o600)
    except FileExistsError:
        raise TokenKeyError(f"{path} already exists; refusing to overwrite a key") from None
    with os.fdopen(fd, "wb") as f:
        f.write(key_pem(key))
        f.flush()
        os.fsync(f.fileno())
    return key


def load_key_file(path: Path) -> SigningKey:
    check_private(path, "token key", TokenKeyError)
    try:
        private = serialization.load_pem_private_key(path.read_bytes(), password=None)
    except (ValueError, TypeError):
        raise TokenKeyError(f"token key {path} is not an unencrypted PEM private key") from None
    return _signing_key(private)


def load_or_create_key(path: Path) -> tuple[SigningKey, bool]:
    """The key at `path`, created (Ed25519) if there is none; (key, created)."""
    if not path.exists():
        try:
            return create_key_file(path), True
        except TokenKeyError:
            pass  # created concurrently: load it
    return load_key_file(path), False


# --------------------------------------------------------------------------- grants


@dataclass(frozen=True)
class Grant:
    """A verified access token: who, and exactly what it allows."""

    subject: str | None  # None: an anonymous token
    access: dict[tuple[str, str], frozenset[str]]
    jti: str
    expires: int

    def allows(self, rtype: str, name: str, action: str) -> bool:
        actions = self.access.get((rtype, name), frozenset())
        return action in actions or "*" in actions


def password_fingerprint(hashed: str) -> str:
    """What a refresh token remembers of the password hash: a one-way tag, so
    a new password (a new hash) revokes the refresh tokens issued before."""
    return hashlib.sha256(b"sealedreg refresh v1\0" + hashed.encode()).hexdigest()[:32]


def _parse_access(raw: Any) -> dict[tuple[str, str], frozenset[str]]:
    if not isinstance(raw, list):
        raise TokenError("malformed access claim")
    out: dict[tuple[str, str], frozenset[str]] = {}
    for entry in raw:
        if not isinstance(entry, dict):
            raise TokenError("malformed access claim")
        rtype, name, actions = entry.get("type"), entry.get("name"), entry.get("actions")
        if not isinstance(rtype, str) or not isinstance(name, str) or not isinstance(actions, list) \
                or not all(isinstance(a, str) for a in actions):
            raise TokenError("malformed access claim")
        if rtype in (REPOSITORY, REGISTRY):
            out[(rtype, name)] = out.get((rtype, name), frozenset()) | frozenset(actions)
    return out


class Tokens:
    """Issues and verifies this registry's tokens."""

    def __init__(self, key: SigningKey, service: str, lifetime: float = 300.0,
                 refresh_lifetime: float = 30 * 86400.0, issuer: str | None = None) -> None:
        self.key = key
        self.service = service
        self.issuer = issuer or service
        self.lifetime = int(lifetime)
        self.refresh_lifetime = int(refresh_lifetime)

    def _claims(self, subject: str | None, now: float | None, lifetime: int) -> dict[str, Any]:
        iat = int(time.time() if now is None else now)
        return {"iss": self.issuer, "sub": subject or "", "aud": self.service, "exp": iat + lifetime,
                "nbf": iat, "iat": iat, "jti": _b64url(secrets.token_bytes(16))}

    def _sign(self, claims: dict[str, Any]) -> str:
        return jwt.encode(claims, self.key.private, algorithm=self.key.alg, headers={"kid": self.key.kid})

    def issue(self, subject: str | None, scopes: Iterable[Scope], now: float | None = None
              ) -> tuple[str, dict[str, Any]]:
        """An access token for exactly `scopes`; (token, claims)."""
        claims = self._claims(subject, now, self.lifetime)
        claims["access"] = [s.claim() for s in scopes]
        return self._sign(claims), claims

    def issue_refresh(self, subject: str, fingerprint: str, now: float | None = None) -> str:
        claims = self._claims(subject, now, self.refresh_lifetime)
        claims.update({"use": "refresh", "pwv": fingerprint})
        return self._sign(claims)

    def _decode(self, token: str) -> dict[str, Any]:
        if len(token) > TOKEN_MAX:
            raise TokenError("token too long")
        try:
            header = jwt.get_unverified_header(token)
        except jwt.InvalidTokenError:
            raise TokenError("malformed token") from None
        if header.get("alg") != self.key.alg:
            raise TokenError("token algorithm not accepted")
        if header.get("kid") != self.key.kid:
            raise TokenError("token signed by an unknown key")
        try:
            claims = jwt.decode(
                token, self.key.public, algorithms=[self.key.alg], audience=self.service, issuer=self.issuer,
                options={"require": ["iss", "sub", "aud", "exp", "nbf", "iat", "jti"], "verify_signature": True,
                         "verify_exp": True, "verify_nbf": True, "verify_iat": True, "verify_aud": True,
                         "verify_iss": True})
        except jwt.ExpiredSignatureError:
            raise TokenError("token expired") from None
        except jwt.ImmatureSignatureError:
            raise TokenError("token not yet valid") from None
        except jwt.InvalidAudienceError:
            raise TokenError("token is for another service") from None
        except jwt.InvalidIssuerError:
            raise TokenError("token from another issuer") from None
        except jwt.MissingRequiredClaimError as exc:
            raise TokenError(f"token lacks the {exc.claim!r} claim") from None
        except jwt.InvalidSignatureError:
            raise TokenError("token signature does not verify") from None
        except jwt.InvalidTokenError:
            raise TokenError("invalid token") from None
        for name in ("exp", "nbf", "iat"):
            if not isinstance(claims[name], int):
                raise TokenError(f"token claim {name!r} is not an integer")
        if claims["iat"] > time.time() + 1:
            raise TokenError("token issued in the future")
        if not isinstance(claims["sub"], str) or not isinstance(claims["jti"], str) or not claims["jti"]:
            raise TokenError("malformed token subject or id")
        return claims

    def verify(self, token: str) -> Grant:
        """The grant of a valid access token, else TokenError."""
        claims = self._decode(token)
        if "use" in claims or "access" not in claims:
            raise TokenError("not an access token")
        return Grant(claims["sub"] or None, _parse_access(claims["access"]), claims["jti"], claims["exp"])

    def verify_refresh(self, token: str) -> tuple[str, str]:
        """(subject, password fingerprint) of a valid refresh token, else TokenError."""
        claims = self._decode(token)
        if claims.get("use") != "refresh" or "access" in claims:
            raise TokenError("not a refresh token")
        subject, pwv = claims["sub"], claims.get("pwv")
        if not subject or not isinstance(pwv, str):
            raise TokenError("malformed refresh token")
        return subject, pwv


def rfc3339(ts: float) -> str:
    return dt.datetime.fromtimestamp(ts, dt.timezone.utc).strftime("%Y-%m-%dT%H:%M:%SZ")
