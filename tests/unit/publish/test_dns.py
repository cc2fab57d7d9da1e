"""Reading TXT records: nameserver syntax, turning DNS answers into values or
errors, and real lookups against a tiny DNS server on loopback (UDP, with the
TCP retry a truncated answer needs, and one that never answers)."""

from __future__ import annotations

import asyncio
import selectors
import socket
import struct
import threading
from typing import Callable

import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdatatype
import dns.rrset
import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.dns import (
    DnsError, DnsNotFound, TxtAnswer, _from_message, lookup_txt, org_keys, query_txt, split_nameserver,
)
from sealedreg.publish.records import keys_record

NAME = "_dnslink.acme.test"


def run(coro):
    return asyncio.run(coro)


# -- split_nameserver --------------------------------------------------------------
@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("ns.acme.test:53", ("ns.acme.test", 53)),
    ("ns.acme.test", ("ns.acme.test", 53)),
    ("127.0.0.1", ("127.0.0.1", 53)),
    ("[::1]:5353", ("::1", 5353)),
    ("[::1]", ("::1", 53)),
    ("[fe80::1]:1", ("fe80::1", 1)),
    ("::1", ("::1", 53)),  # a bare IPv6 address
    ("2001:db8::53", ("2001:db8::53", 53)),
    ("h:65535", ("h", 65535)),
])
def test_split_nameserver(text, expected):
    assert split_nameserver(text) == expected


@pytest.mark.parametrize("text", [
    "", ":53", "host:", "host:0", "host:65536", "host:99999", "host:-1", "host:abc", "host:5 3",
    "[::1]:x", "[::1]:0", "[]:53", "[::1]:53:53", "[::1]:+53",
])
def test_bad_nameservers_are_refused(text):
    with pytest.raises(DnsError, match="expected HOST:PORT"):
        split_nameserver(text)


def test_a_bad_nameserver_fails_the_lookup_as_a_dns_error():
    with pytest.raises(DnsError, match="expected HOST:PORT") as e:
        run(query_txt(NAME, "host:0", timeout=0.5))
    assert not isinstance(e.value, DnsNotFound)
    with pytest.raises(DnsError, match="expected HOST:PORT"):
        lookup_txt(NAME, "host:0", timeout=0.5)


# -- _from_message -----------------------------------------------------------------
def response(*rrsets: dns.rrset.RRset, rcode: int = dns.rcode.NOERROR, name: str = NAME) -> dns.message.Message:
    answer = dns.message.make_response(dns.message.make_query(name, dns.rdatatype.TXT))
    answer.set_rcode(rcode)
    answer.answer.extend(rrsets)
    return answer


def txt(name: str, ttl: int, *values: str) -> dns.rrset.RRset:
    return dns.rrset.from_text(dns.name.from_text(name), ttl, "IN", "TXT", *values)


def test_nxdomain_is_not_found():
    with pytest.raises(DnsNotFound, match="NXDOMAIN"):
        _from_message(NAME, response(rcode=dns.rcode.NXDOMAIN))


@pytest.mark.parametrize("rcode", [dns.rcode.SERVFAIL, dns.rcode.REFUSED, dns.rcode.FORMERR, dns.rcode.NOTIMP])
def test_other_failures_are_errors_not_answers(rcode):
    with pytest.raises(DnsError, match=dns.rcode.to_text(rcode)) as e:
        _from_message(NAME, response(rcode=rcode))
    assert not isinstance(e.value, DnsNotFound)


def test_nodata_is_not_found():
    with pytest.raises(DnsNotFound, match="no TXT records"):
        _from_message(NAME, response())


def test_strings_of_one_record_are_joined_and_records_kept_apart():
    answer = _from_message(NAME, response(txt(NAME, 300, '"dnslink=/ipfs/" "bafy"', '"other"')))
    assert sorted(answer.values) == ["dnslink=/ipfs/bafy", "other"] and answer.ttl == 300


def test_ttl_is_the_lowest_of_the_rrsets():
    answer = _from_message(NAME, response(txt(NAME, 300, '"a"'), txt(NAME, 42, '"b"'), txt(NAME, 7200, '"c"')))
    assert answer == TxtAnswer(["a", "b", "c"], 42)


def test_records_of_other_names_and_types_are_ignored():
    other = txt("_dnslink.evil.test", 1, '"dnslink=/ipfs/evil"')
    a_record = dns.rrset.from_text(dns.name.from_text(NAME), 1, "IN", "A", "127.0.0.1")
    assert _from_message(NAME, response(other, a_record, txt(NAME, 60, '"mine"'))) == TxtAnswer(["mine"], 60)
    with pytest.raises(DnsNotFound):
        _from_message(NAME, response(other, a_record))


