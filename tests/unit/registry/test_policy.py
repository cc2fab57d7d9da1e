"""Which repositories are private, and what their layers do."""

from sealedreg.registry.policy import NamespacePolicy, Policy

POLICY = Policy({
    "example.com": NamespacePolicy("example.com", ("secret-*", "team/app")),
    "auto.org": NamespacePolicy("auto.org", ("*",), layers="auto"),
})


def test_globs_match_below_the_namespace():
    assert POLICY.is_private("example.com/secret-a")
    assert POLICY.is_private("example.com/secret-a/deeper")  # fnmatch's * crosses /: errs towards private
    assert POLICY.is_private("example.com/team/app")
    assert not POLICY.is_private("example.com/public")
    assert not POLICY.is_private("example.com")
    assert not POLICY.is_private("other.org/secret-a")
    assert not POLICY.is_private("example.comx/secret-a")


def test_auto_layers_only_for_private_repositories_of_auto_namespaces():
    assert POLICY.auto_layers("auto.org/app")
    assert not POLICY.auto_layers("example.com/secret-a")
    assert not POLICY.auto_layers("other.org/app")


def test_unknown_namespaces_have_the_default_policy():
    ns = Policy().namespace("x.org")
    assert ns.private == () and ns.layers == "org" and ns.keys is None
