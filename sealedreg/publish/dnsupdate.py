"""Writing DNS: RFC 2136 dynamic updates of TXT records, signed with TSIG.

This is the only module that changes DNS (`publish/dns.py` only reads it).
A publish is a compare-and-swap: the caller reads the TXT records it means
to replace (`current_txt`), and `replace_txt` sends ONE update message whose
prerequisites say "these RRsets are still exactly what I read", so two
publishers racing each other cannot silently overwrite one another — the
loser gets `DnsConflict` and publishes again. Everything goes over TCP to
the zone's primary server itself (never a recursive resolver, whose cached
answer would make the compare meaningless).

Zone names are returned absolute, with the trailing dot ("acme.test.").
"""

from __future__ import annotations

import asyncio
import base64
import binascii
import ipaddress
import re
import socket
from dataclasses import dataclass, field
from pathlib import Path
from typing import Mapping, Sequence

import dns.asyncquery
import dns.exception
import dns.flags
import dns.message
import dns.name
import dns.rcode
import dns.rdataclass
import dns.rdatatype
import dns.rdtypes.ANY.TXT
import dns.tsig
import dns.update

from sealedreg.protected_files import check_private

ALGORITHMS = ("hmac-sha1", "hmac-sha224", "hmac-sha256", "hmac-sha384", "hmac-sha512")
"""TSIG algorithms a key file may name (the HMAC-SHA family; MD5 is refused)."""

MAX_STRING = 255
"""Bytes in one TXT character-string (RFC 1035 §3.3)."""

DEFAULT_PORT = 53

_CONFLICT_RCODES = {dns.rcode.YXDOMAIN, dns.rcode.YXRRSET, dns.rcode.NXDOMAIN, dns.rcode.NXRRSET}
"""Rcodes of a failed prerequisite (RFC 2136 §3.2): the records moved under us."""


class DnsUpdateError(LookupError):
    """An update (or the read before it) that the server did not carry out."""


class DnsConflict(DnsUpdateError):
    """A prerequisite failed: someone else changed the records since we read them."""


@dataclass(frozen=True)
class TsigKey:
    """A TSIG key: its DNS name, its algorithm ("hmac-sha256") and the shared secret."""

    name: str
    algorithm: str
    secret: bytes = field(repr=False)

    def to_dnspython(self) -> dns.tsig.Key:
        """dnspython's key object (whose repr shows the secret: never log it)."""
        return dns.tsig.Key(self.name, self.secret, self.algorithm)


# --- key files ---------------------------------------------------------------

_BIND_TOKENS = re.compile(r'"(?:[^"\\]|\\.)*"|/\*.*?\*/|//[^\n]*|#[^\n]*|[{};]|[^\s{};"#]+', re.S)
"""A BIND key file's tokens: quoted strings, comments (kept whole, so a `//`
inside a quoted base64 secret is never taken for one), punctuation, words."""

_YAML_LINE = re.compile(r"^(-\s+)?(id|algorithm|secret)\s*:\s*(.*?)\s*$")


def load_tsig_key(path: Path) -> TsigKey:
    """The TSIG key in `path`: a BIND key file (`tsig-keygen`) or knot's `keymgr -t` YAML.

    The file is a shared secret, so it is refused when group or others can
    read it, like every other secret the registry keeps. Errors name the file
    and the problem, never the secret (nor a line that might hold it)."""
    check_private(path, "TSIG key file", DnsUpdateError)
    where = f"TSIG key file {path}"
    try:
        text = path.read_text(encoding="utf-8")
    except (OSError, UnicodeDecodeError) as exc:
        raise DnsUpdateError(f"{where} cannot be read: {type(exc).__name__}") from None
    if re.search(r"^key\s*:", text, re.M):
        name, algorithm, secret = _parse_knot(text, where)
    else:
        name, algorithm, secret = _parse_bind(text, where)
    return _make_key(name, algorithm, secret, where)


