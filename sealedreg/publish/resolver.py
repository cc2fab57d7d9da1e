"""Finding another organisation's namespace (docs/format.md §8 "Federation"):
DNS → DNSLink → (IPNS) → the tree root, with the keys and discovery hints
that `_sealedreg.<ns>` publishes beside it.

What this returns is only a claim: DNS is not authenticated. The caller
verifies the tree's descriptor against the signing key found here before
reading anything else, and the descriptor's `seq` and `expires` stop
replays; an `/ipns/` link must also be the name of that same signing key,
so a spoofed record cannot point at a key of its own.
"""

from __future__ import annotations

import asyncio
import time
from dataclasses import dataclass
from datetime import datetime, timezone
from typing import Awaitable, Callable, Generic, Hashable, TypeVar

from sealedreg.crypto.keys import KeyError_, PublicKeys
from sealedreg.publish.dns import DnsError, DnsNotFound, query_txt
from sealedreg.publish.dnslink import PREFIX as DNSLINK_PREFIX, DnsLink, DnsLinkError, parse_dnslink
from sealedreg.publish.ipns import IpnsError, IpnsRecord, ipns_name, parse_record
from sealedreg.publish.records import RECORD_PREFIX, Hints, hints_from_records, keys_from_records
from sealedreg.storage.base import StorageError
from sealedreg.storage.cid import CID, CIDError
from sealedreg.storage.remote import GatewayFetcher

K = TypeVar("K", bound=Hashable)
V = TypeVar("V")


class ResolveError(LookupError):
    """A namespace that cannot be pulled; `transient` says whether trying again
    later may help (a server down) or not (no such namespace, a forgery)."""

    transient = False


class NamespaceNotFound(ResolveError):
    """DNS says there is no such namespace (or it publishes no tree)."""


class NamespaceUnavailable(ResolveError):
    """DNS, a gateway or an IPFS node did not answer in time."""

    transient = True


class NamespaceRefused(ResolveError):
    """What was found does not verify: a spoofed or stale record, a bad signature."""


@dataclass(frozen=True)
class Discovery:
    """What DNS (and IPNS) say about a namespace, before any verification of the tree."""

    namespace: str
    link: DnsLink
    root: str
    keys: PublicKeys
    hints: Hints
    ttl: float  # seconds the answer may be cached (before the cache's floor and ceiling)
    ipns_sequence: int | None = None


class TtlCache(Generic[K, V]):
    """Answers kept for their TTL, clamped to [floor, ceiling]: a floor so a
    zero TTL cannot turn every pull into DNS traffic, a ceiling so a huge
    TTL cannot pin a stale tree."""

    SWEEP_AT = 1024

    def __init__(self, floor: float, ceiling: float, clock: Callable[[], float] = time.monotonic) -> None:
        self.floor, self.ceiling = floor, max(floor, ceiling)
        self._clock = clock
        self._entries: dict[K, tuple[float, V]] = {}

    def get(self, key: K) -> V | None:
        entry = self._entries.get(key)
        if entry is None:
            return None
        if self._clock() >= entry[0]:
            del self._entries[key]
            return None
        return entry[1]

    def put(self, key: K, value: V, ttl: float) -> float:
        """Keep `value`; returns the seconds it will be kept."""
        kept = min(max(ttl, self.floor), self.ceiling)
        now = self._clock()
        if len(self._entries) >= self.SWEEP_AT:  # drop what expired, so the cache holds only live answers
            self._entries = {k: e for k, e in self._entries.items() if e[0] > now}
        self._entries[key] = (now + kept, value)
        return kept


KuboNameResolver = Callable[[str], Awaitable[str]]


