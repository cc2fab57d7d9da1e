"""Publishing a namespace: the records it writes, the hints it announces, the
IPNS record it signs, and the DNS update's refusals (DNS replaced by fakes)."""

from __future__ import annotations

import asyncio
from datetime import datetime, timezone
from pathlib import Path

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.dnslink import DnsLink, parse_dnslink
from sealedreg.publish.dnsupdate import DnsConflict
from sealedreg.publish.ipns import ipns_name, parse_record
from sealedreg.publish.records import Hints, hints_from_records, keys_from_records
from sealedreg.registry import publishing
from sealedreg.registry.errors import NameInvalid
from sealedreg.registry.publishing import (
    Announce, PublishTarget, _pick_address, hints_of, ipns_record, records_for, require_keys, update_dns,
)
from sealedreg.storage.cid import CID, DAG_PB

NS = "acme.test"
KEYS = OrgKeys.generate(NS)
PEER = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
NODE = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
ROOT = str(CID.of(b"root 1", DAG_PB))
ROOT2 = str(CID.of(b"root 2", DAG_PB))
FOREIGN = str(CID.of(b"someone else's root", DAG_PB))
LINK_NAME, KEYS_NAME = f"_dnslink.{NS}", f"_sealedreg.{NS}"


def run(coro):
    return asyncio.run(coro)


# -- records ---------------------------------------------------------------------
def test_records_for_an_ipfs_link():
    records = records_for(NS, KEYS, DnsLink("ipfs", ROOT), Hints((NODE,), ("https://reg.acme.test",)))
    assert set(records) == {LINK_NAME, KEYS_NAME}
    assert records[LINK_NAME] == [f"dnslink=/ipfs/{ROOT}"]
    assert parse_dnslink(NS, records[LINK_NAME]) == DnsLink("ipfs", ROOT)
    assert len(records[KEYS_NAME]) == 1
    keys = keys_from_records(NS, records[KEYS_NAME])
    assert bytes(keys.sig) == bytes(KEYS.sig.verify_key) and bytes(keys.box) == bytes(KEYS.box.public_key)
    assert hints_from_records(records[KEYS_NAME]) == Hints((NODE,), ("https://reg.acme.test",))


def test_records_for_an_ipns_link():
    name = ipns_name(KEYS.sig.verify_key)
    records = records_for(NS, KEYS, DnsLink("ipns", name), Hints())
    assert records[LINK_NAME] == [f"dnslink=/ipns/{name}"]
    assert hints_from_records(records[KEYS_NAME]) == Hints()


