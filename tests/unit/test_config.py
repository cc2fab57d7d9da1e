import re
from pathlib import Path

import pytest

from sealedreg.config import ConfigError, error_line, key_line, load, parse_duration


def test_defaults():
    c = load(env={})
    assert c.listen == "127.0.0.1:5000" and c.store == "embedded" and c.data == Path("sealedreg-data")


def test_precedence(tmp_path):
    f = tmp_path / "sealedreg.toml"
    f.write_text('listen = "127.0.0.1:6000"\nupload_ttl = 600\ndurable = false\n')
    c = load(f, env={})
    assert (c.listen, c.upload_ttl, c.durable) == ("127.0.0.1:6000", 600.0, False)
    c = load(f, env={"SEALEDREG_LISTEN": "127.0.0.1:7000", "SEALEDREG_DURABLE": "yes"})
    assert c.listen == "127.0.0.1:7000" and c.durable is True
    c = load(f, env={"SEALEDREG_LISTEN": "127.0.0.1:7000"}, overrides={"listen": "127.0.0.1:8000", "data": None})
    assert c.listen == "127.0.0.1:8000"
    assert c.host == "127.0.0.1" and c.port == 8000


@pytest.mark.parametrize("text", ['nope = 1', 'upload_ttl = "soon"', 'listen = "nohost"', 'store = "s3"', "not toml ["])
def test_bad_config(tmp_path, text):
    f = tmp_path / "c.toml"
    f.write_text(text)
    with pytest.raises(ConfigError):
        load(f, env={})


def test_bad_env():
    with pytest.raises(ConfigError, match="durable"):
        load(env={"SEALEDREG_DURABLE": "maybe"})


def test_missing_file(tmp_path):
    with pytest.raises(ConfigError, match="not found"):
        load(tmp_path / "missing.toml", env={})


@pytest.mark.parametrize("text", ["max_blob_size = -1", "upload_ttl = 0", "ipfs_timeout = 0",
                                  '[namespaces."../x"]\norg_secret = "s"', '[namespaces."a/b"]\n',
                                  '[namespaces."a.example"]\nsecret = "s"', 'store = "kubo"'])
def test_out_of_range_options(tmp_path, text):
    f = tmp_path / "c.toml"
    f.write_text(text + "\n")
    with pytest.raises(ConfigError):
        load(f, env={})


def test_namespace_secret_paths_are_relative_to_the_config(tmp_path):
    f = tmp_path / "c.toml"
    f.write_text('[namespaces."a.example"]\norg_secret = "secrets/a"\n')
    assert load(f, env={}).namespaces["a.example"].org_secret == tmp_path / "secrets" / "a"


def test_ipfs_api_selects_kubo():
    c = load(env={"SEALEDREG_IPFS_API": "http://127.0.0.1:5001"})
    assert c.store == "kubo"
    assert load(env={}).store == "embedded"


# -- publishing and federation ----------------------------------------------------
def _toml(tmp_path, text: str):
    f = tmp_path / "c.toml"
    f.write_text(text + "\n")
    return f


def test_federation_defaults():
    c = load(env={})
    assert c.dns_server == "" and c.federate == [] and c.publish == "manual" and c.tsig_key is None
    assert c.public_url == "" and c.ipfs_announce == "" and c.publish_ipns is False
    assert (c.federation_timeout, c.resolve_cache_min, c.resolve_cache_max) == (20.0, 5.0, 3600.0)
    assert c.dns_ttl == 300 and c.tree_lifetime == 7 * 86400.0 and c.publish_delay == 5.0


def test_federate_as_a_list(tmp_path):
    c = load(_toml(tmp_path, 'federate = ["Acme.Test", "*.partner.org", "*"]'), env={})
    assert c.federate == ["acme.test", "*.partner.org", "*"]


def test_federate_as_a_comma_separated_string(tmp_path):
    c = load(_toml(tmp_path, 'federate = " acme.test, ,*.Partner.org ,"'), env={})
    assert c.federate == ["acme.test", "*.partner.org"]
    assert load(_toml(tmp_path, 'federate = ""'), env={}).federate == []


def test_federate_from_the_environment(tmp_path):
    c = load(env={"SEALEDREG_FEDERATE": "acme.test,*.Partner.org"})
    assert c.federate == ["acme.test", "*.partner.org"]
    f = _toml(tmp_path, 'federate = ["toml.test"]')
    assert load(f, env={"SEALEDREG_FEDERATE": "env.test"}).federate == ["env.test"]
    assert load(f, env={}, overrides={"federate": "cli.test, other.test"}).federate == ["cli.test", "other.test"]
    assert load(f, env={}, overrides={"federate": ["Cli.Test"]}).federate == ["cli.test"]


