"""RFC 2136 updates against a real Knot DNS: create, read back, compare-and-swap,
conflicts and key problems leave the zone unchanged, a dead server fails fast."""

from __future__ import annotations

import asyncio
import socket
import time
from pathlib import Path
from typing import Iterator

import dns.asyncquery
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.update
import pytest

from sealedreg.publish.dnsupdate import (DnsConflict, DnsUpdateError, TsigKey, current_txt, load_tsig_key,
                                         replace_txt, zone_of)
from tests.helpers.knot import KnotServer, run_knot
from tests.helpers.server import free_port

pytestmark = pytest.mark.integration

LINK = "_dnslink.acme.test"
KEYS = "_sealedreg.acme.test"


def run(coro):
    return asyncio.run(coro)


@pytest.fixture
def knot(tmp_path: Path) -> Iterator[KnotServer]:
    with run_knot(tmp_path, ["acme.test", "other.test"]) as server:
        yield server


def test_create_read_back_and_compare_and_swap(knot):
    key = load_tsig_key(knot.key_file)
    assert key.name == knot.key.name and key.secret == knot.key.secret
    assert run(current_txt(knot.address, LINK)) is None  # NXDOMAIN
    assert run(current_txt(knot.address, "ns1.acme.test")) is None  # NODATA

    long = "dnslink=/ipfs/" + "b" * 600  # 3 character-strings on the wire, one value back
    run(replace_txt(knot.address, key, {LINK: [long, "second"], KEYS: ["v=sealedreg1; sig=ed25519:x"]},
                    {LINK: None, KEYS: None}, ttl=120))
    assert sorted(run(current_txt(knot.address, LINK))) == sorted([long, "second"])
    assert run(current_txt(knot.address, KEYS)) == ["v=sealedreg1; sig=ed25519:x"]

    read = run(current_txt(knot.address, LINK))
    run(replace_txt(knot.address, key, {LINK: ["dnslink=/ipfs/new"]}, {LINK: read}, ttl=60))
    assert run(current_txt(knot.address, LINK)) == ["dnslink=/ipfs/new"]
    assert run(current_txt(knot.address, KEYS)) == ["v=sealedreg1; sig=ed25519:x"]  # untouched


def test_stale_expected_is_a_conflict_and_changes_nothing(knot):
    key = knot.key
    run(replace_txt(knot.address, key, {LINK: ["one", "two"], KEYS: ["k"]}, {LINK: None, KEYS: None}, ttl=60))
    stale = [
        {LINK: ["one"], KEYS: ["k"]},          # a subset is not the RRset
        {LINK: ["one", "two", "three"], KEYS: ["k"]},
        {LINK: ["one", "two"], KEYS: ["other"]},  # one of two names moved: nothing is written
        {LINK: None, KEYS: ["k"]},
    ]
    for expected in stale:
        with pytest.raises(DnsConflict, match="changed since they were read .*; publish again"):
            run(replace_txt(knot.address, key, {LINK: ["new"], KEYS: ["new"]}, expected, ttl=60))
        assert sorted(run(current_txt(knot.address, LINK))) == ["one", "two"]
        assert run(current_txt(knot.address, KEYS)) == ["k"]


def test_two_racing_publishers_one_wins(knot):
    async def race():
        return await asyncio.gather(
            *(replace_txt(knot.address, knot.key, {LINK: [f"dnslink=/ipfs/{who}"]}, {LINK: None}, ttl=60)
              for who in ("a", "b")), return_exceptions=True)

    outcomes = run(race())
    assert sorted(type(o).__name__ for o in outcomes) == ["DnsConflict", "NoneType"]
    winner = "ab"[outcomes.index(None)]
    assert run(current_txt(knot.address, LINK)) == [f"dnslink=/ipfs/{winner}"]


def test_expected_values_match_whatever_the_server_split_them_into(knot):
    """A record written by hand as several character-strings is the same logical value."""
    message = dns.update.UpdateMessage("acme.test.", keyring=knot.key.to_dnspython())
    split = dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, [b"dnslink=", b"/ipfs/x"])
    message.add(LINK + ".", 60, split)
    host, port = knot.address.split(":")
    assert run(dns.asyncquery.tcp(message, host, port=int(port), timeout=5)).rcode() == 0
    assert run(current_txt(knot.address, LINK)) == ["dnslink=/ipfs/x"]
    run(replace_txt(knot.address, knot.key, {LINK: ["dnslink=/ipfs/y"]}, {LINK: ["dnslink=/ipfs/x"]}, ttl=60))
    assert run(current_txt(knot.address, LINK)) == ["dnslink=/ipfs/y"]


