"""Scope parsing: the grammar, merging, and everything malformed refused."""

from __future__ import annotations

import pytest

from sealedreg.auth.scopes import (
    SCOPE_MAX,
    SCOPES_MAX,
    Scope,
    ScopeError,
    format_scopes,
    parse_scope,
    parse_scopes,
)


def test_repository_scope():
    s = parse_scope("repository:example.com/app:pull,push")
    assert s == Scope("repository", "example.com/app", frozenset({"pull", "push"}))
    assert str(s) == "repository:example.com/app:pull,push"
    assert s.claim() == {"type": "repository", "name": "example.com/app", "actions": ["pull", "push"]}


def test_resource_class_and_catalog():
    assert parse_scope("repository(plugin):a/b:pull") == Scope("repository", "a/b", frozenset({"pull"}))
    assert parse_scope("registry:catalog:*") == Scope("registry", "catalog", frozenset({"*"}))


def test_unknown_resources_grant_nothing():
    assert parse_scope("registry:other:*") is None
    assert parse_scope("plugin:x:pull") is None


def test_actions_are_canonical_order():
    assert str(parse_scope("repository:a:delete,push,pull,push")) == "repository:a:pull,push,delete"


@pytest.mark.parametrize("text", [
    "repository:../etc/passwd:pull",
    "repository:a/../b:pull",
    "repository:a/./b:pull",
    "repository:/abs:pull",
    "repository:a//b:pull",
    "repository:A/B:pull",            # upper case is not a repository name
    "repository:a%2f..:pull",
    "repository:a\x00b:pull",
    "repository:host:5000/a:pull",    # names carry no registry host
    "repository:a:",
    "repository::pull",
    "repository:a",
    "repository",
    ":a:pull",
    "repository:a:pull;rm",
    "repository:a:PULL",
    "Repository:a:pull",
    "repository(x:a:pull",
    "",
])
def test_malformed_scopes_refused(text):
    with pytest.raises(ScopeError):
        parse_scope(text)


def test_oversize_scope_refused_without_echo():
    with pytest.raises(ScopeError) as info:
        parse_scope("repository:" + "a" * SCOPE_MAX + ":pull")
    assert len(str(info.value)) < 100


def test_oversize_name_refused():
    with pytest.raises(ScopeError):
        parse_scope("repository:" + "/".join(["abcdefgh"] * 40) + ":pull")  # > 255 characters


def test_parse_scopes_splits_merges_and_limits():
    got = parse_scopes(["repository:a:pull repository:b:push", "repository:a:push", "registry:catalog:*"])
    assert {str(s) for s in got} == {"repository:a:pull,push", "repository:b:push", "registry:catalog:*"}
    assert format_scopes(got).count(" ") == 2
    with pytest.raises(ScopeError):
        parse_scopes(["repository:a:pull"] * (SCOPES_MAX + 1))
    with pytest.raises(ScopeError):
        parse_scopes(["repository:a:pull", "repository:../x:pull"])
    assert parse_scopes([]) == []
