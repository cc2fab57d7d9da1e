"""DNSLink (dnslink.dev): which tree a namespace's `_dnslink.<ns>` TXT record
points at. Pure parsing; the lookup is `dns.query_txt`.

As Kubo does, only `_dnslink.<domain>` is consulted (never the bare domain)
and only `/ipfs/` and `/ipns/` values count. sealedreg is stricter than the
spec's "sort and take the first" in two ways, both to refuse ambiguity an
attacker could exploit rather than guess: more than one distinct value is
an error, and a value must name a root — a path below it is an error.
"""

from __future__ import annotations

from dataclasses import dataclass

PREFIX = "_dnslink."
_FIELD = "dnslink="
_NAMESPACES = ("ipfs", "ipns")
_MAX_VALUE = 1024


class DnsLinkError(ValueError):
    """No usable DNSLink value, or more than one."""


@dataclass(frozen=True)
class DnsLink:
    namespace: str  # "ipfs" or "ipns"
    identifier: str  # a CID, or an IPNS name (a key) / a domain

    def __str__(self) -> str:
        return f"/{self.namespace}/{self.identifier}"


def record_value(link: DnsLink) -> str:
    """The TXT value that publishes `link`."""
    return f"{_FIELD}{link}"


def parse_dnslink(domain: str, values: list[str]) -> DnsLink:
    """The one `/ipfs/` or `/ipns/` link among the TXT `values` at `_dnslink.<domain>`."""
    links: list[DnsLink] = []
    for value in values:
        text = value.strip()
        if not text.startswith(_FIELD) or len(text) > _MAX_VALUE:
            continue  # other TXT data shares the name: ignored, as the spec says
        parts = text[len(_FIELD):].strip().split("/")
        if len(parts) < 3 or parts[0] != "" or parts[1] not in _NAMESPACES:
            continue  # another DNSLink namespace, or junk
        if not parts[2] or any(parts[3:]):
            raise DnsLinkError(f"{PREFIX}{domain}: {text!r} must name a tree root, with no path below it")
        link = DnsLink(parts[1], parts[2])
        if link not in links:
            links.append(link)
    if not links:
        raise DnsLinkError(f"{PREFIX}{domain} has no dnslink=/ipfs/… or dnslink=/ipns/… record")
    if len(links) > 1:
        raise DnsLinkError(f"{PREFIX}{domain} has {len(links)} different dnslink values "
                           f"({', '.join(map(str, links))}): refusing to guess which is the namespace")
    return links[0]
