"""The ACL: globs, rules, groups, anonymous pull, the catalog, and grants as intersections."""

from __future__ import annotations

import pytest

from sealedreg.auth.acl import ANONYMOUS, DEFAULT_RULES, Acl, Rule, glob_match
from sealedreg.auth.scopes import Scope


@pytest.mark.parametrize("pattern,name,ok", [
    ("**", "a", True),
    ("**", "a/b/c", True),
    ("a.example/**", "a.example/app", True),
    ("a.example/**", "a.example/team/app", True),
    ("a.example/**", "a.example", False),
    ("a.example/**", "a.exampleX/app", False),
    ("a.example/*", "a.example/app", True),
    ("a.example/*", "a.example/team/app", False),
    ("*/app", "x/app", True),
    ("*/app", "x/y/app", False),
    ("app-?", "app-1", True),
    ("app-?", "app-12", False),
    ("a.b", "aXb", False),            # dots are literal
    ("a[b]", "ab", False),            # brackets are literal
    ("a[b]", "a[b]", True),
])
def test_globs(pattern, name, ok):
    assert glob_match(pattern, name) is ok


def rules() -> Acl:
    return Acl(
        rules=(
            Rule(("a.example", "a.example/**"), frozenset({"pull", "push", "delete"}), groups=frozenset({"org-a"})),
            Rule(("b.example/**",), frozenset({"pull", "push"}), groups=frozenset({"org-b"})),
            Rule(("a.example/**",), frozenset({"pull"}), users=frozenset({"reader"})),
            Rule(("public/**",), frozenset({"push"}), users=frozenset({"alice"})),
            Rule(("shared/*",), frozenset({"pull"}), users=frozenset({"*"})),
        ),
        groups={"org-a": ["alice"], "org-b": ["bob"]},
        anonymous_pull=("public/**",),
    )


def test_rules_union_groups_and_push_implies_pull():
    acl = rules()
    assert acl.repository_actions("alice", "a.example/app") == {"pull", "push", "delete"}
    assert acl.repository_actions("alice", "b.example/app") == frozenset()
    assert acl.repository_actions("bob", "b.example/app") == {"pull", "push"}
    assert acl.repository_actions("reader", "a.example/app") == {"pull"}
    assert acl.repository_actions("alice", "public/base") == {"pull", "push"}   # push implies pull
    assert acl.repository_actions("bob", "shared/x") == {"pull"}                # "*": any user
    assert acl.repository_actions("nobody", "a.example/app") == frozenset()


def test_anonymous_pull_only_where_configured():
    acl = rules()
    assert acl.repository_actions(ANONYMOUS, "public/base") == {"pull"}
    assert acl.repository_actions(ANONYMOUS, "a.example/app") == frozenset()
    assert acl.repository_actions(ANONYMOUS, "shared/x") == frozenset()         # "*" is not anonymous
    assert Acl().repository_actions(ANONYMOUS, "x") == frozenset()


def test_grant_is_the_intersection():
    acl = rules()
    asked = [Scope("repository", "a.example/app", frozenset({"pull", "push", "delete"})),
             Scope("repository", "b.example/app", frozenset({"pull", "push"})),
             Scope("registry", "catalog", frozenset({"*"}))]
    assert {str(s) for s in acl.grant("reader", asked)} == {"repository:a.example/app:pull", "registry:catalog:*"}
    assert {str(s) for s in acl.grant("alice", asked)} == {"repository:a.example/app:pull,push,delete",
                                                           "registry:catalog:*"}
    # never more than asked
    assert [str(s) for s in acl.grant("alice", [Scope("repository", "a.example/app", frozenset({"pull"}))])] \
        == ["repository:a.example/app:pull"]
    # unknown actions are never granted; "*" means every action
    assert acl.grant("alice", [Scope("repository", "a.example/app", frozenset({"admin"}))]) == []
    assert [str(s) for s in acl.grant("alice", [Scope("repository", "a.example/x", frozenset({"*"}))])] \
        == ["repository:a.example/x:pull,push,delete"]


def test_catalog_scope():
    acl = rules()
    assert acl.catalog_allowed("bob") and acl.catalog_allowed(ANONYMOUS)
    assert not Acl().catalog_allowed(ANONYMOUS)
    assert acl.grant(ANONYMOUS, [Scope("registry", "catalog", frozenset({"*"}))])
    assert not Acl().grant(ANONYMOUS, [Scope("registry", "catalog", frozenset({"*"}))])


def test_default_rules_let_every_user_do_everything_but_not_anonymous():
    acl = Acl()
    assert acl.rules == DEFAULT_RULES
    assert acl.repository_actions("anyone", "x/y") == {"pull", "push", "delete"}
    assert acl.repository_actions(ANONYMOUS, "x/y") == frozenset()


def test_anonymous_pull_globs_never_open_private_repositories():
    from sealedreg.auth.acl import Acl

    acl = Acl(anonymous_pull=("**",), is_private=lambda r: r.startswith("example.com/secret"))
    assert acl.repository_actions(None, "example.com/public") == frozenset({"pull"})
    assert acl.repository_actions(None, "example.com/secret-app") == frozenset()
    named = Acl(anonymous_pull=("example.com/secret-app",), is_private=lambda r: True)
    assert named.repository_actions(None, "example.com/secret-app") == frozenset({"pull"})
