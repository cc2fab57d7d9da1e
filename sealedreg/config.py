"""Configuration: defaults < `sealedreg.toml` < `SEALEDREG_*` env vars < CLI flags.

Every option has one name, used in all four places (`upload_ttl` in TOML,
`SEALEDREG_UPLOAD_TTL` in the environment, `--upload-ttl` where the CLI has
a flag).
"""

from __future__ import annotations

import dataclasses
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping


class ConfigError(ValueError):
    """A bad option: the message names it and says what is wrong."""


@dataclass
class Config:
    listen: str = "127.0.0.1:5000"
    data: Path = field(default_factory=lambda: Path("sealedreg-data"))
    store: str = ""  # "embedded" or "kubo"; empty: kubo when ipfs_api is set, else embedded
    ipfs_api: str = ""  # Kubo RPC API URL, e.g. http://127.0.0.1:5001
    ipfs_timeout: float = 30.0  # seconds Kubo may stay silent before a request fails (503)
    ipfs_gateway: str = ""  # Kubo HTTP gateway for bulk reads; empty: found from Kubo config; "off": never
    upload_ttl: float = 24 * 3600.0
    max_blob_size: int = 0  # 0: no limit
    chunk_min_length: int = 0  # advertised as OCI-Chunk-Min-Length when > 0
    durable: bool = True  # fsync content and index before acknowledging a push
    log_level: str = "info"
    access_log: bool = False
    graceful_timeout: float = 30.0
    namespaces: dict[str, "NamespaceConfig"] = field(default_factory=dict)  # TOML only

    @property
    def host(self) -> str:
        return split_listen(self.listen)[0]

    @property
    def port(self) -> int:
        return split_listen(self.listen)[1]


@dataclass
class NamespaceConfig:
    """Per-namespace settings (`[namespaces."example.com"]` in TOML)."""

    org_secret: Path | None = None  # 32-byte secret file (0600): this namespace's dedupe domain
    keys: Path | None = None  # the org's key file (sealedreg keygen): signs the tree, opens envelopes
    private: list[str] = field(default_factory=list)  # globs of private repositories ("app/*", "*")
    layers: str = "org"  # private layers: "org" domain always, or "auto" (global when a public repo has them)


_NAMESPACE_KEYS = {f.name for f in dataclasses.fields(NamespaceConfig)}
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")


def _namespaces(raw: Any, base: Path) -> dict[str, NamespaceConfig]:
    if not isinstance(raw, dict):
        raise ConfigError("namespaces: expected a table of namespaces")
    out = {}
    for ns, table in raw.items():
        if not _NAMESPACE.match(ns):
            raise ConfigError(f"namespaces: {ns!r} is not a namespace (one repository-name component)")
        if not isinstance(table, dict):
            raise ConfigError(f"namespaces.{ns}: expected a table")
        unknown = set(table) - _NAMESPACE_KEYS
        if unknown:
            raise ConfigError(f"namespaces.{ns}: unknown option {sorted(unknown)[0]!r}")
        secret, keys = table.get("org_secret"), table.get("keys")
        private = table.get("private", [])
        if isinstance(private, str):
            private = [private]
        if not isinstance(private, list) or not all(isinstance(p, str) and p for p in private):
            raise ConfigError(f"namespaces.{ns}.private: expected a list of repository globs")
        layers = table.get("layers", "org")
        if layers not in ("org", "auto"):
            raise ConfigError(f"namespaces.{ns}.layers: expected \"org\" or \"auto\"")
        nsc = NamespaceConfig(org_secret=(base / Path(secret).expanduser()) if secret else None,
                              keys=(base / Path(keys).expanduser()) if keys else None,
                              private=private, layers=layers)
        if nsc.private and not (nsc.org_secret and nsc.keys):
            raise ConfigError(f"namespaces.{ns}: private repositories need both org_secret and keys")
        out[ns] = nsc
    return out


def split_listen(listen: str) -> tuple[str, int]:
    host, sep, port = listen.rpartition(":")
    if not sep or not port.isdigit() or not 0 < int(port) < 65536:
        raise ConfigError(f"listen: expected HOST:PORT, got {listen!r}")
    host = host.strip("[]") or "127.0.0.1"
    return host, int(port)


_FIELDS = {f.name: f for f in dataclasses.fields(Config)}


def _coerce(name: str, value: Any) -> Any:
    default = _FIELDS[name].default if _FIELDS[name].default is not dataclasses.MISSING else None
    kind = type(default) if default is not None else Path
    try:
        if kind is bool:
            if isinstance(value, bool):
                return value
            text = str(value).strip().lower()
            if text in ("1", "true", "yes", "on"):
                return True
            if text in ("0", "false", "no", "off"):
                return False
            raise ValueError(value)
        if kind is Path:
            return Path(value).expanduser()
        return kind(value)
    except (TypeError, ValueError):
        raise ConfigError(f"{name}: invalid value {value!r}") from None


def load(config_file: Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Config:
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            raw = tomllib.loads(config_file.read_text())
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} not found") from None
        except tomllib.TOMLDecodeError as exc:
            raise ConfigError(f"config file {config_file}: {exc}") from None
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in _FIELDS:
                raise ConfigError(f"config file {config_file}: unknown option {key!r}")
            if name == "namespaces":
                values[name] = _namespaces(value, config_file.parent)
            else:
                values[name] = _coerce(name, value)
    env = os.environ if env is None else env
    for name in _FIELDS:
        if name == "namespaces":
            continue
        var = f"SEALEDREG_{name.upper()}"
        if var in env:
            values[name] = _coerce(name, env[var])
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _coerce(name, value)
    config = Config(**values)
    split_listen(config.listen)
    if not config.store:
        config.store = "kubo" if config.ipfs_api else "embedded"
    if config.store not in ("embedded", "kubo"):
        raise ConfigError(f"store: unknown backend {config.store!r} (available: embedded, kubo)")
    if config.store == "kubo":
        if not config.ipfs_api.startswith(("http://", "https://")):
            raise ConfigError(f"ipfs_api: expected an http(s) URL of Kubo's RPC API, got {config.ipfs_api!r}")
    if config.ipfs_timeout <= 0:
        raise ConfigError("ipfs_timeout: must be positive")
    if config.max_blob_size < 0:
        raise ConfigError("max_blob_size: must be 0 (no limit) or a positive number of bytes")
    if config.upload_ttl < 60:
        raise ConfigError("upload_ttl: must be at least 60 seconds")
    if config.chunk_min_length < 0:
        raise ConfigError("chunk_min_length: must not be negative")
    if config.graceful_timeout < 0:
        raise ConfigError("graceful_timeout: must not be negative")
    return config
