"""Finding a namespace: the TTL cache, and Resolver.discover over DNSLink,
`_sealedreg` keys and IPNS (a gateway's signed record, then Kubo), with DNS
replaced by a table."""

from __future__ import annotations

import asyncio
from datetime import datetime, timedelta, timezone

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish import resolver as resolver_module
from sealedreg.publish.dns import DnsError, DnsNotFound, TxtAnswer
from sealedreg.publish.dnslink import DnsLink
from sealedreg.publish.ipns import ipns_name, make_record
from sealedreg.publish.records import Hints, keys_record
from sealedreg.publish.resolver import (
    Discovery, NamespaceNotFound, NamespaceRefused, NamespaceUnavailable, ResolveError, Resolver, TtlCache,
)
from sealedreg.storage.base import ContentMissing, StorageUnavailable
from sealedreg.storage.cid import CID, DAG_PB, RAW

NS = "acme.test"
KEYS = OrgKeys.generate(NS)
OTHER = OrgKeys.generate("other.test")
ROOT = str(CID.of(b"the tree root", DAG_PB))
ROOT2 = str(CID.of(b"another root", DAG_PB))
NAME = ipns_name(KEYS.sig.verify_key)
GW = "http://gw.acme.test"
PEER = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
NODE = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
NOW = 1_900_000_000.0
NOW_DT = datetime.fromtimestamp(NOW, timezone.utc)


def run(coro):
    return asyncio.run(coro)


# -- TtlCache ----------------------------------------------------------------------
class Clock:
    def __init__(self, t: float = 1000.0) -> None:
        self.t = t

    def __call__(self) -> float:
        return self.t


def test_cache_keeps_for_the_ttl_within_floor_and_ceiling():
    clock = Clock()
    cache: TtlCache[str, int] = TtlCache(5, 100, clock)
    assert cache.put("a", 1, 30) == 30
    assert cache.put("zero", 2, 0) == 5  # floor
    assert cache.put("negative", 3, -10) == 5
    assert cache.put("huge", 4, 10**9) == 100  # ceiling
    assert cache.get("a") == 1 and cache.get("zero") == 2 and cache.get("huge") == 4


def test_cache_entries_expire_at_their_time():
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(5, 100, clock)
    cache.put("a", "x", 30)
    clock.t += 29.999
    assert cache.get("a") == "x"
    clock.t += 0.001  # exactly at expiry: gone
    assert cache.get("a") is None
    assert cache.get("a") is None  # and stays gone
    cache.put("a", "y", 30)
    assert cache.get("a") == "y"


def test_cache_floor_applies_to_expiry():
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(5, 100, clock)
    cache.put("a", "x", 0)
    clock.t += 4.9
    assert cache.get("a") == "x"
    clock.t += 0.1
    assert cache.get("a") is None


def test_cache_ceiling_below_floor_is_raised_to_the_floor():
    cache: TtlCache[str, str] = TtlCache(10, 1, Clock())
    assert (cache.floor, cache.ceiling) == (10, 10)
    assert cache.put("a", "x", 1000) == 10 and cache.put("b", "y", 0) == 10


def test_cache_put_replaces_and_restarts_the_clock():
    clock = Clock()
    cache: TtlCache[str, str] = TtlCache(1, 100, clock)
    cache.put("a", "old", 10)
    clock.t += 8
    cache.put("a", "new", 10)
    clock.t += 8
    assert cache.get("a") == "new"


def test_cache_uses_a_monotonic_clock_by_default():
    cache: TtlCache[str, str] = TtlCache(60, 120)
    cache.put("a", "x", 60)
    assert cache.get("a") == "x" and cache.get("b") is None


# -- discover ---------------------------------------------------------------------
class FakeDns:
    """`query_txt` over a table: name -> TxtAnswer, or an exception to raise."""

    def __init__(self, table: dict) -> None:
        self.table = table
        self.asked: list[tuple[str, str | None, float]] = []

    async def __call__(self, name: str, nameserver: str | None = None, timeout: float = 5.0) -> TxtAnswer:
        self.asked.append((name, nameserver, timeout))
        found = self.table.get(name)
        if found is None:
            raise DnsNotFound(f"{name} does not exist (NXDOMAIN)")
        if isinstance(found, BaseException):
            raise found
        return found


class FakeFetcher:
    """The IPNS half of a GatewayFetcher: a record (or an exception) per call."""

    def __init__(self, answer) -> None:
        self.answer = answer
        self.asked: list[tuple[str, tuple[str, ...]]] = []

    async def ipns_record(self, name, gateways):
        self.asked.append((name, tuple(gateways)))
        if isinstance(self.answer, BaseException):
            raise self.answer
        return self.answer


