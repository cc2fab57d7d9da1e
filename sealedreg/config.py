"""Configuration: defaults < `sealedreg.toml` < `SEALEDREG_*` env vars < CLI flags.

Every option has one name, used in all four places (`upload_ttl` in TOML,
`SEALEDREG_UPLOAD_TTL` in the environment, `--upload-ttl` where the CLI has
a flag).
"""

from __future__ import annotations

import dataclasses
import json
import math
import os
import re
import tomllib
from dataclasses import dataclass, field
from pathlib import Path
from typing import Any, Mapping

from sealedreg.datadir import TOKEN_KEY, USERS_FILE


class ConfigError(ValueError):
    """A bad option: the message names it and says what is wrong.

    `key` is where the option sits in the TOML file, when known: a path such
    as ("gc_grace",), ("namespaces", "example.com", "keys") or ("acl", 0,
    "actions") (`key_line` finds its line); `line` is the line of a TOML
    syntax error."""

    def __init__(self, message: str, key: tuple[str | int, ...] | None = None, line: int | None = None) -> None:
        super().__init__(message)
        self.key = key
        self.line = line


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
    max_manifest_size: int = 4 * 1024 * 1024  # largest manifest accepted (at most 4 MiB: what other registries pull)
    max_uploads_per_client: int = 32  # upload requests (PATCH, or PUT/POST with a body) one client runs at once; 0: none
    max_uploads: int = 512  # upload requests running at once in all; 0: no limit
    body_timeout: float = 60.0  # seconds a request body may go without a byte before the request fails (408)
    header_timeout: float = 10.0  # seconds a client has to send a request's headers before it is disconnected
    chunk_min_length: int = 0  # advertised as OCI-Chunk-Min-Length when > 0
    durable: bool = True  # fsync content and index before acknowledging a push
    background_encryption: bool = True  # acknowledge large blobs once verified and durable, encrypt after
    background_encryption_min: int = 4 * 1024 * 1024  # blobs at least this big are encrypted after the 201
    auto_mount: bool = True  # a HEAD or `from`-less mount finds a blob another readable repository holds
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
    max_tree_size: int = 64 * 1024 * 1024  # bytes of a foreign tree one federated request may read; 0: no limit
    keys: Path | None = None  # the org key that opens foreign envelopes; None: the [namespaces] keys
    public_url: str = ""  # this registry's URL as others reach it: published as the gateway= hint
    ipfs_announce: str = ""  # the ipfsnode= hint (multiaddr with /p2p/); empty: from the Kubo node
    publish: str = "manual"  # "auto": publish a namespace's tree after changes (debounced)
    publish_delay: float = 5.0  # seconds of quiet before an automatic publish
    publish_ipns: bool = False  # automatic publishes use IPNS (DNSLink written once)
    tsig_key: Path | None = None  # TSIG key file for RFC 2136 updates to dns_server
    dns_ttl: int = 300  # TTL of the records publish writes (and of IPNS records)
    tree_lifetime: float = 7 * 86400.0  # how long a published descriptor stays valid
    # Operating it (docs/operations.md).
    gc_interval: float = 0.0  # seconds between background garbage collections; 0: off (run `sealedreg gc`)
    gc_grace: float = 3600.0  # content stored or linked this recently is never collected (pushes in progress)
    log_format: str = "text"  # "text", or "json": one JSON object per line
    metrics_listen: str = ""  # HOST:PORT of a separate /metrics listener; empty: the main one, loopback callers only

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


def _strings(where: str, value: Any, key: tuple[str | int, ...] | None = None) -> list[str]:
    if isinstance(value, str):
        value = [value]
    if not isinstance(value, list) or not all(isinstance(v, str) and v for v in value):
        raise ConfigError(f"{where}: expected a string or a list of strings", key)
    return list(value)


def _acl(raw: Any) -> list[AclRule]:
    if not isinstance(raw, list):
        raise ConfigError("acl: expected an array of tables ([[acl]])", ("acl",))
    rules = []
    for i, table in enumerate(raw):
        where = f"acl[{i}]"
        if not isinstance(table, dict):
            raise ConfigError(f"{where}: expected a table", ("acl", i))
        unknown = set(table) - _ACL_KEYS
        if unknown:
            bad_key = sorted(unknown)[0]
            raise ConfigError(f"{where}: unknown option {bad_key!r}", ("acl", i, bad_key))
        repos = _strings(f"{where}.repositories", table.get("repositories", []), ("acl", i, "repositories"))
        for ns in _strings(f"{where}.namespaces", table.get("namespaces", []), ("acl", i, "namespaces")):
            repos += [ns, f"{ns}/**"]
        if not repos:
            raise ConfigError(f"{where}: name the repositories (globs) or namespaces it applies to", ("acl", i))
        actions = _strings(f"{where}.actions", table.get("actions", []), ("acl", i, "actions"))
        if "*" in actions:
            actions = list(_ACL_ACTIONS)
        bad = [a for a in actions if a not in _ACL_ACTIONS]
        if bad or not actions:
            raise ConfigError(f"{where}.actions: expected some of {', '.join(_ACL_ACTIONS)}", ("acl", i, "actions"))
        users = _strings(f"{where}.users", table.get("users", []), ("acl", i, "users"))
        groups = _strings(f"{where}.groups", table.get("groups", []), ("acl", i, "groups"))
        if not users and not groups:
            raise ConfigError(f"{where}: name the users or groups it applies to", ("acl", i))
        rules.append(AclRule(repos, actions, users, groups))
    return rules