def _parse_bind(text: str, where: str) -> tuple[str, str, str]:
    """`key "NAME" { algorithm ALG; secret "B64"; };` with BIND's comment styles."""
    tokens = [t for t in _BIND_TOKENS.findall(text) if not t.startswith(("#", "//", "/*"))]
    tokens = [t[1:-1] if t.startswith('"') else t for t in tokens]
    if len(tokens) < 4 or tokens[0] != "key" or tokens[2] != "{":
        raise DnsUpdateError(f'{where} is not a key file: expected `key "NAME" {{ algorithm ...; secret "..."; }};`'
                             " (tsig-keygen) or knot's `key:` YAML (keymgr -t)")
    name, fields, i = tokens[1], {}, 3
    while i < len(tokens) and tokens[i] != "}":
        if i + 2 >= len(tokens) or tokens[i + 2] != ";" or tokens[i] not in ("algorithm", "secret"):
            raise DnsUpdateError(f"{where}: expected `algorithm ...;` or `secret \"...\";` inside key {name!r}")
        if tokens[i] in fields:
            raise DnsUpdateError(f"{where}: {tokens[i]} given twice in key {name!r}")
        fields[tokens[i]] = tokens[i + 1]
        i += 3
    if tokens[i + 1:] != [";"]:
        raise DnsUpdateError(f"{where}: expected exactly one `key ... {{ ... }};` clause")
    return name, fields.get("algorithm", ""), fields.get("secret", "")


def _parse_knot(text: str, where: str) -> tuple[str, str, str]:
    """knot's `key:` list with one item of `id`, `algorithm`, `secret` (`#` comments)."""
    items: list[dict[str, str]] = []
    for number, raw in enumerate(text.splitlines(), 1):
        line = re.sub(r"(^|\s)#.*$", "", raw).strip()
        if not line or re.fullmatch(r"key\s*:", line):
            continue
        m = _YAML_LINE.match(line)
        if not m or (not m.group(1) and not items):
            raise DnsUpdateError(f"{where}: line {number} is not an `id`, `algorithm` or `secret` of a key")
        if m.group(1):
            items.append({})
        value = m.group(3)
        if len(value) >= 2 and value[0] == value[-1] and value[0] in "'\"":
            value = value[1:-1]
        if m.group(2) in items[-1]:
            raise DnsUpdateError(f"{where}: line {number} repeats `{m.group(2)}`")
        items[-1][m.group(2)] = value
    if len(items) != 1:
        raise DnsUpdateError(f"{where} must hold exactly one key, not {len(items)}")
    item = items[0]
    return item.get("id", ""), item.get("algorithm", ""), item.get("secret", "")


def _make_key(name: str, algorithm: str, secret: str, where: str) -> TsigKey:
    if not name:
        raise DnsUpdateError(f"{where}: the key has no name")
    try:
        dns.name.from_text(name)
    except dns.exception.DNSException:
        raise DnsUpdateError(f"{where}: key name {name!r} is not a DNS name") from None
    algorithm = algorithm.lower().rstrip(".")
    if not algorithm:
        raise DnsUpdateError(f"{where}: key {name!r} has no algorithm")
    if algorithm not in ALGORITHMS:
        raise DnsUpdateError(f"{where}: key {name!r} uses unsupported algorithm {algorithm!r}"
                             f" (supported: {', '.join(ALGORITHMS)})")
    if not secret:
        raise DnsUpdateError(f"{where}: key {name!r} has no secret")
    try:
        raw = base64.b64decode(secret, validate=True)
    except (binascii.Error, ValueError):
        raise DnsUpdateError(f"{where}: the secret of key {name!r} is not valid base64") from None
    if not raw:
        raise DnsUpdateError(f"{where}: key {name!r} has an empty secret")
    return TsigKey(name, algorithm, raw)


# --- pure pieces -------------------------------------------------------------

def txt_strings(value: str) -> list[bytes]:
    """One logical TXT value as the ≤255-byte character-strings a TXT rdata holds.

    Split on bytes of the UTF-8 encoding (readers join the strings back, as
    DNSLink and `_sealedreg` readers do). An empty value is one empty string:
    a TXT rdata needs at least one."""
    data = value.encode("utf-8")
    return [data[i:i + MAX_STRING] for i in range(0, len(data), MAX_STRING)] or [b""]