@pytest.mark.parametrize("text", ['federate = ["acme test"]', 'federate = ["acme.test/app"]', 'federate = 5',
                                  'federate = ["ok.test", 3]', 'federate = "a.test;b.test"',
                                  'federate = ["{a,b}.test"]'])
def test_bad_federate(tmp_path, text):
    with pytest.raises(ConfigError, match="federate"):
        load(_toml(tmp_path, text), env={})


def test_bad_federate_in_the_environment():
    with pytest.raises(ConfigError, match="federate"):
        load(env={"SEALEDREG_FEDERATE": "acme.test, evil test"})


def test_publish_auto_needs_dns_server_and_tsig_key(tmp_path):
    for text in ['publish = "auto"', 'publish = "auto"\ndns_server = "127.0.0.1:53"',
                 'publish = "auto"\ntsig_key = "k.tsig"']:
        with pytest.raises(ConfigError, match="needs dns_server and tsig_key"):
            load(_toml(tmp_path, text), env={})
    c = load(_toml(tmp_path, 'publish = "auto"\ndns_server = "127.0.0.1:53"\ntsig_key = "k.tsig"'), env={})
    assert c.publish == "auto" and c.tsig_key == Path("k.tsig") and c.dns_server == "127.0.0.1:53"


def test_publish_auto_from_the_environment():
    c = load(env={"SEALEDREG_PUBLISH": "auto", "SEALEDREG_DNS_SERVER": "[::1]:5353",
                  "SEALEDREG_TSIG_KEY": "/etc/k.tsig", "SEALEDREG_PUBLISH_IPNS": "yes"})
    assert c.publish == "auto" and c.tsig_key == Path("/etc/k.tsig") and c.publish_ipns is True


@pytest.mark.parametrize("value", ["Auto", "always", "", "true"])
def test_bad_publish_mode(value):
    with pytest.raises(ConfigError, match="publish"):
        load(env={"SEALEDREG_PUBLISH": value})


@pytest.mark.parametrize("value", ["127.0.0.1:53", "ns.acme.test:5353", "[::1]:53", "localhost:1"])
def test_dns_server(value):
    assert load(env={"SEALEDREG_DNS_SERVER": value}).dns_server == value


@pytest.mark.parametrize("value", ["127.0.0.1", "ns.acme.test", ":53", "host:", "host:abc", "host:-1"])
def test_bad_dns_server(value):
    with pytest.raises(ConfigError, match="dns_server"):
        load(env={"SEALEDREG_DNS_SERVER": value})


@pytest.mark.parametrize("value", ["127.0.0.1:0", "127.0.0.1:65536", "ns.test:99999"])
def test_dns_server_port_out_of_range(value):
    with pytest.raises(ConfigError, match="dns_server"):
        load(env={"SEALEDREG_DNS_SERVER": value})


@pytest.mark.parametrize("value", ["https://registry.acme.test", "http://127.0.0.1:5000", "https://r.test/sub/"])
def test_public_url(value):
    assert load(env={"SEALEDREG_PUBLIC_URL": value}).public_url == value


@pytest.mark.parametrize("value", ["registry.acme.test", "ftp://r.test", "https://", "https://r.test/a b",
                                   "https://r.test;x=1", "HTTPS://r.test"])
def test_bad_public_url(value):
    with pytest.raises(ConfigError, match="public_url"):
        load(env={"SEALEDREG_PUBLIC_URL": value})


def test_ipfs_announce():
    addr = "/ip4/1.2.3.4/tcp/4001/p2p/12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
    assert load(env={"SEALEDREG_IPFS_ANNOUNCE": addr}).ipfs_announce == addr
    with pytest.raises(ConfigError, match="ipfs_announce"):
        load(env={"SEALEDREG_IPFS_ANNOUNCE": "/ip4/1.2.3.4/tcp/4001"})


@pytest.mark.parametrize("value, ok", [("1", True), ("86400", True), ("300", True), ("0", False),
                                       ("86401", False), ("-5", False)])
def test_dns_ttl_range(value, ok):
    if ok:
        assert load(env={"SEALEDREG_DNS_TTL": value}).dns_ttl == int(value)
    else:
        with pytest.raises(ConfigError, match="dns_ttl"):
            load(env={"SEALEDREG_DNS_TTL": value})


def test_dns_ttl_must_be_an_integer():
    with pytest.raises(ConfigError, match="dns_ttl"):
        load(env={"SEALEDREG_DNS_TTL": "1.5"})


