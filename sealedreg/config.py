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

from sealedreg.datadir import TOKEN_KEY, USERS_FILE


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
    # Auth (docs/auth.md). `auth`: "none", "token" or "basic"; empty: token once a users file exists, else none.
    auth: str = ""
    users_file: Path | None = None  # bcrypt htpasswd file; None: <data>/users.htpasswd
    token_key: Path | None = None  # token signing key (PEM, 0600); None: <data>/token.key, made on first start
    token_lifetime: float = 300.0  # seconds an access token is valid
    refresh_token_lifetime: float = 30 * 86400.0  # seconds a refresh token (offline_token=true) is valid
    auth_service: str = "sealedreg"  # the token service: challenges' `service`, tokens' `iss` and `aud`
    auth_realm: str = ""  # the token endpoint URL put in challenges; empty: <request origin>/token
    insecure_no_auth: bool = False  # allow serving without auth on a non-loopback address
    anonymous_pull: list[str] = field(default_factory=list)  # repository globs anyone may pull; true: all
    groups: dict[str, list[str]] = field(default_factory=dict)  # TOML only: group -> user names
    acl: list["AclRule"] | None = None  # TOML only ([[acl]]); None: every user may do everything
    # Publishing and federation (docs/federation.md).
    dns_server: str = ""  # HOST:PORT of the DNS server for every lookup and update; empty: the system resolver
    federate: list[str] = field(default_factory=list)  # foreign namespaces (domain globs) that may be pulled
    federation_timeout: float = 20.0  # seconds any one federated step may wait on DNS, IPFS or a gateway
    resolve_cache_min: float = 5.0  # floor of how long a resolved namespace is kept (seconds)
    resolve_cache_max: float = 3600.0  # ceiling, whatever the DNS TTL says
    keys: Path | None = None  # the org key that opens foreign envelopes; None: the [namespaces] keys
    public_url: str = ""  # this registry's URL as others reach it: published as the gateway= hint
    ipfs_announce: str = ""  # the ipfsnode= hint (multiaddr with /p2p/); empty: from the Kubo node
    publish: str = "manual"  # "auto": publish a namespace's tree after changes (debounced)
    publish_delay: float = 5.0  # seconds of quiet before an automatic publish
    publish_ipns: bool = False  # automatic publishes use IPNS (DNSLink written once)
    tsig_key: Path | None = None  # TSIG key file for RFC 2136 updates to dns_server
    dns_ttl: int = 300  # TTL of the records publish writes (and of IPNS records)
    tree_lifetime: float = 7 * 86400.0  # how long a published descriptor stays valid

    @property
    def users_path(self) -> Path:
        return self.users_file if self.users_file is not None else self.data / USERS_FILE

    @property
    def token_key_path(self) -> Path:
        return self.token_key if self.token_key is not None else self.data / TOKEN_KEY

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


@dataclass
class AclRule:
    """One `[[acl]]` entry: grant `actions` on the repositories matching
    `repositories` (globs) to `users` (`*`: any authenticated user) and `groups`."""

    repositories: list[str]
    actions: list[str]
    users: list[str] = field(default_factory=list)
    groups: list[str] = field(default_factory=list)


_ACL_KEYS = {"repositories", "namespaces", "actions", "users", "groups"}
_ACL_ACTIONS = ("pull", "push", "delete")
_TOML_ONLY = ("namespaces", "groups", "acl")


def _strings(where: str, value: Any) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a string or a list of strings")
    return list(value)


def _acl(raw: Any) -> list[AclRule]:
    if not isinstance(raw, list):
        raise ConfigError("acl: expected an array of tables ([[acl]])")
    rules = []
    for i, table in enumerate(raw):
        where = f"acl[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table")
        unknown = set(table) - _ACL_KEYS
        if unknown:
            raise ConfigError(f"{where}: unknown option {sorted(unknown)[0]!r}")
        repos = _strings(f"{where}.repositories", table.get("repositories", []))
        for ns in _strings(f"{where}.namespaces", table.get("namespaces", [])):
            repos += [ns, f"{ns}/**"]
        if not repos:
            raise ConfigError(f"{where}: name the repositories (globs) or namespaces it applies to")
        actions = _strings(f"{where}.actions", table.get("actions", []))
        if "*" in actions:
            actions = list(_ACL_ACTIONS)
        bad = [a for a in actions if a not in _ACL_ACTIONS]
        if bad or not actions:
            raise ConfigError(f"{where}.actions: expected some of {', '.join(_ACL_ACTIONS)}")
        users = _strings(f"{where}.users", table.get("users", []))
        groups = _strings(f"{where}.groups", table.get("groups", []))
        if not users and not groups:
            raise ConfigError(f"{where}: name the users or groups it applies to")
        rules.append(AclRule(repos, actions, users, groups))
    return rules