def split_server(text: str) -> tuple[str, int]:
    """"HOST:PORT", "[IPv6]:PORT", a bare IPv6 address or a bare host → (host, port), port 53 by default.

    A malformed address is a DnsUpdateError naming it."""
    text = text.strip()
    host, port = text, str(DEFAULT_PORT)
    if text.startswith("["):
        inside, bracket, rest = text[1:].partition("]")
        if not bracket or (rest and not rest.startswith(":")):
            raise DnsUpdateError(f"DNS server {text!r} is not HOST:PORT or [IPv6]:PORT")
        host, port = inside, rest[1:] if rest else port
    elif text.count(":") == 1:
        host, port = text.split(":")
    elif ":" in text:  # more than one colon: only a bare IPv6 address makes sense
        try:
            ipaddress.IPv6Address(text)
        except ValueError:
            raise DnsUpdateError(f"DNS server {text!r}: write an IPv6 address with a port as [ADDR]:PORT") from None
    if not host or any(c.isspace() for c in host):
        raise DnsUpdateError(f"DNS server {text!r} has no host")
    if not port.isdigit() or not 0 < int(port) < 65536:
        raise DnsUpdateError(f"DNS server {text!r}: port {port!r} is not a number in 1-65535")
    return host, int(port)


def _absolute(name: str) -> dns.name.Name:
    try:
        return dns.name.from_text(name)
    except dns.exception.DNSException as exc:
        raise DnsUpdateError(f"{name!r} is not a DNS name: {exc}") from None


def _txt(strings: Sequence[bytes]) -> dns.rdtypes.ANY.TXT.TXT:
    return dns.rdtypes.ANY.TXT.TXT(dns.rdataclass.IN, dns.rdatatype.TXT, strings)


def build_update(zone: str, key: TsigKey, records: Mapping[str, Sequence[str]],
                 expected: Mapping[str, Sequence[str | Sequence[bytes]] | None], ttl: int) -> dns.update.UpdateMessage:
    """The one UPDATE message of `replace_txt`, TSIG-signed with `key` when sent.

    For each name of `records`: a prerequisite that its TXT RRset is still
    `expected[name]` (None: no TXT RRset at all; a list: exactly those values,
    RFC 2136 §2.4.2 "RRset exists (value dependent)"), then the RRset deleted
    and `records[name]` added with `ttl`. An expected value is a logical str
    (split like `txt_strings`) or the exact character-strings the server
    holds, since the server compares rdata, string boundaries included."""
    if set(expected) != set(records):
        raise DnsUpdateError(f"expected values must name exactly the records to replace: {sorted(records)}")
    if not 0 <= ttl < 2**31:
        raise DnsUpdateError(f"TTL {ttl} is out of range")
    origin = _absolute(zone)
    message = dns.update.UpdateMessage(origin, keyring=key.to_dnspython())
    for text in sorted(records):
        name = _absolute(text)
        if not name.is_subdomain(origin):
            raise DnsUpdateError(f"{name} is not in zone {origin}; one update changes one zone")
        before = expected[text]
        if before is None:
            message.absent(name, dns.rdatatype.TXT)
        elif not before:
            raise DnsUpdateError(f"expected value for {name} is an empty list; use None for 'no TXT records'")
        else:
            message.present(name, *[_txt(txt_strings(v) if isinstance(v, str) else v) for v in before])
        message.delete(name, dns.rdatatype.TXT)
        if records[text]:
            message.add(name, ttl, *[_txt(txt_strings(v)) for v in records[text]])
    return message


# --- talking to the server ---------------------------------------------------

async def _address(server: str) -> tuple[str, int]:
    """`server` as an (IP address, port) dnspython can connect to."""
    host, port = split_server(server)
    try:
        ipaddress.ip_address(host)
        return host, port
    except ValueError:
        pass
    try:
        infos = await asyncio.get_running_loop().getaddrinfo(host, port, type=socket.SOCK_STREAM)
    except OSError as exc:
        raise DnsUpdateError(f"DNS server {server}: cannot resolve {host}: {exc}") from None
    return str(infos[0][4][0]), port