def _groups(raw: Any) -> dict[str, list[str]]:
    if not isinstance(raw, dict):
        raise ConfigError("groups: expected a table of group = [user, ...]", ("groups",))
    return {name: _strings(f"groups.{name}", members, ("groups", name)) for name, members in raw.items()}


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
        raise ConfigError("namespaces: expected a table of namespaces", ("namespaces",))
    out = {}
    for ns, table in raw.items():
        if not _NAMESPACE.fullmatch(ns):
            raise ConfigError(f"namespaces: {ns!r} is not a namespace (one repository-name component)",
                              ("namespaces", ns))
        if not isinstance(table, dict):
            raise ConfigError(f"namespaces.{ns}: expected a table", ("namespaces", ns))
        unknown = set(table) - _NAMESPACE_KEYS
        if unknown:
            bad_key = sorted(unknown)[0]
            raise ConfigError(f"namespaces.{ns}: unknown option {bad_key!r}", ("namespaces", ns, bad_key))
        for name in ("org_secret", "keys"):
            if name in table and not isinstance(table[name], str):
                raise ConfigError(f"namespaces.{ns}.{name}: expected a file name", ("namespaces", ns, name))
        secret, keys = table.get("org_secret"), table.get("keys")
        private = table.get("private", [])
        if isinstance(private, str):
            private = [private]
        if not isinstance(private, list) or not all(isinstance(p, str) and p for p in private):
            raise ConfigError(f"namespaces.{ns}.private: expected a list of repository globs",
                              ("namespaces", ns, "private"))
        layers = table.get("layers", "org")
        if layers not in ("org", "auto"):
            raise ConfigError(f"namespaces.{ns}.layers: expected \"org\" or \"auto\"", ("namespaces", ns, "layers"))
        nsc = NamespaceConfig(org_secret=(base / Path(secret).expanduser()) if secret else None,
                              keys=(base / Path(keys).expanduser()) if keys else None,
                              private=private, layers=layers)
        if nsc.private and not (nsc.org_secret and nsc.keys):
            raise ConfigError(f"namespaces.{ns}: private repositories need both org_secret and keys",
                              ("namespaces", ns, "private"))
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


_INT_SECONDS = {"dns_ttl"}  # whole seconds; the float options are seconds too
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
        if kind is float and isinstance(value, str):  # every float option is seconds: "15m" reads
            return parse_duration(value)
        if name in _INT_SECONDS and isinstance(value, str):
            seconds = parse_duration(value)
            if seconds != int(seconds):
                raise ValueError(value)
            return int(seconds)
        return kind(value)
    except (TypeError, ValueError):  # ConfigError too: parse_duration's
        raise ConfigError(f"{name}: invalid value {value!r}", (name,)) from None


def load(config_file: Path | None = None, env: Mapping[str, str] | None = None,
         overrides: Mapping[str, Any] | None = None) -> Config:
    values: dict[str, Any] = {}
    if config_file is not None:
        try:
            text = config_file.read_text(encoding="utf-8")
            raw = tomllib.loads(text)
        except FileNotFoundError:
            raise ConfigError(f"config file {config_file} not found") from None
        except UnicodeDecodeError:
            raise ConfigError(f"config file {config_file}: not UTF-8 text") from None
        except tomllib.TOMLDecodeError as exc:
            where = re.search(r"at line (\d+)", str(exc))
            line = int(where.group(1)) if where else len(text.rstrip("\n").split("\n"))  # at end of document
            raise ConfigError(f"config file {config_file}: {exc}", line=line) from None
        for key, value in raw.items():
            name = key.replace("-", "_")
            if name not in _FIELDS:
                raise ConfigError(f"config file {config_file}: unknown option {key!r}", (key,))
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
        raise ConfigError("token_lifetime, refresh_token_lifetime: must be at least 60 seconds",
                          ("token_lifetime",) if config.token_lifetime < 60 else ("refresh_token_lifetime",))
    if not config.auth_service or '"' in config.auth_service or '"' in config.auth_realm:
        raise ConfigError("auth_service, auth_realm: must be non-empty and free of double quotes")
    if config.body_timeout <= 0 or config.header_timeout <= 0:
        raise ConfigError("body_timeout, header_timeout: must be positive")
    if config.max_uploads_per_client < 0 or config.max_uploads < 0:
        raise ConfigError("max_uploads_per_client, max_uploads: must be 0 (no limit) or a positive number")
    if not 0 < config.max_manifest_size <= 4 * 1024 * 1024:
        raise ConfigError("max_manifest_size: expected 1 to 4194304 bytes (4 MiB, what pullers accept)")
    if config.background_encryption_min < 0:
        raise ConfigError("background_encryption_min: must be 0 (every blob) or a positive number of bytes")
    if config.max_blob_size < 0:
        raise ConfigError("max_blob_size: must be 0 (no limit) or a positive number of bytes")
    if config.upload_ttl < 60:
        raise ConfigError("upload_ttl: must be at least 60 seconds")
    if config.chunk_min_length < 0:
        raise ConfigError("chunk_min_length: must not be negative")
    if config.graceful_timeout < 0:
        raise ConfigError("graceful_timeout: must not be negative")
    _check_federation(config)
    _check_operations(config)
    return config


