"""From a Config to a working Registry, each part built once (data directory →
store, index, uploads, domains, policy), for `serve` and for every CLI command
that works on a data directory, so both see the same registry the same way.
`sealedreg.server` adds auth and the HTTP app on top.
"""

from __future__ import annotations

from sealedreg.config import Config, ConfigError
from sealedreg.datadir import DataDir
from sealedreg.protected_files import load_secret
from sealedreg.publish.keyfiles import load_keys
from sealedreg.registry.domains import Domains
from sealedreg.registry.federation import Federation, FederationSettings
from sealedreg.registry.index import Index
from sealedreg.registry.policy import NamespacePolicy, Policy
from sealedreg.registry.service import Registry
from sealedreg.registry.sweeplock import SweepLock
from sealedreg.registry.uploads import Uploads
from sealedreg.storage.base import BlobStore
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.kubo import KuboStore
from sealedreg.storage.kubo_rpc import KuboClient, KuboTimeouts


def load_policy(config: Config) -> Policy:
    """Private repositories and the org keys that seal them (KeyError_/SecretFileError if unusable)."""
    return Policy({ns: NamespacePolicy(ns, tuple(nsc.private), nsc.layers, load_keys(nsc.keys) if nsc.keys else None)
                   for ns, nsc in config.namespaces.items()})


def open_store(config: Config, datadir: DataDir) -> BlobStore:
    """The backend the config names: the embedded block directory, or a Kubo node."""
    if config.store == "kubo":
        gateway = {"": None, "off": ""}.get(config.ipfs_gateway, config.ipfs_gateway)
        return KuboStore(KuboClient(config.ipfs_api, KuboTimeouts(read=config.ipfs_timeout), gateway))
    return EmbeddedStore(datadir.blocks, datadir.tmp, durable=config.durable, quarantine_dir=datadir.quarantine)


def open_registry(config: Config, readonly: bool = False, starting: bool = False,
                  policy: Policy | None = None) -> Registry:
    """Open the data directory, the configured store and the domain secrets.

    `readonly` opens the data directory of a server that may be running
    (`inspect`, `export`): nothing is created, the index is opened read-only.
    `starting` is for the server itself: scratch files left by a crash are
    cleared. Errors a user can cause: ConfigError, KeyError_, SecretFileError.
    """
    datadir = DataDir(config.data)
    if readonly and not datadir.index.exists():
        raise ConfigError(f"{config.data} is not a sealedreg data directory")
    policy = policy if policy is not None else load_policy(config)
    domains = Domains({ns: load_secret(nsc.org_secret) for ns, nsc in config.namespaces.items() if nsc.org_secret},
                      datadir)
    if not readonly:
        datadir.prepare(clean_scratch=starting)
    uploads = Uploads(datadir, ttl=config.upload_ttl, max_blob_size=config.max_blob_size or None,
                      durable=config.durable)
    index = Index(datadir.index, readonly=readonly)
    store = open_store(config, datadir)
    kubo = store.kubo if isinstance(store, KuboStore) else None
    federation = Federation(federation_settings(config), index, store, domains, policy, kubo,
                            keys=[load_keys(config.keys)] if config.keys else [])
    sweep_lock = None if readonly else SweepLock(datadir.gc_lock, datadir.gc_gate)
    return Registry(index, uploads, store, domains, policy, tree_lifetime=config.tree_lifetime,
                    federation=federation, kubo=kubo, sweep_lock=sweep_lock,
                    max_manifest_size=config.max_manifest_size,
                    background_min=config.background_encryption_min if config.background_encryption else None,
                    auto_mount=config.auto_mount)


def federation_settings(config: Config) -> FederationSettings:
    return FederationSettings(tuple(config.federate), config.dns_server or None, config.federation_timeout,
                              config.resolve_cache_min, config.resolve_cache_max, config.max_tree_size)