async def _ask(address: tuple[str, int], message: dns.message.Message, server: str,
               timeout: float, key: TsigKey | None = None) -> dns.message.Message:
    """Send `message` over TCP; a DnsUpdateError for anything but a (verified) response.

    The server's TSIG errors arrive as exceptions from dnspython (it checks
    the response's signature when the request was signed), so they are
    translated here; knot answers BADKEY both for a key it does not know and
    for a known key its ACL does not let update the zone."""
    named = f"TSIG key {key.name!r}" if key else "the TSIG key"
    try:
        return await dns.asyncquery.tcp(message, address[0], timeout=timeout, port=address[1])
    except (dns.exception.Timeout, TimeoutError):
        raise DnsUpdateError(f"DNS server {server} did not answer within {timeout}s") from None
    except dns.tsig.PeerBadKey:
        raise DnsUpdateError(f"DNS server {server} rejected {named} (BADKEY): it does not know a key of that"
                             " name and algorithm, or its ACL does not let this key update the zone") from None
    except dns.tsig.PeerBadSignature:
        raise DnsUpdateError(f"DNS server {server} rejected the signature of {named} (BADSIG): the key's secret"
                             " differs from the server's") from None
    except dns.tsig.PeerBadTime:
        raise DnsUpdateError(f"DNS server {server} rejected the TSIG time (BADTIME): check both clocks") from None
    except (dns.tsig.BadSignature, dns.tsig.BadKey, dns.tsig.BadAlgorithm, dns.message.UnknownTSIGKey,
            dns.message.BadTSIG) as exc:
        raise DnsUpdateError(f"DNS server {server} answered with a TSIG signature that does not verify"
                             f" ({type(exc).__name__}); not trusting it") from None
    except (OSError, EOFError, dns.exception.DNSException) as exc:
        raise DnsUpdateError(f"DNS server {server}: {type(exc).__name__}: {exc}") from None


def _query(name: dns.name.Name, rdtype: dns.rdatatype.RdataType) -> dns.message.QueryMessage:
    query = dns.message.make_query(name, rdtype)
    query.flags &= ~dns.flags.RD  # ask the authority itself, never for recursion
    return query


async def _txt_rdatas(address: tuple[str, int], server: str, name: dns.name.Name,
                      timeout: float) -> list[tuple[bytes, ...]] | None:
    """The TXT RRset at `name` as the server holds it (each rdata's strings), None if absent."""
    response = await _ask(address, _query(name, dns.rdatatype.TXT), server, timeout)
    rcode = response.rcode()
    if rcode not in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) or not response.flags & dns.flags.AA:
        raise DnsUpdateError(f"DNS server {server} is not authoritative for {name}"
                             f" ({dns.rcode.to_text(rcode)})")
    for rrset in response.answer:  # (with NXDOMAIN too: the rcode is the CNAME target's)
        if rrset.name == name and rrset.rdtype == dns.rdatatype.CNAME:
            # TXT records added beside a CNAME are silently ignored (RFC 2136 §3.4.2.2), and a
            # resolver would follow the CNAME anyway: publishing here could only report a lie
            raise DnsUpdateError(f"{name} is a CNAME to {rrset[0].target}: update the records there, "
                                 "or remove the CNAME")
    if rcode == dns.rcode.NXDOMAIN:
        return None
    for rrset in response.answer:
        if rrset.name == name and rrset.rdtype == dns.rdatatype.TXT:
            return [tuple(rdata.strings) for rdata in rrset]
    return None


def _join(strings: Sequence[bytes]) -> str:
    return b"".join(strings).decode("utf-8", errors="replace")


async def current_txt(server: str, name: str, timeout: float = 5.0) -> list[str] | None:
    """The TXT values at `name`, asked of `server` itself over TCP (each rdata's strings joined).

    None when there is no TXT RRset (NXDOMAIN or NODATA): that is what
    `replace_txt` takes as "expected: nothing there"."""
    try:
        async with asyncio.timeout(timeout):
            held = await _txt_rdatas(await _address(server), server, _absolute(name), timeout)
    except TimeoutError:
        raise DnsUpdateError(f"DNS server {server} did not answer within {timeout}s") from None
    return None if held is None else [_join(strings) for strings in held]