# -- hints -----------------------------------------------------------------------
@pytest.mark.parametrize("identity, expected", [
    ({"ID": PEER, "Addresses": [f"/ip4/127.0.0.1/udp/4001/quic-v1/p2p/{PEER}", f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"]},
     f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"),
    ({"ID": PEER, "Addresses": ["/ip4/10.0.0.1/tcp/4001"]}, f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER}"),
    ({"ID": PEER, "Addresses": [f"/ip4/1.2.3.4/tcp/4002/ws/p2p/{PEER}", f"/ip4/1.2.3.4/tcp/4001/p2p/{PEER}"]},
     f"/ip4/1.2.3.4/tcp/4001/p2p/{PEER}"),
    ({"ID": PEER, "Addresses": [f"/ip4/1.2.3.4/tcp/4001/p2p/RELAY/p2p-circuit/p2p/{PEER}", "/ip6/::1/tcp/4001"]},
     f"/ip6/::1/tcp/4001/p2p/{PEER}"),
    ({"ID": PEER, "Addresses": [f"/ip4/1.2.3.4/udp/4001/quic-v1/p2p/{PEER}"]}, ""),
    ({"ID": PEER, "Addresses": None}, ""),
    ({"ID": PEER}, ""),
    ({}, ""),
])
def test_pick_address_prefers_plain_tcp_and_names_the_peer(identity, expected):
    assert _pick_address(identity) == expected


def test_pick_address_takes_the_first_tcp_address():
    identity = {"ID": PEER, "Addresses": ["/ip4/10.0.0.1/tcp/1", "/ip4/10.0.0.2/tcp/2"]}
    assert _pick_address(identity) == f"/ip4/10.0.0.1/tcp/1/p2p/{PEER}"


class FakeKubo:
    def __init__(self, identity: dict) -> None:
        self.identity = identity
        self.calls = 0

    async def node_id(self) -> dict:
        self.calls += 1
        return self.identity


def test_hints_of_an_announce():
    assert run(hints_of(Announce(), None)) == Hints()
    assert run(hints_of(Announce("https://reg.acme.test/", NODE), None)) == Hints((NODE,), ("https://reg.acme.test",))


def test_hints_of_asks_kubo_only_without_an_announced_node():
    kubo = FakeKubo({"ID": PEER, "Addresses": ["/ip4/10.0.0.1/tcp/4001"]})
    assert run(hints_of(Announce("http://r.test"), kubo)) == Hints((f"/ip4/10.0.0.1/tcp/4001/p2p/{PEER}",),
                                                                  ("http://r.test",))
    assert kubo.calls == 1
    assert run(hints_of(Announce("", NODE), kubo)) == Hints((NODE,), ())
    assert kubo.calls == 1
    assert run(hints_of(Announce(), FakeKubo({"ID": PEER, "Addresses": []}))) == Hints()


# -- IPNS ------------------------------------------------------------------------
def test_ipns_record_parses_back():
    expires = 4_000_000_000
    name, raw = ipns_record(KEYS, ROOT, 12, expires, 300)
    assert name == ipns_name(KEYS.sig.verify_key)
    record = parse_record(raw, name, datetime(2030, 1, 1, tzinfo=timezone.utc))
    assert record.value == f"/ipfs/{ROOT}" and record.sequence == 12 and record.ttl == 300 * 10**9
    assert record.validity == datetime.fromtimestamp(expires, timezone.utc)


def test_ipns_record_expires_with_the_tree():
    expires = 2_000_000_000
    name, raw = ipns_record(KEYS, ROOT, 1, expires, 60)
    parse_record(raw, name, datetime.fromtimestamp(expires - 1, timezone.utc))
    with pytest.raises(ValueError, match="expired"):
        parse_record(raw, name, datetime.fromtimestamp(expires + 1, timezone.utc))


def test_ipns_record_of_another_name_is_refused():
    _, raw = ipns_record(KEYS, ROOT, 1, 4_000_000_000, 60)
    with pytest.raises(ValueError):
        parse_record(raw, ipns_name(OrgKeys.generate("x").sig.verify_key), datetime(2030, 1, 1, tzinfo=timezone.utc))


def test_require_keys():
    assert require_keys(NS, KEYS) is KEYS
    with pytest.raises(NameInvalid, match="no keys configured"):
        require_keys(NS, None)


# -- update_dns --------------------------------------------------------------------
class FakeDns:
    """current_txt / replace_txt / load_tsig_key over a dict of name -> values."""

    def __init__(self, held: dict[str, list[str] | None]) -> None:
        self.held = dict(held)
        self.replaced: list[tuple] = []
        self.keys_loaded: list[Path] = []

    async def current_txt(self, server: str, name: str, timeout: float = 5.0):
        return self.held.get(name)

    async def replace_txt(self, server, key, records, expected, ttl, timeout=5.0) -> None:
        self.replaced.append((server, key, records, expected, ttl, timeout))
        self.held.update(records)

    def load_tsig_key(self, path: Path):
        self.keys_loaded.append(path)
        return "the-key"


@pytest.fixture
def fake_dns(monkeypatch):
    def install(held: dict) -> FakeDns:
        fake = FakeDns(held)
        monkeypatch.setattr(publishing, "current_txt", fake.current_txt)
        monkeypatch.setattr(publishing, "replace_txt", fake.replace_txt)
        monkeypatch.setattr(publishing, "load_tsig_key", fake.load_tsig_key)
        return fake

    return install


TARGET = PublishTarget("127.0.0.1:5353", Path("/keys/tsig.key"), ttl=120, timeout=3.0)


def records(root: str = ROOT) -> dict[str, list[str]]:
    return records_for(NS, KEYS, DnsLink("ipfs", root), Hints())


def test_a_first_publish_updates(fake_dns):
    fake = fake_dns({})
    assert run(update_dns(TARGET, NS, records(), set())) == "updated"
    ((server, key, written, expected, ttl, timeout),) = fake.replaced
    assert (server, key, ttl, timeout) == ("127.0.0.1:5353", "the-key", 120, 3.0)
    assert written == records() and expected == {LINK_NAME: None, KEYS_NAME: None}
    assert fake.keys_loaded == [Path("/keys/tsig.key")]


def test_unchanged_when_dns_already_holds_the_records(fake_dns):
    fake = fake_dns(records())
    assert run(update_dns(TARGET, NS, records(), set())) == "unchanged"
    assert fake.replaced == []


def test_unchanged_compares_values_as_sets_in_any_order(fake_dns):
    want = {LINK_NAME: ["b", "a"]}
    fake = fake_dns({LINK_NAME: ["a", "b"]})
    assert run(update_dns(TARGET, NS, want, set())) == "unchanged"
    assert fake.replaced == []


def test_moving_from_a_root_we_published(fake_dns):
    fake = fake_dns(records(ROOT))
    assert run(update_dns(TARGET, NS, records(ROOT2), {f"/ipfs/{ROOT}"})) == "updated"
    assert fake.replaced[0][3] == records(ROOT)  # compare-and-swap against what was read
    assert fake.held[LINK_NAME] == [f"dnslink=/ipfs/{ROOT2}"]


def test_refused_when_dnslink_points_at_a_root_not_ours(fake_dns):
    fake = fake_dns({LINK_NAME: [f"dnslink=/ipfs/{FOREIGN}"]})
    with pytest.raises(DnsConflict, match=f"points at '/ipfs/{FOREIGN}'.*--force"):
        run(update_dns(TARGET, NS, records(ROOT2), {f"/ipfs/{ROOT}"}))
    assert fake.replaced == []


def test_refused_when_dnslink_is_junk(fake_dns):
    fake = fake_dns({LINK_NAME: ["hello"]})
    with pytest.raises(DnsConflict, match="hello"):
        run(update_dns(TARGET, NS, records(), set()))
    assert fake.replaced == []


def test_refused_when_dnslink_is_ambiguous(fake_dns):
    fake_dns({LINK_NAME: [f"dnslink=/ipfs/{ROOT}", f"dnslink=/ipfs/{FOREIGN}"]})
    with pytest.raises(DnsConflict):
        run(update_dns(TARGET, NS, records(ROOT2), {f"/ipfs/{ROOT}"}))


def test_forced_takes_over(fake_dns):
    fake = fake_dns({LINK_NAME: [f"dnslink=/ipfs/{FOREIGN}"], KEYS_NAME: ["v=sealedreg1; old"]})
    forced = PublishTarget("127.0.0.1:5353", Path("/k"), force=True)
    assert run(update_dns(forced, NS, records(ROOT2), set())) == "updated"
    assert fake.replaced[0][3] == {LINK_NAME: [f"dnslink=/ipfs/{FOREIGN}"], KEYS_NAME: ["v=sealedreg1; old"]}
    assert fake.held[LINK_NAME] == [f"dnslink=/ipfs/{ROOT2}"]


def test_the_same_link_with_only_the_keys_record_changed_is_ours(fake_dns):
    fake = fake_dns({LINK_NAME: [f"dnslink=/ipfs/{ROOT}"], KEYS_NAME: ["v=sealedreg1; stale"]})
    assert run(update_dns(TARGET, NS, records(ROOT), set())) == "updated"
    assert fake.held[KEYS_NAME] == records()[KEYS_NAME]


def test_an_ipns_link_we_own_is_ours(fake_dns):
    name = ipns_name(KEYS.sig.verify_key)
    fake_dns({LINK_NAME: [f"dnslink=/ipns/{name}"]})
    # moving back from IPNS to a plain root: the IPNS name is ours
    assert run(update_dns(TARGET, NS, records(ROOT), {f"/ipns/{name}"})) == "updated"


def test_only_the_dnslink_record_is_guarded(fake_dns):
    fake = fake_dns({KEYS_NAME: ["v=sealedreg1; sig=someone-else"]})
    assert run(update_dns(TARGET, NS, records(), set())) == "updated"
    assert fake.replaced[0][3] == {LINK_NAME: None, KEYS_NAME: ["v=sealedreg1; sig=someone-else"]}
