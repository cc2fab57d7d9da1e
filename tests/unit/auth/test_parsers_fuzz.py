"""Fuzzing auth's parsers of what clients send (issue 13, item 6): Basic and
Bearer Authorization values (as HTTP delivers them: Latin-1 text), token
scopes and the users file. None raises anything but its documented error,
and what each accepts reads back as itself."""

from __future__ import annotations

import base64

from hypothesis import example, given
from hypothesis import strategies as st

from sealedreg.auth.identity import parse_basic, parse_bearer
from sealedreg.auth.scopes import Scope, ScopeError, parse_scope, parse_scopes
from sealedreg.auth.users import _FILE_NAME, parse
from tests.helpers.fuzz import ANY_TEXT, FUZZ, mutated_text

LATIN1 = st.binary(max_size=80).map(lambda b: b.decode("latin-1"))
"""An HTTP header value as Starlette hands it over: any bytes, decoded as Latin-1."""

BASICS = ["Basic " + base64.b64encode(c).decode() for c in (b"alice:secret", b"bob:", b"a:b:c", "é:ü".encode())]


@FUZZ
@given(value=ANY_TEXT | LATIN1.map("Basic ".__add__) | LATIN1 | mutated_text(BASICS + ["Bearer abc.def"]))
@example(value="Basic \xe9")          # not ASCII: b64decode raised ValueError, not binascii.Error
@example(value="Basic \u0661")
def test_parse_basic_and_bearer_never_raise(value):
    creds = parse_basic(value)
    if creds is not None:
        user, password = creds
        assert user and ":" not in user
        raw = base64.b64decode(value.partition(" ")[2].strip())
        assert raw == f"{user}:{password}".encode()
    token = parse_bearer(value)
    assert token is None or token == token.strip()


@FUZZ
@given(user=st.text(min_size=1).filter(lambda u: ":" not in u), password=st.text())
def test_basic_credentials_round_trip(user, password):
    value = "Basic " + base64.b64encode(f"{user}:{password}".encode("utf-8", "surrogatepass")).decode()
    if any("\ud800" <= c <= "\udfff" for c in user + password):
        assert parse_basic(value) is None      # not UTF-8
    else:
        assert parse_basic(value) == (user, password)


SCOPES = ["repository:example.com/app:pull,push", "repository(plugin):a/b:pull", "registry:catalog:*",
          "repository:localhost:5000/x:pull", "other:thing:read"]


@FUZZ
@given(text=ANY_TEXT | mutated_text(SCOPES))
def test_parse_scope_raises_only_scope_error_and_round_trips(text):
    try:
        scope = parse_scope(text)
    except ScopeError:
        return
    if scope is not None:
        assert isinstance(scope, Scope) and scope.actions
        assert parse_scope(str(scope)) == scope


@FUZZ
@given(values=st.lists(ANY_TEXT | mutated_text(SCOPES), max_size=4))
def test_parse_scopes_raises_only_scope_error(values):
    try:
        scopes = parse_scopes(values)
    except ScopeError:
        return
    assert len({(s.type, s.name) for s in scopes}) == len(scopes)


@FUZZ
@given(text=ANY_TEXT | mutated_text(["alice:$2y$10$abcdefghijklmnopqrstuv\nbob:$2b$05$x\n# c\n\n", "x:md5\n"]))
def test_users_file_parse_never_raises(text):
    entries = parse(text, "fuzz")
    assert all(_FILE_NAME.fullmatch(name) and ":" not in name for name in entries)