def test_a_cname_at_the_name_is_refused_not_published_beside(knot):
    """TXT records added next to a CNAME would be ignored by the server and
    bypassed by resolvers: publishing must say so instead of reporting success."""
    message = dns.update.UpdateMessage("acme.test.", keyring=knot.key.to_dnspython())
    message.add(LINK + ".", 60, "CNAME", "_dnslink.elsewhere.acme.test.")
    host, port = knot.address.split(":")
    assert run(dns.asyncquery.tcp(message, host, port=int(port), timeout=5)).rcode() == 0
    with pytest.raises(DnsUpdateError, match="is a CNAME to _dnslink.elsewhere.acme.test"):
        run(current_txt(knot.address, LINK))
    with pytest.raises(DnsUpdateError, match="CNAME"):
        run(replace_txt(knot.address, knot.key, {LINK: ["dnslink=/ipfs/x"]}, {LINK: None}, ttl=60))


def test_wrong_or_unknown_key_is_refused_and_changes_nothing(knot):
    run(replace_txt(knot.address, knot.key, {LINK: ["kept"]}, {LINK: None}, ttl=60))
    wrong_secret = TsigKey(knot.key.name, knot.key.algorithm, b"\x00" * 32)
    with pytest.raises(DnsUpdateError, match="BADSIG") as info:
        run(replace_txt(knot.address, wrong_secret, {LINK: ["evil"]}, {LINK: ["kept"]}, ttl=60))
    assert not isinstance(info.value, DnsConflict)
    unknown = TsigKey("nobody", "hmac-sha256", knot.key.secret)
    with pytest.raises(DnsUpdateError, match="BADKEY"):
        run(replace_txt(knot.address, unknown, {LINK: ["evil"]}, {LINK: ["kept"]}, ttl=60))
    other_algorithm = TsigKey(knot.key.name, "hmac-sha512", knot.key.secret)
    with pytest.raises(DnsUpdateError, match="BADKEY|BADSIG"):
        run(replace_txt(knot.address, other_algorithm, {LINK: ["evil"]}, {LINK: ["kept"]}, ttl=60))
    assert run(current_txt(knot.address, LINK)) == ["kept"]


def test_zone_of(knot):
    assert run(zone_of(knot.address, LINK)) == "acme.test."
    assert run(zone_of(knot.address, "acme.test")) == "acme.test."
    assert run(zone_of(knot.address, "deep.below._dnslink.other.test.")) == "other.test."
    with pytest.raises(DnsUpdateError, match="authoritative for no zone"):
        run(zone_of(knot.address, "_dnslink.example.com"))
    with pytest.raises(DnsUpdateError, match="authoritative"):
        run(current_txt(knot.address, "_dnslink.example.com"))
    with pytest.raises(DnsUpdateError, match="one update changes one zone"):
        run(replace_txt(knot.address, knot.key, {LINK: ["x"], "_dnslink.other.test": ["x"]},
                        {LINK: None, "_dnslink.other.test": None}, ttl=60))
    assert run(current_txt(knot.address, LINK)) is None


def test_server_down_or_silent_fails_within_the_timeout(tmp_path):
    with run_knot(tmp_path, ["acme.test"]) as server:
        pass  # stopped: its port now refuses connections
    start = time.monotonic()
    for call in (current_txt(server.address, LINK, timeout=1), zone_of(server.address, LINK, timeout=1),
                 replace_txt(server.address, server.key, {LINK: ["x"]}, {LINK: None}, ttl=60, timeout=1)):
        with pytest.raises(DnsUpdateError, match=server.address):
            run(call)
    assert time.monotonic() - start < 3

    with socket.socket() as silent:  # accepts TCP (the kernel's backlog), never answers
        port = free_port()
        silent.bind(("127.0.0.1", port))
        silent.listen(8)
        start = time.monotonic()
        with pytest.raises(DnsUpdateError, match="did not answer within 0.5s"):
            run(replace_txt(f"127.0.0.1:{port}", server.key, {LINK: ["x"]}, {LINK: None}, ttl=60, timeout=0.5))
        assert time.monotonic() - start < 2
