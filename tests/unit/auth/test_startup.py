"""Auth options in the config: TOML tables, env vars, flags, the start-up rule, and building auth once."""

from __future__ import annotations

import os

import pytest

from sealedreg.auth import users
from sealedreg.auth.startup import AuthConfigError, build_acl, is_loopback, resolve_mode, start_auth


def startup_check(config):
    return start_auth(config)[1]
from sealedreg.config import Config, ConfigError, load

TOML = '''
auth = "token"
anonymous_pull = ["public/**"]
token_lifetime = 60

[groups]
org-a = ["alice", "carol"]

[[acl]]
namespaces = ["a.example"]
groups = ["org-a"]
actions = ["pull", "push", "delete"]

[[acl]]
repositories = "shared/*"
users = ["*"]
actions = ["pull"]
'''


def test_toml_acl_groups_anonymous(tmp_path):
    f = tmp_path / "sealedreg.toml"
    f.write_text(TOML)
    c = load(f, env={})
    assert c.auth == "token" and c.token_lifetime == 60 and c.anonymous_pull == ["public/**"]
    assert c.groups == {"org-a": ["alice", "carol"]}
    assert c.acl[0].repositories == ["a.example", "a.example/**"] and c.acl[1].repositories == ["shared/*"]
    acl = build_acl(c)
    assert acl.repository_actions("carol", "a.example/x") == {"pull", "push", "delete"}
    assert acl.repository_actions("dave", "shared/x") == {"pull"}
    assert acl.repository_actions("dave", "a.example/x") == frozenset()
    assert acl.repository_actions(None, "public/x") == {"pull"}


def test_defaults_and_paths(tmp_path):
    c = load(env={}, overrides={"data": tmp_path / "d"})
    assert c.auth == "" and c.acl is None and c.anonymous_pull == []
    assert c.users_path == tmp_path / "d" / "users.htpasswd"
    assert c.token_key_path == tmp_path / "d" / "token.key"
    relative = load(env={}, overrides={"data": "rel/data"})
    assert str(relative.users_path) == "rel/data/users.htpasswd"  # as given: messages show the user's own path
    c = load(env={"SEALEDREG_USERS_FILE": "/etc/sr/users", "SEALEDREG_TOKEN_KEY": "/etc/sr/key"})
    assert str(c.users_path) == "/etc/sr/users" and str(c.token_key_path) == "/etc/sr/key"


def test_precedence_of_auth_options(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('auth = "basic"\nanonymous_pull = true\n')
    assert load(f, env={}).anonymous_pull == ["**"]
    c = load(f, env={"SEALEDREG_AUTH": "token", "SEALEDREG_ANONYMOUS_PULL": "pub/*, x/**"})
    assert c.auth == "token" and c.anonymous_pull == ["pub/*", "x/**"]
    c = load(f, env={"SEALEDREG_AUTH": "token", "SEALEDREG_INSECURE_NO_AUTH": "yes"},
             overrides={"auth": "none", "insecure_no_auth": None})
    assert c.auth == "none" and c.insecure_no_auth is True
    assert load(f, env={"SEALEDREG_ANONYMOUS_PULL": "false"}).anonymous_pull == []


@pytest.mark.parametrize("text", [
    'auth = "ldap"',
    'token_lifetime = 0',
    'auth_service = ""',
    'auth_realm = "http://x/\\"token"',
    'groups = ["a"]',
    '[groups]\na = [1]',
    'acl = {}',
    '[[acl]]\nactions = ["pull"]\nusers = ["a"]',                               # no repositories
    '[[acl]]\nrepositories = ["**"]\nusers = ["a"]',                            # no actions
    '[[acl]]\nrepositories = ["**"]\nactions = ["admin"]\nusers = ["a"]',       # unknown action
    '[[acl]]\nrepositories = ["**"]\nactions = ["pull"]',                       # nobody
    '[[acl]]\nrepositories = ["**"]\nactions = ["pull"]\nusers = ["a"]\nanonymous = true',
    'anonymous_pull = [1]',
])
def test_bad_auth_config(tmp_path, text):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError):
        load(f, env={})


def test_toml_only_tables_ignore_env(tmp_path):
    c = load(env={"SEALEDREG_ACL": "x", "SEALEDREG_GROUPS": "y"})
    assert c.acl is None and c.groups == {}


def test_loopback():
    for host in ("127.0.0.1", "127.3.4.5", "::1", "[::1]", "localhost"):
        assert is_loopback(host)
    for host in ("0.0.0.0", "::", "10.0.0.1", "example.com", "192.168.1.1"):
        assert not is_loopback(host)


def test_mode_follows_the_users_file(tmp_path):
    c = Config(data=tmp_path / "d")
    assert resolve_mode(c) == "none"
    users.add_user(c.users_path, "alice", "pw")
    assert resolve_mode(c) == "token"
    assert resolve_mode(Config(data=tmp_path / "d", auth="basic")) == "basic"
    assert resolve_mode(Config(data=tmp_path / "d", auth="none")) == "none"


def test_startup_rule(tmp_path):
    data = tmp_path / "d"
    line = startup_check(Config(data=data, listen="127.0.0.1:5000"))
    assert "auth: off" in line and "loopback" in line
    with pytest.raises(AuthConfigError, match="refusing to listen on 0.0.0.0 without auth"):
        startup_check(Config(data=data, listen="0.0.0.0:5000"))
    with pytest.raises(AuthConfigError, match="--insecure-no-auth"):
        startup_check(Config(data=data, listen="10.1.2.3:5000", auth="none"))
    assert "OFF" in startup_check(Config(data=data, listen="0.0.0.0:5000", insecure_no_auth=True))
    with pytest.raises(AuthConfigError, match="not found"):
        startup_check(Config(data=data, auth="token"))
    users.add_user(data / "users.htpasswd", "alice", "pw")
    line = startup_check(Config(data=data, listen="0.0.0.0:5000"))
    assert line.startswith("auth: token (1 users") and "new EdDSA key" in line
    assert os.stat(data / "token.key").st_mode & 0o077 == 0
    assert "new" not in startup_check(Config(data=data))
    assert startup_check(Config(data=data, auth="basic")).startswith("auth: basic")
    os.chmod(data / "users.htpasswd", 0o644)
    with pytest.raises(AuthConfigError, match="chmod 600"):
        startup_check(Config(data=data))
    os.chmod(data / "users.htpasswd", 0o600)
    os.chmod(data / "token.key", 0o640)
    with pytest.raises(AuthConfigError, match="chmod 600"):
        startup_check(Config(data=data))