class Resolver:
    """DNS and IPNS lookups for namespaces, each bounded by `timeout`."""

    def __init__(self, nameserver: str | None, timeout: float, fetcher: GatewayFetcher | None = None,
                 kubo_resolve: KuboNameResolver | None = None) -> None:
        self.nameserver = nameserver
        self.timeout = timeout
        self.fetcher = fetcher
        self.kubo_resolve = kubo_resolve

    async def discover(self, namespace: str, now: float | None = None) -> Discovery:
        link_answer, keys_answer = await asyncio.gather(
            query_txt(DNSLINK_PREFIX + namespace, self.nameserver, self.timeout),
            query_txt(RECORD_PREFIX + namespace, self.nameserver, self.timeout), return_exceptions=True)
        for answer, name in ((link_answer, DNSLINK_PREFIX), (keys_answer, RECORD_PREFIX)):
            if isinstance(answer, DnsNotFound):
                raise NamespaceNotFound(f"{namespace} is not published: {answer}")
            if isinstance(answer, DnsError):
                raise NamespaceUnavailable(f"{namespace}: {answer}")
            if isinstance(answer, BaseException):
                raise answer
        assert not isinstance(link_answer, BaseException) and not isinstance(keys_answer, BaseException)
        try:
            link = parse_dnslink(namespace, link_answer.values)
        except DnsLinkError as exc:
            raise NamespaceNotFound(str(exc)) from None
        try:
            keys = keys_from_records(namespace, keys_answer.values)
        except KeyError_ as exc:
            raise NamespaceRefused(f"{namespace}: {exc}; its tree cannot be verified") from None
        hints = hints_from_records(keys_answer.values)
        ttl = float(min(link_answer.ttl, keys_answer.ttl))
        sequence = None
        if link.namespace == "ipfs":
            root = _root_cid(namespace, link.identifier)
        else:
            root, sequence, record_ttl = await self._follow_ipns(namespace, link.identifier, keys, hints, now)
            ttl = min(ttl, record_ttl)
        return Discovery(namespace, link, root, keys, hints, ttl, sequence)

    async def _record_from(self, gateway: str, name: str, when: datetime, problems: list[str]) -> IpnsRecord | None:
        """The verified IPNS record `gateway` serves for `name`, or None (the reason in `problems`)."""
        assert self.fetcher is not None
        try:
            raw = await asyncio.wait_for(self.fetcher.ipns_record(name, [gateway]), self.timeout)
            return parse_record(raw, name, when)
        except IpnsError as exc:
            problems.append(f"{gateway}'s record: {exc}")
        except (StorageError, asyncio.TimeoutError) as exc:
            problems.append(f"gateways: {str(exc) or 'no answer in time'}")
        return None

    async def _follow_ipns(self, namespace: str, name: str, keys: PublicKeys, hints: Hints,
                           now: float | None) -> tuple[str, int | None, float]:
        """(root, record sequence, record TTL) of the IPNS name a DNSLink names:
        the signed record from a `gateway=` hint first, then Kubo."""
        if name != ipns_name(keys.sig):
            raise NamespaceRefused(f"{DNSLINK_PREFIX}{namespace} names /ipns/{name}, which is not the IPNS name "
                                   f"of the signing key in {RECORD_PREFIX}{namespace}")
        problems: list[str] = []
        if self.fetcher is not None and hints.gateways:
            when = datetime.fromtimestamp(time.time() if now is None else now, timezone.utc)
            records = await asyncio.gather(*(self._record_from(gateway, name, when, problems)
                                             for gateway in hints.gateways))
            valid = [r for r in records if r is not None]
            if valid:  # every hint asked, the newest valid record wins: a stale gateway cannot hold it back
                record = max(valid, key=lambda r: r.sequence)
                return _ipfs_root(namespace, record.value), record.sequence, record.ttl / 1e9
        if self.kubo_resolve is not None:
            try:
                path = await asyncio.wait_for(self.kubo_resolve(name), self.timeout)
                return _ipfs_root(namespace, path), None, 60.0
            except (StorageError, asyncio.TimeoutError) as exc:
                problems.append(f"IPFS: {str(exc) or 'no answer in time'}")
        if not problems:
            problems.append("no gateway hint and no IPFS node to ask")
        raise NamespaceUnavailable(f"{namespace}: cannot resolve /ipns/{name}: " + "; ".join(problems))


def _ipfs_root(namespace: str, path: str) -> str:
    parts = path.split("/")
    if len(parts) != 3 or parts[:2] != ["", "ipfs"]:
        raise NamespaceRefused(f"{namespace}: the IPNS record points at {path!r}, not at a tree root /ipfs/<cid>")
    return _root_cid(namespace, parts[2])


def _root_cid(namespace: str, text: str) -> str:
    try:
        return str(CID.parse(text))
    except CIDError as exc:
        raise NamespaceRefused(f"{namespace}: {text!r} is not a CID: {exc}") from None
