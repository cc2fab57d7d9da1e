"""Publishing a namespace (docs/format.md §8 "Publishing"): build and sign its
tree, then make DNS (and optionally IPNS) point at it, so other
organisations' registries can find it.

* `_dnslink.<ns>`   TXT `dnslink=/ipfs/<root>`, or `dnslink=/ipns/<name>` with IPNS
* `_sealedreg.<ns>` TXT `v=sealedreg1; sig=…; box=…; ipfsnode=…; gateway=…`

DNS is changed by one RFC 2136 update, TSIG-signed, whose prerequisite is
the records as read just before (compare-and-swap): two publishers racing
cannot silently overwrite each other. A `_dnslink` that points at a tree
this registry never published is refused unless forced, so a second
registry configured for the same namespace cannot take it over by
accident. With IPNS the DNS records stop changing: each publish signs a
new IPNS record (sequence = the tree's seq, validity = the descriptor's
expiry), hands it to Kubo and serves it at `/ipns/<name>`.
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass
from datetime import datetime, timezone
from pathlib import Path
from typing import Awaitable, Callable

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.dnslink import PREFIX as DNSLINK_PREFIX, DnsLink, DnsLinkError, parse_dnslink, record_value
from sealedreg.publish.dnsupdate import DnsConflict, current_txt, load_tsig_key, replace_txt
from sealedreg.publish.ipns import ipns_name, make_record
from sealedreg.publish.records import RECORD_PREFIX, Hints, keys_record
from sealedreg.registry.errors import NameInvalid
from sealedreg.storage.kubo_rpc import KuboClient

log = logging.getLogger("sealedreg.publish")


@dataclass(frozen=True)
class PublishTarget:
    """Where and how a namespace is published."""

    dns_server: str | None = None  # RFC 2136 target "HOST:PORT"; None with print_only
    tsig_key: Path | None = None
    ipns: bool = False
    ttl: int = 300
    print_only: bool = False  # show the records for a manual DNS setup; change nothing in DNS
    force: bool = False  # take over a _dnslink this registry did not write
    timeout: float = 10.0


@dataclass(frozen=True)
class Announce:
    """What `_sealedreg` tells others about where to fetch."""

    public_url: str = ""  # gateway= (the registry's own URL; /ipfs/ is its trustless gateway)
    ipfsnode: str = ""  # ipfsnode=; empty: the Kubo node's own address


async def hints_of(announce: Announce, kubo: KuboClient | None) -> Hints:
    node = announce.ipfsnode
    if not node and kubo is not None:
        node = _pick_address(await kubo.node_id())
    return Hints((node,) if node else (), (announce.public_url.rstrip("/"),) if announce.public_url else ())


def _pick_address(identity: dict) -> str:
    """A TCP address of the node, with its /p2p/ id: the one a peer can dial
    without a transport it might lack (QUIC, WebTransport)."""
    peer = identity.get("ID", "")
    tcp = [addr for addr in identity.get("Addresses") or []
           if "/tcp/" in addr and "/ws" not in addr and "/p2p-circuit" not in addr]
    # a routable address first: loopback is only useful to pullers on this machine
    tcp.sort(key=lambda addr: addr.startswith(("/ip4/127.", "/ip6/::1/")))
    if not tcp:
        return ""
    return tcp[0] if "/p2p/" in tcp[0] else f"{tcp[0]}/p2p/{peer}"


def records_for(namespace: str, keys: OrgKeys, link: DnsLink, hints: Hints) -> dict[str, list[str]]:
    return {DNSLINK_PREFIX + namespace: [record_value(link)],
            RECORD_PREFIX + namespace: [keys_record(keys.public, hints)]}


def ipns_record(keys: OrgKeys, root: str, seq: int, expires: int, ttl: int) -> tuple[str, bytes]:
    """(name, signed record) pointing the org key's IPNS name at `root` until `expires`."""
    validity = datetime.fromtimestamp(expires, timezone.utc)
    return ipns_name(keys.sig.verify_key), make_record(keys.sig, f"/ipfs/{root}", seq, validity, ttl * 10**9)


async def update_dns(target: PublishTarget, namespace: str, records: dict[str, list[str]],
                     ours: set[str]) -> str:
    """Make DNS hold `records`; "unchanged" if it already did, else "updated".
    `ours` are the DNSLink values this registry has published before."""
    assert target.dns_server is not None and target.tsig_key is not None
    key = load_tsig_key(target.tsig_key)
    current = {name: await current_txt(target.dns_server, name, target.timeout) for name in records}
    if all(sorted(current[n] or []) == sorted(v) for n, v in records.items()):
        return "unchanged"
    link_name = DNSLINK_PREFIX + namespace
    existing = current[link_name]
    if existing and not target.force:
        try:
            value = str(parse_dnslink(namespace, existing))
        except DnsLinkError:
            value = None
        if value not in ours and value != records[link_name][0].partition("=")[2]:
            raise DnsConflict(f"{link_name} points at {value or existing!r}, which this registry did not "
                              "publish: another publisher owns it (use --force to take it over)")
    await replace_txt(target.dns_server, key, records, current, target.ttl, target.timeout)
    return "updated"


def require_keys(namespace: str, keys: OrgKeys | None) -> OrgKeys:
    if keys is None:
        raise NameInvalid(f"{namespace} has no keys configured ([namespaces.\"{namespace}\"] keys): "
                          "others could not verify its tree")
    return keys



class AutoPublisher:
    """`publish = "auto"`: publish a namespace once pushes to it have been
    quiet for `delay` seconds (a push of many blobs and a manifest becomes
    one publish, not one per request), and every namespace again well before
    its descriptor expires. A failed publish is logged and retried on the
    next change or refresh; it never fails the push that caused it."""

    def __init__(self, publish: Callable[[str], Awaitable[dict]], namespaces: list[str], delay: float,
                 refresh: float) -> None:
        self._publish = publish
        self._namespaces = list(namespaces)
        self._delay = delay
        self._refresh = refresh
        self._dirty: set[str] = set(namespaces)  # publish everything once at start
        self._wake = asyncio.Event()
        self._wake.set()

    def touch(self, namespace: str) -> None:
        if namespace in self._namespaces:
            self._dirty.add(namespace)
            self._wake.set()

    async def run(self) -> None:
        while True:
            try:
                await asyncio.wait_for(self._wake.wait(), self._refresh)
            except asyncio.TimeoutError:
                self._dirty.update(self._namespaces)
            self._wake.clear()
            while True:  # debounce: wait until a full `delay` passes with no new change
                try:
                    await asyncio.wait_for(self._wake.wait(), self._delay)
                    self._wake.clear()
                except asyncio.TimeoutError:
                    break
            dirty, self._dirty = self._dirty, set()
            for namespace in sorted(dirty):
                try:
                    result = await self._publish(namespace)
                    log.info("published %s: tree %s (seq %s), dns %s", namespace, result.get("root"),
                             result.get("seq"), result.get("dns"))
                except Exception as exc:  # noqa: BLE001 - logged; the next change or refresh retries
                    log.error("automatic publish of %s failed: %s", namespace, exc)