def _groups(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ConfigError("groups: expected a table of group = [user, ...]")
    return {name: _strings(f"groups.{name}", members) for name, members in raw.items()}


def _anonymous_pull(value: Any) -> list[str]:
    """Repository globs anyone may pull: a list, a comma-separated string, or a boolean (all / none)."""
    if isinstance(value, bool):
        return ["**"] if value else []
    if isinstance(value, str):
        text = value.strip().lower()
        if text in ("1", "true", "yes", "on"):
            return ["**"]
        if text in ("", "0", "false", "no", "off"):
            return []
        return [v.strip() for v in value.split(",") if v.strip()]
    return _strings("anonymous_pull", value)
_NAMESPACE = re.compile(r"^[a-z0-9]+(?:(?:\.|_|__|-+)[a-z0-9]+)*$")


def _namespaces(raw: Any, base: Path) -> dict[str, NamespaceConfig]:
    if not isinstance(raw, dict):
        raise ConfigError("namespaces: expected a table of namespaces")
    out = {}
    for ns, table in raw.items():
        if not _NAMESPACE.fullmatch(ns):
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
def _federate(value: Any) -> list[str]:
    """Namespace globs: a list, or a comma-separated string ("*": any domain)."""
    if isinstance(value, str):
        return [v.strip().lower() for v in value.split(",") if v.strip()]
    return [v.lower() for v in _strings("federate", value)]


_SPECIAL = {"anonymous_pull": _anonymous_pull, "groups": _groups, "acl": _acl, "federate": _federate}


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
            elif name in _SPECIAL:
                values[name] = _SPECIAL[name](value)
            else:
                values[name] = _coerce(name, value)
    env = os.environ if env is None else env
    for name in _FIELDS:
        if name in _TOML_ONLY:
            continue
        var = f"SEALEDREG_{name.upper()}"
        if var in env:
            values[name] = _SPECIAL[name](env[var]) if name in _SPECIAL else _coerce(name, env[var])
    for name, value in (overrides or {}).items():
        if value is not None:
            values[name] = _SPECIAL[name](value) if name in _SPECIAL else _coerce(name, value)
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
    config.auth = config.auth.strip().lower()
    if config.auth not in ("", "none", "token", "basic"):
        raise ConfigError(f"auth: unknown mode {config.auth!r} (available: none, token, basic)")
    if config.token_lifetime < 60 or config.refresh_token_lifetime < 60:
        # The token spec: a token should never be handed out with under 60 s to live.
        raise ConfigError("token_lifetime, refresh_token_lifetime: must be at least 60 seconds")
    if not config.auth_service or '"' in config.auth_service or '"' in config.auth_realm:
        raise ConfigError("auth_service, auth_realm: must be non-empty and free of double quotes")
    if config.max_blob_size < 0:
        raise ConfigError("max_blob_size: must be 0 (no limit) or a positive number of bytes")
    if config.upload_ttl < 60:
        raise ConfigError("upload_ttl: must be at least 60 seconds")
    if config.chunk_min_length < 0:
        raise ConfigError("chunk_min_length: must not be negative")
    if config.graceful_timeout < 0:
        raise ConfigError("graceful_timeout: must not be negative")
    _check_federation(config)
    return config


def _check_federation(config: Config) -> None:
    if config.publish not in ("manual", "auto"):
        raise ConfigError(f"publish: expected \"manual\" or \"auto\", got {config.publish!r}")
    if config.publish == "auto" and not (config.dns_server and config.tsig_key):
        raise ConfigError("publish = \"auto\" needs dns_server and tsig_key (where and how to update DNS)")
    if config.dns_server:
        host, sep, port = config.dns_server.rpartition(":")
        if not sep or not port.isdigit() or not host or not 0 < int(port) < 65536 or (":" in host
                                                                                    and not host.startswith("[")):
            raise ConfigError(f"dns_server: expected HOST:PORT (IPv6 in brackets), got {config.dns_server!r}")
    if config.public_url and not re.fullmatch(r"https?://[^\s;]+", config.public_url):
        raise ConfigError(f"public_url: expected an http(s) URL, got {config.public_url!r}")
    if config.ipfs_announce and "/p2p/" not in config.ipfs_announce:
        raise ConfigError("ipfs_announce: expected a multiaddr ending in /p2p/<peer id>")
    for name in ("federation_timeout", "resolve_cache_min", "publish_delay"):
        if getattr(config, name) <= 0:
            raise ConfigError(f"{name}: must be positive")
    if config.resolve_cache_max < config.resolve_cache_min:
        raise ConfigError("resolve_cache_max: must be at least resolve_cache_min")
    if not 1 <= config.dns_ttl <= 86400:
        raise ConfigError("dns_ttl: expected 1 to 86400 seconds")
    if config.tree_lifetime < 60:
        raise ConfigError("tree_lifetime: must be at least 60 seconds")
    bad = [g for g in config.federate if not re.fullmatch(r"[a-z0-9*?.\-_\[\]]+", g)]
    if bad:
        raise ConfigError(f"federate: {bad[0]!r} is not a domain or domain glob")
