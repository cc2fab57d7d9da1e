from pathlib import Path

import pytest

from sealedreg.config import ConfigError, load


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
