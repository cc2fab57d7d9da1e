"""Where DNS is read (dnspython): the TXT records a namespace publishes —
`_dnslink.<ns>` (its tree root) and `_sealedreg.<ns>` (its keys and discovery
hints), docs/format.md §8. Writing them is `dnsupdate`.

The resolver is ours, not Kubo's: Kubo only takes DNS-over-HTTPS resolvers,
so it could not be pointed at an organisation's own or a test DNS server.
A `nameserver` ("HOST:PORT") is asked directly, over UDP with a TCP retry
when the answer is truncated; without one the system resolver is used.
"""

from __future__ import annotations

import contextlib
from dataclasses import dataclass
from typing import Iterator

import dns.asyncquery
import dns.asyncresolver
import dns.exception
import dns.message
import dns.name
import dns.query
import dns.rcode
import dns.rdatatype
import dns.resolver

from sealedreg.crypto.keys import KeyError_, PublicKeys
from sealedreg.publish.records import RECORD_PREFIX, keys_from_records

DEFAULT_TIMEOUT = 5.0


class DnsError(LookupError):
    """A DNS question that got no usable answer."""


class DnsNotFound(DnsError):
    """The name does not exist, or has no TXT records: an answer, not a failure."""


@dataclass(frozen=True)
class TxtAnswer:
    """The TXT values at a name (each record's strings joined) and how long
    they may be cached."""

    values: list[str]
    ttl: int


def split_nameserver(text: str) -> tuple[str, int]:
    """("host", port) of "HOST:PORT", "[v6]:PORT" or a bare host (port 53)."""
    host, sep, port = text.rpartition(":")
    if text.startswith("[") and "]" in text:
        inside, _, rest = text[1:].partition("]")
        host, port = inside, rest.lstrip(":") or "53"
    elif not sep or ":" in host:  # a bare name, or a bare IPv6 address
        host, port = text, "53"
    if not host or not port.isdigit() or not 0 < int(port) < 65536:
        raise DnsError(f"DNS server {text!r}: expected HOST:PORT")
    return host, int(port)


def _joined(rdata: object) -> str:
    return b"".join(rdata.strings).decode(errors="replace")  # type: ignore[attr-defined]


def _from_message(name: str, answer: dns.message.Message) -> TxtAnswer:
    rcode = answer.rcode()
    if rcode == dns.rcode.NXDOMAIN:
        raise DnsNotFound(f"{name} does not exist (NXDOMAIN)")
    if rcode != dns.rcode.NOERROR:
        raise DnsError(f"TXT lookup of {name} failed: the server answered {dns.rcode.to_text(rcode)}")
    qname = dns.name.from_text(name)
    ttls = []
    for _ in range(_MAX_CNAMES):  # follow CNAMEs in the answer, as DNSLink allows (`_dnslink.a` → `_dnslink.b`)
        cnames = [r for r in answer.answer if r.rdtype == dns.rdatatype.CNAME and r.name == qname]
        if not cnames:
            break
        ttls.append(cnames[0].ttl)
        qname = cnames[0][0].target
    else:
        raise DnsError(f"TXT lookup of {name}: more than {_MAX_CNAMES} CNAMEs")
    rrsets = [r for r in answer.answer if r.rdtype == dns.rdatatype.TXT and r.name == qname]
    if not rrsets:
        raise DnsNotFound(f"{name} has no TXT records")
    return TxtAnswer([_joined(rdata) for rrset in rrsets for rdata in rrset], min(ttls + [r.ttl for r in rrsets]))


_MAX_CNAMES = 8


def _qname(name: str) -> dns.name.Name:
    """`name` as a DNS name. One DNS cannot hold (a label over 63 octets, more
    than 255 in all, an empty label) names nothing: DnsNotFound, an answer,
    not the DnsError that says a server failed and asking again may help."""
    try:
        return dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise DnsNotFound(f"{name} is not a DNS name: {exc}") from None


@contextlib.contextmanager
def _lookup_errors(name: str) -> Iterator[None]:
    """dnspython's and the network's failures as DnsNotFound (an answer: no such
    records) or DnsError (no answer: asking again may help)."""
    try:
        yield
    except (dns.resolver.NXDOMAIN, dns.resolver.NoAnswer):
        raise DnsNotFound(f"{name} has no TXT records") from None
    except DnsError:
        raise
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        raise DnsError(f"TXT lookup of {name} failed: {str(exc) or type(exc).__name__}") from None


def _txt_query(qname: dns.name.Name, nameserver: str) -> tuple[dns.message.Message, str, int]:
    host, port = split_nameserver(nameserver)
    return dns.message.make_query(qname, dns.rdatatype.TXT), host, port


async def query_txt(name: str, nameserver: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> TxtAnswer:
    """The TXT values at `name`, asked of `nameserver` or the system resolver,
    within `timeout` seconds (DnsError), DnsNotFound when there are none."""
    qname = _qname(name)
    with _lookup_errors(name):
        if nameserver:
            query, host, port = _txt_query(qname, nameserver)
            answer, _ = await dns.asyncquery.udp_with_fallback(query, host, port=port, timeout=timeout)
            return _from_message(name, answer)
        resolved = await dns.asyncresolver.resolve(qname, "TXT", lifetime=timeout)
        assert resolved.rrset is not None
        return TxtAnswer([_joined(r) for r in resolved.rrset], resolved.rrset.ttl)


def lookup_txt(name: str, nameserver: str | None = None, timeout: float = DEFAULT_TIMEOUT) -> list[str]:
    """The TXT values at `name`, for commands that are not async (`grant` by domain)."""
    qname = _qname(name)
    with _lookup_errors(name):
        if nameserver:
            query, host, port = _txt_query(qname, nameserver)
            answer, _ = dns.query.udp_with_fallback(query, host, port=port, timeout=timeout)
            return _from_message(name, answer).values
        return [_joined(r) for r in dns.resolver.resolve(qname, "TXT", lifetime=timeout)]


def org_keys(domain: str, nameserver: str | None = None) -> PublicKeys:
    """An organisation's published keys, from `_sealedreg.<domain>`."""
    records = lookup_txt(RECORD_PREFIX + domain, nameserver)
    try:
        return keys_from_records(domain, records)
    except KeyError_ as exc:
        raise DnsError(str(exc)) from None