def test_names_compare_without_case_or_trailing_dot():
    assert _from_message(NAME + ".", response(txt(NAME.upper() + ".", 5, '"x"'))).values == ["x"]


def test_undecodable_bytes_are_replaced_not_raised():
    answer = _from_message(NAME, response(txt(NAME, 5, '"\\255abc"')))
    assert answer.values == ["\ufffdabc"]


def test_a_cname_in_the_answer_is_followed():
    target = "_dnslink.acme.hosting.test"
    cname = dns.rrset.from_text(dns.name.from_text(NAME), 300, "IN", "CNAME", target + ".")
    answer = _from_message(NAME, response(cname, txt(target, 60, '"dnslink=/ipfs/bafy"')))
    assert answer.values == ["dnslink=/ipfs/bafy"] and answer.ttl == 60


# -- a DNS server on loopback -------------------------------------------------------
Answerer = Callable[[dns.message.Message, bool], "dns.message.Message | None"]


class TinyDns:
    """A UDP and TCP DNS server on 127.0.0.1 (one port for both) run by a
    thread; `answer(query, over_tcp)` builds each response (None: no answer)."""

    def __init__(self, answer: Answerer) -> None:
        self.answer = answer
        self.queries: list[tuple[str, bool]] = []  # (qname, over_tcp)
        for _ in range(20):
            udp = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
            udp.bind(("127.0.0.1", 0))
            port = udp.getsockname()[1]
            tcp = socket.socket(socket.AF_INET, socket.SOCK_STREAM)
            try:
                tcp.bind(("127.0.0.1", port))
            except OSError:
                udp.close()
                tcp.close()
                continue
            break
        else:  # pragma: no cover
            raise RuntimeError("no free port for UDP and TCP")
        tcp.listen(8)
        self.udp, self.tcp, self.port = udp, tcp, port
        self._stop = threading.Event()
        self._thread = threading.Thread(target=self._serve, daemon=True)
        self._thread.start()

    @property
    def address(self) -> str:
        return f"127.0.0.1:{self.port}"

    def _respond(self, wire: bytes, over_tcp: bool) -> bytes | None:
        query = dns.message.from_wire(wire)
        self.queries.append((query.question[0].name.to_text(), over_tcp))
        reply = self.answer(query, over_tcp)
        return None if reply is None else reply.to_wire()

    def _serve(self) -> None:
        with selectors.DefaultSelector() as sel:
            sel.register(self.udp, selectors.EVENT_READ)
            sel.register(self.tcp, selectors.EVENT_READ)
            while not self._stop.is_set():
                for key, _ in sel.select(timeout=0.05):
                    if key.fileobj is self.udp:
                        wire, peer = self.udp.recvfrom(65535)
                        out = self._respond(wire, False)
                        if out is not None:
                            self.udp.sendto(out, peer)
                    else:
                        conn, _ = self.tcp.accept()
                        with conn:
                            conn.settimeout(5)
                            size = struct.unpack("!H", _recv_exact(conn, 2))[0]
                            out = self._respond(_recv_exact(conn, size), True)
                            if out is not None:
                                conn.sendall(struct.pack("!H", len(out)) + out)

    def close(self) -> None:
        self._stop.set()
        self._thread.join(timeout=10)
        self.udp.close()
        self.tcp.close()


def _recv_exact(conn: socket.socket, n: int) -> bytes:
    data = b""
    while len(data) < n:
        chunk = conn.recv(n - len(data))
        if not chunk:
            raise ConnectionError("closed")
        data += chunk
    return data


ZONE = {
    "_dnslink.acme.test.": [(120, '"dnslink=/ipfs/" "bafyroot"'), (120, '"unrelated"')],
    "_sealedreg.acme.test.": [(30, '"v=sealedreg1; x=y"')],
}


def zone_answer(query: dns.message.Message, over_tcp: bool) -> dns.message.Message:
    reply = dns.message.make_response(query)
    name = query.question[0].name.to_text()
    if name not in ZONE:
        reply.set_rcode(dns.rcode.NXDOMAIN)
        return reply
    for ttl, value in ZONE[name]:
        reply.answer.append(dns.rrset.from_text(name, ttl, "IN", "TXT", value))
    return reply


@pytest.fixture
def server():
    made: list[TinyDns] = []

    def start(answer: Answerer = zone_answer) -> TinyDns:
        made.append(TinyDns(answer))
        return made[-1]

    yield start
    for s in made:
        s.close()