def table(link: str = f"dnslink=/ipfs/{ROOT}", keys: OrgKeys = KEYS, hints: Hints = Hints((NODE,), (GW,)),
          link_ttl: int = 300, keys_ttl: int = 600) -> dict:
    return {f"_dnslink.{NS}": TxtAnswer([link, "unrelated"], link_ttl),
            f"_sealedreg.{NS}": TxtAnswer(["other", keys_record(keys.public, hints)], keys_ttl)}


@pytest.fixture
def fake_dns(monkeypatch):
    def install(entries: dict) -> FakeDns:
        fake = FakeDns(entries)
        monkeypatch.setattr(resolver_module, "query_txt", fake)
        return fake

    return install


def record(root: str = ROOT, seq: int = 7, key=KEYS, valid_for: timedelta = timedelta(days=1),
           ttl_s: int = 120) -> bytes:
    return make_record(key.sig, f"/ipfs/{root}", seq, NOW_DT + valid_for, ttl_s * 10**9)


def test_dnslink_to_ipfs(fake_dns):
    fake = fake_dns(table())
    found = run(Resolver("127.0.0.1:5353", 2.5).discover(NS))
    assert found == Discovery(NS, DnsLink("ipfs", ROOT), ROOT, found.keys, Hints((NODE,), (GW,)), 300.0, None)
    assert bytes(found.keys.sig) == bytes(KEYS.sig.verify_key) and found.keys.name == NS
    assert sorted(fake.asked) == [(f"_dnslink.{NS}", "127.0.0.1:5353", 2.5), (f"_sealedreg.{NS}", "127.0.0.1:5353", 2.5)]


@pytest.mark.parametrize("link_ttl, keys_ttl, expected", [(300, 600, 300.0), (600, 30, 30.0), (0, 0, 0.0)])
def test_ttl_is_the_lowest_answer(fake_dns, link_ttl, keys_ttl, expected):
    fake_dns(table(link_ttl=link_ttl, keys_ttl=keys_ttl))
    assert run(Resolver(None, 1).discover(NS)).ttl == expected


def test_a_cidv0_root_is_accepted(fake_dns):
    v0 = str(CID(0, DAG_PB, CID.of(b"v0", DAG_PB).digest))
    assert v0.startswith("Qm")
    fake_dns(table(link=f"dnslink=/ipfs/{v0}"))
    assert run(Resolver(None, 1).discover(NS)).root == v0


@pytest.mark.parametrize("bad", ["notacid", "QmShort", ROOT.upper(), "bafy" + "a" * 200, "z" + ROOT[1:]])
def test_a_link_that_is_not_a_cid_is_refused(fake_dns, bad):
    fake_dns(table(link=f"dnslink=/ipfs/{bad}"))
    with pytest.raises(NamespaceRefused, match="is not a CID"):
        run(Resolver(None, 1).discover(NS))


def test_no_dnslink_record_is_not_found(fake_dns):
    entries = table()
    del entries[f"_dnslink.{NS}"]
    fake_dns(entries)
    with pytest.raises(NamespaceNotFound, match="not published") as e:
        run(Resolver(None, 1).discover(NS))
    assert not e.value.transient


def test_no_keys_record_is_not_found(fake_dns):
    entries = table()
    del entries[f"_sealedreg.{NS}"]
    fake_dns(entries)
    with pytest.raises(NamespaceNotFound):
        run(Resolver(None, 1).discover(NS))


@pytest.mark.parametrize("which", ["_dnslink", "_sealedreg"])
def test_a_dns_failure_is_unavailable(fake_dns, which):
    entries = table()
    entries[f"{which}.{NS}"] = DnsError("timed out")
    fake_dns(entries)
    with pytest.raises(NamespaceUnavailable, match="timed out") as e:
        run(Resolver(None, 1).discover(NS))
    assert e.value.transient and isinstance(e.value, ResolveError)


def test_an_unexpected_exception_is_not_swallowed(fake_dns):
    entries = table()
    entries[f"_sealedreg.{NS}"] = RuntimeError("boom")
    fake_dns(entries)
    with pytest.raises(RuntimeError, match="boom"):
        run(Resolver(None, 1).discover(NS))


@pytest.mark.parametrize("values", [["junk"], ["dnslink=/foo/bar"], [f"dnslink=/ipfs/{ROOT}", f"dnslink=/ipfs/{ROOT2}"],
                                    [f"dnslink=/ipfs/{ROOT}/sub"]])
