"""Where DNS is touched (dnspython): the TXT records at `_sealedreg.<domain>`
that carry an organisation's public keys (docs/format.md §8)."""

from __future__ import annotations

import dns.exception
import dns.message
import dns.query
import dns.rdatatype
import dns.resolver

from sealedreg.crypto.keys import KeyError_, PublicKeys
from sealedreg.publish.records import RECORD_PREFIX, keys_from_records


class DnsError(LookupError):
    """A DNS question that got no usable answer."""


def lookup_txt(name: str, nameserver: str | None = None, timeout: float = 5.0) -> list[str]:
    """The TXT strings at `name`; `nameserver` is "host:port" (default: the system resolver)."""
    try:
        if nameserver:
            host, _, port = nameserver.rpartition(":")
            query = dns.message.make_query(name, dns.rdatatype.TXT)
            answer = dns.query.udp(query, host or nameserver, port=int(port) if host else 53, timeout=timeout)
            rrsets = [r for r in answer.answer if r.rdtype == dns.rdatatype.TXT]
            records = [rdata for rrset in rrsets for rdata in rrset]
        else:
            records = list(dns.resolver.resolve(name, "TXT", lifetime=timeout))
    except (dns.exception.DNSException, OSError, ValueError) as exc:
        raise DnsError(f"TXT lookup of {name} failed: {exc}") from None
    return [b"".join(r.strings).decode(errors="replace") for r in records]


def org_keys(domain: str, nameserver: str | None = None) -> PublicKeys:
    """An organisation's published keys, from `_sealedreg.<domain>`."""
    records = lookup_txt(RECORD_PREFIX + domain, nameserver)
    try:
        return keys_from_records(domain, records)
    except KeyError_ as exc:
        raise DnsError(str(exc)) from None