def test_query_over_udp(server):
    dns_server = server()
    answer = run(query_txt("_dnslink.acme.test", dns_server.address, timeout=5))
    assert sorted(answer.values) == ["dnslink=/ipfs/bafyroot", "unrelated"] and answer.ttl == 120
    assert dns_server.queries == [("_dnslink.acme.test.", False)]


def test_nxdomain_from_a_server_is_not_found(server):
    with pytest.raises(DnsNotFound):
        run(query_txt("_dnslink.nowhere.test", server().address, timeout=5))


def test_servfail_from_a_server_is_an_error(server):
    def servfail(query, over_tcp):
        reply = dns.message.make_response(query)
        reply.set_rcode(dns.rcode.SERVFAIL)
        return reply

    with pytest.raises(DnsError, match="SERVFAIL") as e:
        run(query_txt(NAME, server(servfail).address, timeout=5))
    assert not isinstance(e.value, DnsNotFound)


def test_a_truncated_udp_answer_is_retried_over_tcp(server):
    def truncating(query, over_tcp):
        if over_tcp:
            return zone_answer(query, True)
        reply = dns.message.make_response(query)
        reply.flags |= dns.flags.TC
        return reply

    dns_server = server(truncating)
    answer = run(query_txt("_dnslink.acme.test", dns_server.address, timeout=5))
    assert sorted(answer.values) == ["dnslink=/ipfs/bafyroot", "unrelated"]
    assert dns_server.queries == [("_dnslink.acme.test.", False), ("_dnslink.acme.test.", True)]
    assert sorted(lookup_txt("_dnslink.acme.test", dns_server.address, timeout=5)) == \
        ["dnslink=/ipfs/bafyroot", "unrelated"]
    assert [tcp for _, tcp in dns_server.queries[2:]] == [False, True]


def test_a_big_answer_only_tcp_can_carry(server):
    values = [f'"{"v" * 200}{i:03d}"' for i in range(30)]  # ~6 KB: over any UDP payload size used

    def big(query, over_tcp):
        reply = dns.message.make_response(query)
        if not over_tcp:
            reply.flags |= dns.flags.TC
            return reply
        reply.answer.append(dns.rrset.from_text(query.question[0].name, 60, "IN", "TXT", *values))
        return reply

    answer = run(query_txt(NAME, server(big).address, timeout=5))
    assert len(answer.values) == 30 and all(len(v) == 203 for v in answer.values)


def test_a_server_that_never_answers_is_an_error_within_the_timeout():
    silent = socket.socket(socket.AF_INET, socket.SOCK_DGRAM)
    silent.bind(("127.0.0.1", 0))
    try:
        address = f"127.0.0.1:{silent.getsockname()[1]}"
        with pytest.raises(DnsError, match="failed") as e:
            run(query_txt(NAME, address, timeout=0.5))
        assert not isinstance(e.value, DnsNotFound)
        with pytest.raises(DnsError, match="failed"):
            lookup_txt(NAME, address, timeout=0.5)
    finally:
        silent.close()


def test_a_server_that_drops_the_answer_is_an_error(server):
    with pytest.raises(DnsError) as e:
        run(query_txt(NAME, server(lambda q, tcp: None).address, timeout=0.5))
    assert not isinstance(e.value, DnsNotFound)


def test_lookup_txt_and_org_keys(server):
    keys = OrgKeys.generate("acme.test")
    record = keys_record(keys.public)
    zone = {"_sealedreg.acme.test.": [f'"{record}"', '"other"']}

    def answer(query, over_tcp):
        reply = dns.message.make_response(query)
        name = query.question[0].name.to_text()
        if name not in zone:
            reply.set_rcode(dns.rcode.NXDOMAIN)
        else:
            reply.answer.append(dns.rrset.from_text(name, 60, "IN", "TXT", *zone[name]))
        return reply

    dns_server = server(answer)
    assert sorted(lookup_txt("_sealedreg.acme.test", dns_server.address)) == sorted([record, "other"])
    found = org_keys("acme.test", dns_server.address)
    assert bytes(found.sig) == bytes(keys.sig.verify_key) and found.name == "acme.test"
    with pytest.raises(DnsNotFound):
        org_keys("nowhere.test", dns_server.address)
    zone["_sealedreg.bad.test."] = ['"v=sealedreg1; sig=nope"']
    with pytest.raises(DnsError, match="no v=sealedreg1 record"):
        org_keys("bad.test", dns_server.address)
