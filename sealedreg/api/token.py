"""`/token`: the built-in token service (Docker token spec + its OAuth2 form).

GET  /token?service=S&scope=…&scope=…[&offline_token=true]
     with `Authorization: Basic …`, or none for an anonymous token
POST /token   application/x-www-form-urlencoded
     grant_type=password&username=…&password=…  or
     grant_type=refresh_token&refresh_token=…
     [&service=S][&scope=… (space-separated, may repeat)][&access_type=offline][&client_id=…]

The token grants, for each requested scope, the intersection of the actions
asked for and the actions the ACL allows the user (none: the scope is left
out; the token is still issued, as the spec says). Responses:
`{token, access_token, expires_in, issued_at[, refresh_token][, scope]}`,
`Cache-Control: no-store`.

Failures carry both the OCI error body and the OAuth2 fields, so either kind
of client can read them: bad credentials on GET → 401 `UNAUTHORIZED`; on POST
→ 400 `invalid_grant` (RFC 6749); throttled → 429 `TOOMANYREQUESTS` with
`Retry-After`; a malformed scope → 400 `invalid_scope`.
"""

from __future__ import annotations

import json
import logging
from urllib.parse import parse_qs

from starlette.requests import Request
from starlette.responses import Response

from sealedreg.api.common import read_limited
from sealedreg.api.errors import error_response
from sealedreg.auth.scopes import Scope, ScopeError, format_scopes, parse_scopes
from sealedreg.auth.authorize import TOKEN, Authenticator
from sealedreg.auth.identity import AUTHORIZATION_MAX, client_of, parse_basic
from sealedreg.auth.login import Outcome
from sealedreg.auth.tokens import TokenError, password_fingerprint, rfc3339
from sealedreg.registry.errors import TooLarge

log = logging.getLogger("sealedreg.auth")

FORM_MAX = 64 * 1024
_NO_STORE = {"Cache-Control": "no-store", "Pragma": "no-cache"}


def _error(status: int, code: str, oauth: str, message: str, headers: dict[str, str] | None = None) -> Response:
    body = {"errors": [{"code": code, "message": message}], "error": oauth, "error_description": message}
    return Response(json.dumps(body), status_code=status, media_type="application/json",
                    headers={**_NO_STORE, **(headers or {})})


def _throttled(wait: int) -> Response:
    return _error(429, "TOOMANYREQUESTS", "slow_down", "too many failed logins from this client; retry later",
                  {"Retry-After": str(wait)})


async def token(request: Request) -> Response:
    auth: Authenticator | None = getattr(request.app.state, "auth", None)
    if auth is None or auth.mode != TOKEN:
        return error_response("UNSUPPORTED", "no such endpoint", 404)  # only served in token mode
    if request.method == "POST":
        return await _post(request, auth)
    return await _get(request, auth)


def _check_service(auth: Authenticator, service: str | None) -> Response | None:
    if service and service != auth.service:
        return _error(400, "DENIED", "invalid_request", "this token service does not serve that service")
    return None


async def _get(request: Request, auth: Authenticator) -> Response:
    params = request.query_params
    bad = _check_service(auth, params.get("service"))
    if bad:
        return bad
    try:
        requested = parse_scopes(params.getlist("scope"))
    except ScopeError as exc:
        return _error(400, "DENIED", "invalid_scope", str(exc))
    value = request.headers.get("authorization")
    subject = hashed = None
    if value is not None:
        creds = parse_basic(value) if len(value) <= AUTHORIZATION_MAX else None
        if creds is None:
            wait = auth.throttle.retry_after(client_of(request.scope))
            if wait:
                return _throttled(wait)
            auth.throttle.failed(client_of(request.scope))
            return _error(401, "UNAUTHORIZED", "invalid_client", "malformed credentials (Basic expected)",
                          {"WWW-Authenticate": 'Basic realm="sealedreg token service",charset="UTF-8"'})
        login = await auth.login(client_of(request.scope), *creds)
        if login.outcome is Outcome.THROTTLED:
            return _throttled(login.retry_after)
        if login.outcome is Outcome.BAD:
            return _error(401, "UNAUTHORIZED", "invalid_client", "invalid username or password",
                          {"WWW-Authenticate": 'Basic realm="sealedreg token service",charset="UTF-8"'})
        subject, hashed = login.user, login.hashed
    offline = params.get("offline_token", "").lower() == "true"
    refresh = auth.tokens.issue_refresh(subject, password_fingerprint(hashed)) \
        if offline and subject and hashed and auth.tokens else None
    return _issue(auth, subject, requested, refresh, with_scope=False)