async def _zone_of(address: tuple[str, int], server: str, name: dns.name.Name, timeout: float) -> dns.name.Name:
    """One SOA question: the SOA in the answer, or in the authority section of an
    authoritative NODATA/NXDOMAIN, names the zone that holds `name`."""
    response = await _ask(address, _query(name, dns.rdatatype.SOA), server, timeout)
    if response.rcode() in (dns.rcode.NOERROR, dns.rcode.NXDOMAIN) and response.flags & dns.flags.AA:
        for rrset in (*response.answer, *response.authority):
            if rrset.rdtype == dns.rdatatype.SOA and name.is_subdomain(rrset.name):
                return rrset.name
    if any(rrset.rdtype == dns.rdatatype.NS for rrset in response.authority):
        raise DnsUpdateError(f"{name} is delegated away from DNS server {server}: update its own zone's primary")
    raise DnsUpdateError(f"DNS server {server} is authoritative for no zone holding {name}"
                         f" ({dns.rcode.to_text(response.rcode())})")


async def zone_of(server: str, name: str, timeout: float = 5.0) -> str:
    """The zone on `server` that holds `name`, absolute ("acme.test.")."""
    try:
        async with asyncio.timeout(timeout):
            return (await _zone_of(await _address(server), server, _absolute(name), timeout)).to_text()
    except TimeoutError:
        raise DnsUpdateError(f"DNS server {server} did not answer within {timeout}s") from None


async def replace_txt(server: str, key: TsigKey, records: dict[str, list[str]],
                      expected: dict[str, list[str] | None], ttl: int, timeout: float = 5.0) -> None:
    """Replace the TXT RRsets `records` (name → values) in one atomic, TSIG-signed update,
    only if each is still `expected[name]` (None: absent) — a compare-and-swap.

    `timeout` bounds the whole exchange. A name that is a CNAME is refused
    (the server would keep the CNAME and ignore the TXT). Values are compared as logical
    strings: if the server holds the expected values split into different
    character-strings, the prerequisite uses the server's exact split, so a
    record written by hand is not a conflict forever."""
    if not records:
        return
    if set(expected) != set(records):
        raise DnsUpdateError(f"expected values must name exactly the records to replace: {sorted(records)}")
    try:
        async with asyncio.timeout(timeout):
            address = await _address(server)
            zones = {await _zone_of(address, server, _absolute(name), timeout) for name in records}
            if len(zones) != 1:
                raise DnsUpdateError(f"records {sorted(records)} span zones {sorted(map(str, zones))} on"
                                     f" {server}; one update changes one zone")
            zone = zones.pop()
            exact: dict[str, Sequence[str | Sequence[bytes]] | None] = dict(expected)
            for name, values in expected.items():  # read each name (which also refuses a CNAME there)
                held = await _txt_rdatas(address, server, _absolute(name), timeout)
                if values and held is not None and sorted({_join(s) for s in held}) == sorted(set(values)):
                    exact[name] = held
            message = build_update(zone.to_text(), key, records, exact, ttl)
            response = await _ask(address, message, server, timeout, key)
    except TimeoutError:
        raise DnsUpdateError(f"DNS server {server} did not answer within {timeout}s") from None
    rcode = response.rcode()
    if rcode == dns.rcode.NOERROR:
        return
    names = ", ".join(sorted(records))
    if rcode in _CONFLICT_RCODES:
        raise DnsConflict(f"TXT records at {names} changed since they were read"
                          f" ({dns.rcode.to_text(rcode)}); publish again")
    if rcode == dns.rcode.REFUSED:
        raise DnsUpdateError(f"DNS server {server} refused the update of zone {zone} signed with key"
                             f" {key.name!r}: its ACL must allow this key to update the zone")
    if rcode == dns.rcode.NOTAUTH:
        raise DnsUpdateError(f"DNS server {server} is not authoritative for zone {zone}, or does not accept"
                             f" key {key.name!r} (NOTAUTH)")
    if rcode == dns.rcode.NOTZONE:
        raise DnsUpdateError(f"{names} not inside zone {zone} on {server} (NOTZONE)")
    raise DnsUpdateError(f"DNS server {server} failed the update of zone {zone}: {dns.rcode.to_text(rcode)}")
