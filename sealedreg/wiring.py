"""Wiring: from a Config to a working Registry (data directory, storage
backend, dedupe domains, private-repository policy). Used by `serve` and by
every CLI command that works on a data directory, so both see the same
registry the same way.
"""

from __future__ import annotations

from sealedreg.config import Config, ConfigError
from sealedreg.crypto.keys import load_keys
from sealedreg.crypto.protected_files import load_secret
from sealedreg.datadir import DataDir
from sealedreg.registry.domains import Domains
from sealedreg.registry.index import Index
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.registry.service import Registry
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.base import BlobStore
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.kubo import KuboClient, KuboStore, KuboTimeouts


def open_registry(config: Config, readonly: bool = False, starting: bool = False) -> Registry:
    """Open the data directory, the configured store and the domain secrets
    (used by `serve` and by the CLI commands that work on a data directory).

    `readonly` opens the data directory of a server that may be running
    (`inspect`, `export`): nothing is created, the index is opened read-only.
    `starting` is for the server itself: scratch files left by a crash are
    cleared.
    """
    datadir = DataDir(config.data)
    if readonly:
        if not datadir.index.exists():
            raise ConfigError(f"{config.data} is not a sealedreg data directory")
    else:
        datadir.prepare(clean_scratch=starting)
    store = open_store(config, datadir)
    index = Index(datadir.index, readonly=readonly)
    max_size = config.max_blob_size or None
    return Registry(index, Uploads(datadir, ttl=config.upload_ttl, max_blob_size=max_size), store,
                    load_domains(config), load_policy(config))


def load_policy(config: Config) -> Policy:
    """Private repositories and the org keys that seal them (KeyError_/SecretFileError if unusable)."""
    return Policy({ns: NamespacePolicy(ns, tuple(nsc.private), nsc.layers, load_keys(nsc.keys) if nsc.keys else None)
                   for ns, nsc in config.namespaces.items()})


def open_store(config: Config, datadir: DataDir) -> BlobStore:
    """The backend the config names: the embedded block directory, or a Kubo node."""
    if config.store == "kubo":
        gateway = {"": None, "off": ""}.get(config.ipfs_gateway, config.ipfs_gateway)
        return KuboStore(KuboClient(config.ipfs_api, KuboTimeouts(read=config.ipfs_timeout), gateway))
    return EmbeddedStore(datadir.blocks, datadir.tmp, durable=config.durable)


def load_domains(config: Config) -> Domains:
    """The dedupe domains the config names; SecretFileError for a bad secret file."""
    return Domains({ns: load_secret(nsc.org_secret) for ns, nsc in config.namespaces.items() if nsc.org_secret},
                   secrets_dir=DataDir(config.data).secrets)