@pytest.mark.parametrize("value, ok", [("60", True), ("3600", True), ("59.9", False), ("0", False), ("-1", False)])
def test_tree_lifetime_minimum(value, ok):
    if ok:
        assert load(env={"SEALEDREG_TREE_LIFETIME": value}).tree_lifetime == float(value)
    else:
        with pytest.raises(ConfigError, match="tree_lifetime"):
            load(env={"SEALEDREG_TREE_LIFETIME": value})


def test_resolve_cache_bounds(tmp_path):
    c = load(_toml(tmp_path, "resolve_cache_min = 1\nresolve_cache_max = 1"), env={})
    assert (c.resolve_cache_min, c.resolve_cache_max) == (1.0, 1.0)
    with pytest.raises(ConfigError, match="resolve_cache_max"):
        load(_toml(tmp_path, "resolve_cache_min = 10\nresolve_cache_max = 9"), env={})
    with pytest.raises(ConfigError, match="resolve_cache_max"):
        load(_toml(tmp_path, "resolve_cache_max = 4"), env={})  # below the default floor of 5
    for text in ["resolve_cache_min = 0", "resolve_cache_min = -1"]:
        with pytest.raises(ConfigError, match="resolve_cache_min"):
            load(_toml(tmp_path, text), env={})


@pytest.mark.parametrize("name", ["federation_timeout", "publish_delay"])
def test_timeouts_must_be_positive(name):
    with pytest.raises(ConfigError, match=name):
        load(env={f"SEALEDREG_{name.upper()}": "0"})
    assert getattr(load(env={f"SEALEDREG_{name.upper()}": "0.5"}), name) == 0.5


def test_federation_options_in_toml(tmp_path):
    c = load(_toml(tmp_path, 'dns_server = "127.0.0.1:5353"\nfederate = ["*.test"]\nfederation_timeout = 3\n'
                             'public_url = "https://r.acme.test"\ndns_ttl = 60\ntree_lifetime = 86400\n'
                             'publish_ipns = true\nkeys = "org.keys"'), env={})
    assert (c.dns_server, c.federate, c.federation_timeout) == ("127.0.0.1:5353", ["*.test"], 3.0)
    assert (c.public_url, c.dns_ttl, c.tree_lifetime, c.publish_ipns) == ("https://r.acme.test", 60, 86400.0, True)
    assert c.keys == Path("org.keys")


def test_federation_options_accept_dashes_in_toml(tmp_path):
    c = load(_toml(tmp_path, 'dns-server = "127.0.0.1:53"\ndns-ttl = 30'), env={})
    assert c.dns_server == "127.0.0.1:53" and c.dns_ttl == 30


# -- durations ----------------------------------------------------------------------
@pytest.mark.parametrize("text,seconds", [("90", 90.0), ("30s", 30.0), ("15m", 900.0), ("2h", 7200.0),
                                          ("7d", 604800.0), ("1w", 604800.0), ("1500ms", 1.5), (" 2.5h ", 9000.0)])
def test_every_seconds_option_takes_a_duration(tmp_path, text, seconds):
    assert parse_duration(text) == seconds
    assert load(env={"SEALEDREG_TREE_LIFETIME": "7d", "SEALEDREG_GC_GRACE": text}).gc_grace == seconds
    c = load(_toml(tmp_path, f'gc_grace = "{text}"\nupload_ttl = "1h"'), env={})
    assert (c.gc_grace, c.upload_ttl) == (seconds, 3600.0)


def test_numbers_stay_seconds_and_whole_seconds_options_take_durations(tmp_path):
    c = load(_toml(tmp_path, "gc_grace = 120\nupload_ttl = 60.5"), env={"SEALEDREG_DNS_TTL": "5m"})
    assert (c.gc_grace, c.upload_ttl, c.dns_ttl) == (120.0, 60.5, 300)
    with pytest.raises(ConfigError, match="dns_ttl: invalid value '1.5s'"):
        load(env={"SEALEDREG_DNS_TTL": "1.5s"})


@pytest.mark.parametrize("text", ["2x", "h", "", "-5m", "1h30m", "5 minutes"])
def test_a_bad_duration_names_its_option(tmp_path, text):
    with pytest.raises(ConfigError, match="gc_grace: invalid value") as info:
        load(_toml(tmp_path, f'gc_grace = "{text}"'), env={})
    assert info.value.key == ("gc_grace",)
    with pytest.raises(ConfigError):
        parse_duration(text)


def test_gc_interval_is_off_or_at_least_a_minute():
    assert load(env={"SEALEDREG_GC_INTERVAL": "6h"}).gc_interval == 21600.0
    assert load(env={}).gc_interval == 0.0
    with pytest.raises(ConfigError, match="gc_interval"):
        load(env={"SEALEDREG_GC_INTERVAL": "30s"})


