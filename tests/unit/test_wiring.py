"""From a config to a registry: the right store, the domain secrets, and errors
a user can fix."""

import asyncio
import os

import pytest

from sealedreg.config import Config, ConfigError, NamespaceConfig
from sealedreg.crypto.keys import KeyError_, OrgKeys
from sealedreg.protected_files import SecretFileError, create_secret
from sealedreg.publish.keyfiles import write_keys
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.kubo import KuboStore
from sealedreg.wiring import load_policy, open_registry, open_store


def test_store_by_config(tmp_path):
    from sealedreg.datadir import DataDir

    d = DataDir(tmp_path)
    assert isinstance(open_store(Config(data=tmp_path, store="embedded"), d), EmbeddedStore)
    kubo = open_store(Config(data=tmp_path, store="kubo", ipfs_api="http://127.0.0.1:1"), d)
    assert isinstance(kubo, KuboStore)
    asyncio.run(kubo.close())


def test_open_registry_makes_the_data_dir_and_loads_secrets_and_keys(tmp_path):
    create_secret(tmp_path / "org.secret")
    write_keys(OrgKeys.generate("example.com"), tmp_path / "keys")
    config = Config(data=tmp_path / "data", namespaces={"example.com": NamespaceConfig(
        org_secret=tmp_path / "org.secret", keys=tmp_path / "keys" / "example.com.key", private=["*"])})
    reg = open_registry(config)
    try:
        assert reg.domains.for_repo("example.com/a").name == "org:example.com"
        assert reg.policy.namespace("example.com").keys.name == "example.com"
        assert os.stat(tmp_path / "data").st_mode & 0o777 == 0o700
    finally:
        asyncio.run(reg.close())


def test_readonly_needs_an_existing_data_dir(tmp_path):
    with pytest.raises(ConfigError, match="not a sealedreg data directory"):
        open_registry(Config(data=tmp_path / "nothing"), readonly=True)
    assert not (tmp_path / "nothing").exists()


def test_bad_secret_and_key_files_are_user_errors(tmp_path):
    (tmp_path / "open.secret").write_bytes(bytes(32))
    os.chmod(tmp_path / "open.secret", 0o644)
    with pytest.raises(SecretFileError, match="readable by others"):
        open_registry(Config(data=tmp_path / "d", namespaces={"x.org": NamespaceConfig(
            org_secret=tmp_path / "open.secret")}))
    (tmp_path / "bad.key").write_text("{}")
    os.chmod(tmp_path / "bad.key", 0o600)
    with pytest.raises(KeyError_):
        load_policy(Config(namespaces={"x.org": NamespaceConfig(keys=tmp_path / "bad.key")}))