def test_no_usable_dnslink_is_not_found(fake_dns, values):
    entries = table()
    entries[f"_dnslink.{NS}"] = TxtAnswer(values, 60)
    fake_dns(entries)
    with pytest.raises(NamespaceNotFound, match="_dnslink"):
        run(Resolver(None, 1).discover(NS))


@pytest.mark.parametrize("values", [["junk"], ["v=sealedreg1; gateway=http://x.test"], ["v=sealedreg1; sig=ed25519:AAAA; box=x25519:AAAA"]])
def test_missing_or_bad_keys_are_refused(fake_dns, values):
    entries = table()
    entries[f"_sealedreg.{NS}"] = TxtAnswer(values, 60)
    fake_dns(entries)
    with pytest.raises(NamespaceRefused, match="cannot be verified") as e:
        run(Resolver(None, 1).discover(NS))
    assert not e.value.transient


# -- /ipns/ links ---------------------------------------------------------------
def test_ipns_name_of_another_key_is_refused(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{ipns_name(OTHER.sig.verify_key)}"))
    fetcher = FakeFetcher(record())
    with pytest.raises(NamespaceRefused, match="not the IPNS name"):
        run(Resolver(None, 1, fetcher, kubo_resolve=None).discover(NS, now=NOW))
    assert fetcher.asked == []  # nothing fetched for a name that is not the key's


def test_ipns_domain_name_is_refused(fake_dns):
    fake_dns(table(link="dnslink=/ipns/other.test"))
    with pytest.raises(NamespaceRefused, match="not the IPNS name"):
        run(Resolver(None, 1, FakeFetcher(record())).discover(NS, now=NOW))


def test_ipns_through_the_gateway_record(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", link_ttl=300, keys_ttl=600))
    fetcher = FakeFetcher(record(seq=9, ttl_s=120))
    found = run(Resolver(None, 1, fetcher).discover(NS, now=NOW))
    assert found.link == DnsLink("ipns", NAME) and found.root == ROOT and found.ipns_sequence == 9
    assert found.ttl == 120.0  # the record's TTL is lower than DNS's
    assert fetcher.asked == [(NAME, (GW,))]


def test_ipns_ttl_is_dns_when_lower(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", link_ttl=20))
    found = run(Resolver(None, 1, FakeFetcher(record(ttl_s=3600))).discover(NS, now=NOW))
    assert found.ttl == 20.0


def test_an_expired_gateway_record_falls_back_to_kubo(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    asked = []

    async def kubo_resolve(name: str) -> str:
        asked.append(name)
        return f"/ipfs/{ROOT2}"

    found = run(Resolver(None, 1, FakeFetcher(record(valid_for=timedelta(seconds=-1))), kubo_resolve)
                .discover(NS, now=NOW))
    assert found.root == ROOT2 and found.ipns_sequence is None and found.ttl == 60.0 and asked == [NAME]


def test_an_expired_gateway_record_without_kubo_is_unavailable(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    with pytest.raises(NamespaceUnavailable, match="expired"):
        run(Resolver(None, 1, FakeFetcher(record(valid_for=timedelta(seconds=-1)))).discover(NS, now=NOW))


def test_the_record_is_checked_at_the_time_given(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    raw = record(valid_for=timedelta(hours=1))
    assert run(Resolver(None, 1, FakeFetcher(raw)).discover(NS, now=NOW + 3599)).root == ROOT
    with pytest.raises(NamespaceUnavailable, match="expired"):
        run(Resolver(None, 1, FakeFetcher(raw)).discover(NS, now=NOW + 3601))


def test_a_record_signed_by_another_key_is_not_used(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    with pytest.raises(NamespaceUnavailable, match="gw.acme.test's record: signatureV2"):
        run(Resolver(None, 1, FakeFetcher(record(key=OTHER))).discover(NS, now=NOW))


def test_a_record_of_another_key_falls_back_to_kubo(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))

    async def kubo_resolve(name: str) -> str:
        return f"/ipfs/{ROOT2}"

    assert run(Resolver(None, 1, FakeFetcher(record(key=OTHER)), kubo_resolve).discover(NS, now=NOW)).root == ROOT2


def test_garbage_from_the_gateway_is_not_used(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    with pytest.raises(NamespaceUnavailable, match="record: malformed"):
        run(Resolver(None, 1, FakeFetcher(b"\x00garbage")).discover(NS, now=NOW))


@pytest.mark.parametrize("error", [ContentMissing("404"), StorageUnavailable("down")])
def test_a_gateway_failure_falls_back_to_kubo(fake_dns, error):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))

    async def kubo_resolve(name: str) -> str:
        return f"/ipfs/{ROOT2}"

    assert run(Resolver(None, 1, FakeFetcher(error), kubo_resolve).discover(NS, now=NOW)).root == ROOT2
    with pytest.raises(NamespaceUnavailable, match="gateways"):
        run(Resolver(None, 1, FakeFetcher(error)).discover(NS, now=NOW))


def test_without_gateway_hints_kubo_is_asked(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", hints=Hints((NODE,), ())))
    fetcher = FakeFetcher(record())

    async def kubo_resolve(name: str) -> str:
        return f"/ipfs/{ROOT2}"

    assert run(Resolver(None, 1, fetcher, kubo_resolve).discover(NS, now=NOW)).root == ROOT2
    assert fetcher.asked == []


def test_nothing_to_ask_is_unavailable(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", hints=Hints()))
    with pytest.raises(NamespaceUnavailable, match="no gateway hint and no IPFS node"):
        run(Resolver(None, 1, FakeFetcher(record())).discover(NS, now=NOW))
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    with pytest.raises(NamespaceUnavailable, match="no gateway hint and no IPFS node"):
        run(Resolver(None, 1, None).discover(NS, now=NOW))


def test_kubo_failure_is_unavailable(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", hints=Hints()))

    async def kubo_resolve(name: str) -> str:
        raise StorageUnavailable("kubo is down")

    with pytest.raises(NamespaceUnavailable, match="kubo is down"):
        run(Resolver(None, 1, None, kubo_resolve).discover(NS, now=NOW))


def test_a_slow_gateway_and_kubo_are_bounded_and_reported_as_no_answer_in_time(fake_dns):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))

    class Never:
        async def ipns_record(self, name, gateways):
            await asyncio.Event().wait()

    async def never(name: str) -> str:
        await asyncio.Event().wait()
        return ""

    with pytest.raises(NamespaceUnavailable, match="gateways: no answer in time; IPFS: no answer in time"):
        run(Resolver(None, 0.05, Never(), never).discover(NS, now=NOW))


@pytest.mark.parametrize("value", [f"/ipns/{NAME}", f"/ipfs/{ROOT}/sub"])
def test_a_record_not_pointing_at_a_root_is_refused(fake_dns, value):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    raw = make_record(KEYS.sig, value, 1, NOW_DT + timedelta(days=1), 10**9)
    with pytest.raises(NamespaceRefused, match="not at a tree root"):
        run(Resolver(None, 1, FakeFetcher(raw)).discover(NS, now=NOW))


@pytest.mark.parametrize("path", ["", "/ipfs/", f"/ipns/{NAME}", f"ipfs/{ROOT}", f"/ipfs/{ROOT}/x", "/ipfs/notacid"])
def test_kubo_answers_that_are_not_a_root_are_refused(fake_dns, path):
    fake_dns(table(link=f"dnslink=/ipns/{NAME}", hints=Hints()))

    async def kubo_resolve(name: str) -> str:
        return path

    with pytest.raises(NamespaceRefused):
        run(Resolver(None, 1, None, kubo_resolve).discover(NS, now=NOW))


def test_a_raw_root_from_a_record_is_accepted(fake_dns):
    raw_root = str(CID.of(b"leaf", RAW))
    fake_dns(table(link=f"dnslink=/ipns/{NAME}"))
    assert run(Resolver(None, 1, FakeFetcher(record(root=raw_root))).discover(NS, now=NOW)).root == raw_root


def test_every_gateway_is_asked_and_the_newest_valid_record_wins(fake_dns):
    stale, newer = "http://stale.acme.test", "http://newer.acme.test"
    entries = table(link=f"dnslink=/ipns/{NAME}")
    entries[f"_sealedreg.{NS}"] = TxtAnswer([keys_record(KEYS.public, Hints((), (gw,))) for gw in (stale, newer)], 600)
    fake_dns(entries)

    class PerGateway:
        async def ipns_record(self, name, gateways):
            return {stale: record(ROOT, seq=3), newer: record(ROOT2, seq=9)}[gateways[0]]

    found = run(Resolver(None, 1, PerGateway()).discover(NS, now=NOW))
    assert (found.root, found.ipns_sequence) == (ROOT2, 9)


def test_expired_answers_are_swept_once_the_cache_is_large():
    clock = Clock()
    cache: TtlCache[int, str] = TtlCache(1, 100, clock)
    for i in range(TtlCache.SWEEP_AT):
        cache.put(i, "old", 5)
    clock.t += 10
    cache.put(-1, "new", 5)
    assert len(cache._entries) == 1 and cache.get(-1) == "new"