# -- where an option sits in the file ------------------------------------------------
LAYOUT = '''# sealedreg.toml
listen = "0.0.0.0:5000"   # a comment with = and [brackets]
"gc-grace" = "2h"
motd = """
[not.a.table]
keys = "not a key"
"""
data.dir = 'x'

[namespaces."example.com"]
org_secret = "secrets/example.com.secret"
keys = "keys/example.com.key"   # the org key

[namespaces]
"other.org".private = ["app/*",
  "tools/*"]
"third.org" = { keys = "k", layers = "auto" }

[groups]
example = ["alice", "ci"]

[[acl]]
namespaces = ["example.com"]
groups = ["example"]

[[acl]]
users = ["*"]
actions = ["pull"]
'''


@pytest.mark.parametrize("key,line", [
    (("listen",), 2), (("gc_grace",), 3), (("gc-grace",), 3), (("motd",), 4), (("data", "dir"), 8),
    (("namespaces", "example.com"), 10), (("namespaces", "example.com", "keys"), 12),
    (("namespaces", "example.com", "private"), 10),  # not set: its table's header
    (("namespaces", "other.org", "private"), 15), (("namespaces", "third.org", "layers"), 17),
    (("groups", "example"), 20), (("acl", 0), 22), (("acl", 0, "groups"), 24), (("acl", 1), 26),
    (("acl", 1, "actions"), 28), (("acl", 1, "users"), 27), (("not_there",), None),
])
def test_key_line(key, line):
    assert key_line(LAYOUT, key) == line


def test_key_line_in_inline_tables_and_arrays_of_them():
    text = 'acl = [\n  { users = ["a"], actions = ["pull"] },\n  { users = ["b"], bogus = 1 },\n]\n'
    assert key_line(text, ("acl", 1, "bogus")) == 3 and key_line(text, ("acl", 0, "users")) == 2
    assert key_line('[namespaces]\n"a.org" = { keys = "k" }\n', ("namespaces", "a.org", "keys")) == 2


@pytest.mark.parametrize("text,line,message", [
    ('listen = "127.0.0.1:5000"\n\ngc_grace = "2x"\n', 3, "gc_grace: invalid value '2x'"),
    ('listen = "127.0.0.1:5000"\nbogus = 1\n', 2, "unknown option 'bogus'"),
    ('[namespaces."a.org"]\nkeys = "k"\nfoo = 1\n', 3, "namespaces.a.org: unknown option 'foo'"),
    ('[[acl]]\nusers = ["a"]\nactions = ["pull"]\nnamespaces = ["a"]\n[[acl]]\nusers = ["b"]\nactions = ["fly"]\n'
     'namespaces = ["b"]\n', 7, "acl[1].actions"),
    ('[groups]\nops = 3\n', 2, "groups.ops"),
    ('upload_ttl = 10\n', 1, "upload_ttl: must be at least 60"),
    ('x = 1\ny = \n', 2, "Invalid value"),
    ('publish = "auto"\n', 1, "needs dns_server"),
    ('token_lifetime = 600\nrefresh_token_lifetime = 5\n', 2, "token_lifetime"),
    ('metrics_listen = "nope"\n', 1, "metrics_listen: expected HOST:PORT"),
])
def test_an_error_knows_its_line(tmp_path, text, line, message):
    with pytest.raises(ConfigError, match=re.escape(message)) as info:
        load(_toml(tmp_path, text), env={})
    assert error_line(info.value, text) == line


def test_max_tree_size():
    assert load(env={}).max_tree_size == 64 * 1024 * 1024
    assert load(env={"SEALEDREG_MAX_TREE_SIZE": "0"}).max_tree_size == 0  # no limit
    assert load(env={"SEALEDREG_MAX_TREE_SIZE": "131072"}).max_tree_size == 131072
    for bad in ("131071", "-1", "1"):
        with pytest.raises(ConfigError, match="max_tree_size: expected 0 .no limit. or at least 131072 bytes"):
            load(env={"SEALEDREG_MAX_TREE_SIZE": bad})
    with pytest.raises(ConfigError, match="max_tree_size: invalid value"):
        load(env={"SEALEDREG_MAX_TREE_SIZE": "64MiB"})


def test_max_tree_size_in_toml_reaches_the_federation(tmp_path):
    from sealedreg.wiring import federation_settings
    c = load(_toml(tmp_path, "max_tree_size = 1048576\n"), env={})
    assert c.max_tree_size == 1048576 and federation_settings(c).max_tree_size == 1048576
