"""The per-request decision: an Identity, or a Refusal the API renders."""

import asyncio
import base64

import pytest

from sealedreg.auth import users
from sealedreg.auth.acl import Acl, Rule
from sealedreg.auth.authorize import BASIC, TOKEN, Authenticator
from sealedreg.auth.identity import Identity, Need, Refusal
from sealedreg.auth.scopes import PULL, PUSH, REPOSITORY, Scope
from sealedreg.auth.tokens import Tokens, generate_key

ACL = Acl((Rule(("a/**",), frozenset({PULL, PUSH}), users=frozenset({"alice"})),), anonymous_pull=("pub/*",))
NEED_PULL = Need((Scope(REPOSITORY, "a/x", frozenset({PULL})),))


def run(coro):
    return asyncio.run(coro)


def scope(authorization: str | None = None, host: str = "reg.example:5000") -> dict:
    headers = [(b"host", host.encode())]
    if authorization is not None:
        headers.append((b"authorization", authorization.encode()))
    return {"type": "http", "method": "GET", "path": "/v2/a/x/tags/list", "headers": headers,
            "client": ("10.0.0.9", 1), "scheme": "http"}


@pytest.fixture
def user_db(tmp_path):
    path = tmp_path / "users.htpasswd"
    users.add_user(path, "alice", "pw")
    users.add_user(path, "bob", "pw")
    return users.Users(path)


def basic(user: str, pw: str) -> str:
    return "Basic " + base64.b64encode(f"{user}:{pw}".encode()).decode()


def test_token_mode(user_db):
    tokens = Tokens(generate_key(), "sealedreg", 300, 3600)
    auth = Authenticator(TOKEN, user_db, ACL, tokens, "sealedreg")
    refused = run(auth.authorize(scope(), NEED_PULL))
    assert isinstance(refused, Refusal) and refused.status == 401 and refused.code == "UNAUTHORIZED"
    challenge = refused.headers["WWW-Authenticate"]
    assert challenge == ('Bearer realm="http://reg.example:5000/token",service="sealedreg",'
                         'scope="repository:a/x:pull,push"')  # widened: one token for a whole session
    token, _ = tokens.issue("alice", [Scope(REPOSITORY, "a/x", frozenset({PULL}))])
    who = run(auth.authorize(scope(f"Bearer {token}"), NEED_PULL))
    assert isinstance(who, Identity) and who.subject == "alice"
    push = Need((Scope(REPOSITORY, "a/x", frozenset({PUSH})),))
    short = run(auth.authorize(scope(f"Bearer {token}"), push))
    assert short.status == 401 and 'error="insufficient_scope"' in short.headers["WWW-Authenticate"]
    assert 'scope="repository:a/x:push"' in short.headers["WWW-Authenticate"]  # exactly what is missing
    bad = run(auth.authorize(scope("Bearer not.a.token"), NEED_PULL))
    assert 'error="invalid_token"' in bad.headers["WWW-Authenticate"]
    assert run(auth.authorize(scope("x" * 9000), NEED_PULL)).message == "invalid credentials"


def test_a_hostile_host_header_never_reaches_the_challenge(user_db):
    auth = Authenticator(TOKEN, user_db, ACL, Tokens(generate_key(), "s", 300, 3600), "s", fallback_host="h:1")
    refused = run(auth.authorize(scope(host='evil" , x="'), NEED_PULL))
    assert 'realm="http://h:1/token"' in refused.headers["WWW-Authenticate"]


def test_basic_mode(user_db):
    auth = Authenticator(BASIC, user_db, ACL, None, "sealedreg")
    assert run(auth.authorize(scope(basic("alice", "pw")), NEED_PULL)).subject == "alice"
    denied = run(auth.authorize(scope(basic("bob", "pw")), NEED_PULL))
    assert (denied.status, denied.code) == (403, "DENIED") and denied.detail[0]["Name"] == "a/x"
    wrong = run(auth.authorize(scope(basic("alice", "nope")), NEED_PULL))
    assert wrong.status == 401 and wrong.headers["WWW-Authenticate"].startswith("Basic realm=")


def test_anonymous_pull_needs_no_credential_but_the_version_check_does(user_db):
    auth = Authenticator(BASIC, user_db, ACL, None, "sealedreg")
    pub = Need((Scope(REPOSITORY, "pub/x", frozenset({PULL})),))
    assert isinstance(run(auth.authorize(scope(), pub)), Identity)
    assert run(auth.authorize(scope(), Need())).status == 401


def test_throttled_clients_get_429(user_db):
    auth = Authenticator(BASIC, user_db, ACL, None, "sealedreg")
    for _ in range(6):
        run(auth.authorize(scope(basic("alice", "nope")), NEED_PULL))
    slow = run(auth.authorize(scope(basic("alice", "pw")), NEED_PULL))
    assert (slow.status, slow.code) == (429, "TOOMANYREQUESTS") and int(slow.headers["Retry-After"]) > 0


def test_modes_and_tokens_must_agree(user_db):
    with pytest.raises(ValueError):
        Authenticator(TOKEN, user_db, ACL, None, "s")
    with pytest.raises(ValueError):
        Authenticator("none", user_db, ACL, None, "s")


@pytest.mark.parametrize("mode", [TOKEN, BASIC])
def test_the_browse_page_viewer_is_basic_or_anonymous_in_both_modes(user_db, mode):
    tokens = Tokens(generate_key(), "sealedreg", 300, 3600) if mode == TOKEN else None
    auth = Authenticator(mode, user_db, ACL, tokens, "sealedreg")
    anonymous = run(auth.viewer(scope()))
    assert isinstance(anonymous, Identity) and anonymous.subject is None
    assert anonymous.may_see("pub/x") and not anonymous.may_see("a/x")
    alice = run(auth.viewer(scope(basic("alice", "pw"))))
    assert isinstance(alice, Identity) and alice.subject == "alice" and alice.may_see("a/x")
    for value in (basic("alice", "wrong"), "Basic !!", "Bearer x", "x" * 9000):
        refused = run(auth.viewer(scope(value)))
        assert isinstance(refused, Refusal) and refused.status == 401
        assert refused.headers["WWW-Authenticate"] == 'Basic realm="sealedreg",charset="UTF-8"'
    auth.throttle.clock = lambda: 50.0
    for _ in range(auth.throttle.allowed):
        run(auth.viewer(scope(basic("bob", "wrong"))))
    throttled = run(auth.viewer(scope(basic("alice", "pw"))))
    assert throttled.status == 429 and throttled.headers["Retry-After"]