async def _post(request: Request, auth: Authenticator) -> Response:
    try:
        raw = await read_limited(request, FORM_MAX)
    except TooLarge:
        return _error(413, "SIZE_INVALID", "invalid_request", f"form larger than {FORM_MAX} bytes")
    try:
        form = parse_qs(raw.decode("utf-8"), keep_blank_values=True, max_num_fields=100)
    except (UnicodeDecodeError, ValueError):
        return _error(400, "DENIED", "invalid_request", "malformed form body")

    def one(name: str) -> str | None:
        values = form.get(name)
        return values[0] if values else None

    bad = _check_service(auth, one("service"))
    if bad:
        return bad
    try:
        requested = parse_scopes(form.get("scope", []))
    except ScopeError as exc:
        return _error(400, "DENIED", "invalid_scope", str(exc))
    assert auth.tokens is not None
    grant_type = one("grant_type")
    offline = (one("access_type") or "").lower() == "offline"
    if grant_type == "password":
        user, password = one("username"), one("password")
        if not user or password is None:
            return _error(400, "DENIED", "invalid_request", "username and password are required")
        login = await auth.login(client_of(request.scope), user, password)
        if login.outcome is Outcome.THROTTLED:
            return _throttled(login.retry_after)
        if login.outcome is Outcome.BAD:
            return _error(400, "UNAUTHORIZED", "invalid_grant", "invalid username or password")
        assert login.user and login.hashed
        refresh = auth.tokens.issue_refresh(login.user, password_fingerprint(login.hashed)) if offline else None
        return _issue(auth, login.user, requested, refresh, with_scope=True)
    if grant_type == "refresh_token":
        presented = one("refresh_token") or ""
        try:
            subject, fingerprint = auth.tokens.verify_refresh(presented)
        except TokenError as exc:
            log.info("refresh token refused: %s", exc)
            return _error(400, "UNAUTHORIZED", "invalid_grant", f"refresh token refused: {exc}")
        hashed = auth.users.hash_of(subject)
        if hashed is None or password_fingerprint(hashed) != fingerprint:
            log.info("refresh token refused: user %s removed or password changed", subject)
            return _error(400, "UNAUTHORIZED", "invalid_grant", "refresh token revoked")
        return _issue(auth, subject, requested, presented if offline else None, with_scope=True)
    return _error(400, "UNSUPPORTED", "unsupported_grant_type", "grant_type must be password or refresh_token")


def _issue(auth: Authenticator, subject: str | None, requested: list[Scope], refresh: str | None,
           with_scope: bool) -> Response:
    assert auth.tokens is not None
    granted = auth.acl.grant(subject, requested)
    access, claims = auth.tokens.issue(subject, granted)
    body: dict[str, object] = {"token": access, "access_token": access, "expires_in": auth.tokens.lifetime,
                               "issued_at": rfc3339(claims["iat"])}
    if refresh:
        body["refresh_token"] = refresh
    if with_scope:
        body["scope"] = format_scopes(granted)
    log.info("token issued to %s: %s%s", subject or "anonymous", format_scopes(granted) or "no scope",
             " (+refresh token)" if refresh else "")
    return Response(json.dumps(body), media_type="application/json", headers=_NO_STORE)