def _check_operations(config: Config) -> None:
    if config.gc_interval < 0 or 0 < config.gc_interval < 60:
        raise ConfigError("gc_interval: must be 0 (off) or at least 60 seconds")
    if config.gc_grace < 0:
        raise ConfigError("gc_grace: must not be negative")
    config.log_format = config.log_format.strip().lower()
    if config.log_format not in ("text", "json"):
        raise ConfigError(f"log_format: expected \"text\" or \"json\", got {config.log_format!r}")
    if config.metrics_listen:
        try:
            split_listen(config.metrics_listen)
        except ConfigError:
            raise ConfigError(f"metrics_listen: expected HOST:PORT, got {config.metrics_listen!r}") from None
        if config.metrics_listen == config.listen:
            raise ConfigError("metrics_listen: must differ from listen (empty: serve /metrics on listen)")


_DURATION = re.compile(r"^\s*(\d+(?:\.\d+)?)\s*(ms|s|m|h|d|w)?\s*$")
_UNIT = {"ms": 0.001, "s": 1.0, "m": 60.0, "h": 3600.0, "d": 86400.0, "w": 7 * 86400.0}


def parse_duration(text: str) -> float:
    """Seconds in `text`: a number, optionally with a unit (`90`, `30s`, `15m`, `2h`, `7d`, `1w`).
    One spelling for every duration a user types (`gc --grace`, durations in TOML as strings)."""
    m = _DURATION.match(str(text))
    if not m:
        raise ConfigError(f"expected a duration such as 90, 30s, 15m, 2h or 7d, got {text!r}")
    seconds = float(m.group(1)) * _UNIT[m.group(2) or "s"]
    if not math.isfinite(seconds):  # float("9" * 400) is inf
        raise ConfigError(f"duration {text[:40]!r} is too long")
    return seconds


MIN_TREE_SIZE = 128 * 1024
"""The least `max_tree_size` (but 0): room for a root directory and a 64 KiB descriptor."""


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
    if config.max_tree_size != 0 and config.max_tree_size < MIN_TREE_SIZE:
        raise ConfigError(f"max_tree_size: expected 0 (no limit) or at least {MIN_TREE_SIZE} bytes "
                          "(a tree's descriptor alone may take 64 KiB)")
    if not 1 <= config.dns_ttl <= 86400:
        raise ConfigError("dns_ttl: expected 1 to 86400 seconds")
    if config.tree_lifetime < 60:
        raise ConfigError("tree_lifetime: must be at least 60 seconds")
    bad = [g for g in config.federate if not re.fullmatch(r"[a-z0-9*?.\-_\[\]]+", g)]
    if bad:
        raise ConfigError(f"federate: {bad[0]!r} is not a domain or domain glob")


# -- where an option sits in the file (tomllib gives no positions) -----------------
def error_line(error: ConfigError, text: str) -> int | None:
    """The line of `text` (the TOML file that was loaded) that `error` is about:
    a syntax error's own line, else the line of the option it names (its
    `key`, or the option its message starts with), else its table's header."""
    if error.line is not None:
        return error.line
    key = error.key
    if key is None:
        m = re.match(r"(\w+)", str(error))
        key = (m.group(1),) if m and m.group(1) in _FIELDS else None
    return key_line(text, key) if key else None


def key_line(text: str, key: tuple[str | int, ...]) -> int | None:
    """The line where `key` (("gc_grace",), ("namespaces", "example.com", "keys"),
    ("acl", 1, "actions")) is set in the TOML `text`; for a key the file does
    not set, the line of the nearest enclosing table that it does. Top-level
    names match with `-` or `_`. None when no part of the path is there."""
    try:
        positions = _Positions(text).scan()
    except (IndexError, ValueError):  # not TOML after all: use what was found
        return None
    normal = {(_top(str(path[0])),) + path[1:]: line for path, line in positions.items()}
    wanted = (_top(str(key[0])),) + tuple(key[1:])
    for end in range(len(wanted), 0, -1):
        if wanted[:end] in normal:
            return normal[wanted[:end]]
    return None


def _top(name: str) -> str:
    return name.replace("-", "_")


class _Positions:
    """A TOML reader that keeps only where each key is defined: path → line.
    Tables `[a."b.c"]`, array tables `[[acl]]` (path ("acl", n)), dotted and
    quoted keys, inline tables and arrays of them (("acl", n, "users")),
    strings of every kind and comments. Only run on text tomllib accepted."""

    _BARE = re.compile(r"[A-Za-z0-9_-]+")

    def __init__(self, text: str) -> None:
        self.s, self.i, self.line = text, 0, 1
        self.found: dict[tuple[str | int, ...], int] = {}
        self.arrays: dict[tuple[str | int, ...], int] = {}

    def scan(self) -> dict[tuple[str | int, ...], int]:
        table: tuple[str | int, ...] = ()
        while True:
            self._blank(newlines=True)
            if self.i >= len(self.s):
                return self.found
            line = self.line
            if self.s.startswith("[[", self.i):
                self.i += 2
                path = self._key()
                self._expect("]]")
                n = self.arrays[path] = self.arrays.get(path, -1) + 1
                table = path + (n,)
            elif self.s[self.i] == "[":
                self.i += 1
                table = self._key()
                self._expect("]")
            else:
                self._pair(table)
                continue
            for end in range(1, len(table)):
                self.found.setdefault(table[:end], line)
            self.found[table] = line

    def _pair(self, table: tuple[str | int, ...]) -> None:
        line = self.line
        path = table + self._key()
        for end in range(len(table) + 1, len(path) + 1):
            self.found.setdefault(path[:end], line)
        self.found[path] = line
        self._expect("=")
        self._value(path)

    def _value(self, path: tuple[str | int, ...]) -> None:
        self._blank()
        s, c = self.s, self.s[self.i]
        if s.startswith(('"""', "'''"), self.i):
            end = s.index(s[self.i:self.i + 3], self.i + 3)
            while s.startswith(s[self.i], end + 3):  # up to two quotes may end the content
                end += 1
            self._skip_to(end + 3)
        elif c in "\"'":
            self._string()
        elif c == "[":
            self.i += 1
            n = 0
            while True:
                self._blank(newlines=True, commas=True)
                if s[self.i] == "]":
                    self.i += 1
                    return
                self._value(path + (n,))
                n += 1
        elif c == "{":
            self.i += 1
            while True:
                self._blank(commas=True)
                if s[self.i] == "}":
                    self.i += 1
                    return
                self._pair(path)
        else:  # number, boolean, date: up to what ends a value
            m = re.compile(r"[^,\]}\s#]+").match(s, self.i)
            if not m:
                raise ValueError(f"no value at line {self.line}")
            self.i = m.end()

    def _key(self) -> tuple[str, ...]:
        parts = []
        while True:
            self._blank()
            if self.s[self.i] in "\"'":
                parts.append(self._string())
            else:
                m = self._BARE.match(self.s, self.i)
                if not m:
                    raise ValueError(f"no key at line {self.line}")
                parts.append(m.group())
                self.i = m.end()
            self._blank()
            if self.s[self.i] != ".":
                return tuple(parts)
            self.i += 1

    def _string(self) -> str:
        quote, start = self.s[self.i], self.i + 1
        end = start
        while self.s[end] != quote:
            end += 2 if quote == '"' and self.s[end] == "\\" else 1
        self.i = end + 1
        raw = self.s[start:end]
        if quote == "'" or "\\" not in raw:
            return raw
        try:
            return json.loads(f'"{raw}"')
        except ValueError:
            return raw

    def _blank(self, newlines: bool = False, commas: bool = False) -> None:
        s = self.s
        while self.i < len(s):
            c = s[self.i]
            if c in " \t\r" or (commas and c == ","):
                self.i += 1
            elif c == "#":
                end = s.find("\n", self.i)
                self.i = end if end >= 0 else len(s)
            elif c == "\n" and newlines:
                self.i += 1
                self.line += 1
            else:
                return

    def _expect(self, token: str) -> None:
        self._blank()
        if not self.s.startswith(token, self.i):
            raise ValueError(f"expected {token!r} at line {self.line}")
        self.i += len(token)

    def _skip_to(self, end: int) -> None:
        self.line += self.s.count("\n", self.i, end)
        self.i = end
