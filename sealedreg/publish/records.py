"""The `_sealedreg.<domain>` TXT record: an organisation's public keys, as
DNS publishes them (docs/format.md §8).

    v=sealedreg1; sig=ed25519:<b64>; box=x25519:<b64>[; ipfsnode=<multiaddr>][; gateway=<url>]

Fields are `key=value`, separated by `;`; unknown fields are ignored so the
record can grow. A domain may carry other TXT strings beside it; the first
string with `v=sealedreg1`, `sig=` and `box=` is the keys. Discovery hints
(`ipfsnode=`: a multiaddr ending in `/p2p/<peer id>` of the publisher's IPFS
node; `gateway=`: an http(s) URL of its trustless gateway) are collected
from every `v=sealedreg1` string. Hints are only where to look: everything
fetched through them is checked against CIDs under the signed descriptor.
"""

from __future__ import annotations

import re
from dataclasses import dataclass

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import KeyError_, PublicKeys, parse_tagged

TXT_VERSION = "sealedreg1"
MAX_HINTS = 4
"""Hints of each kind used; more would only multiply what a forged record makes a puller try."""
RECORD_PREFIX = "_sealedreg."


@dataclass(frozen=True)
class Hints:
    """Where a namespace's blocks may be found."""

    ipfsnodes: tuple[str, ...] = ()
    gateways: tuple[str, ...] = ()

    def as_dict(self) -> dict:
        return {"ipfsnode": list(self.ipfsnodes), "gateway": list(self.gateways)}


def keys_record(keys: PublicKeys, hints: Hints = Hints()) -> str:
    """The TXT value that publishes `keys` (and `hints`)."""
    fields = [f"v={TXT_VERSION}", f"sig={keys.sig_text}", f"box={keys.box_text}"]
    fields += [f"ipfsnode={addr}" for addr in hints.ipfsnodes[:1]]
    fields += [f"gateway={url}" for url in hints.gateways[:1]]
    return "; ".join(fields)


def hints_from_records(records: list[str]) -> Hints:
    """Every well-formed discovery hint in the `v=sealedreg1` strings; malformed
    ones are dropped (a hint is never trusted, only tried)."""
    nodes: list[str] = []
    gateways: list[str] = []
    for record in records:
        fields = parse_fields(record)
        if fields.get("v") != TXT_VERSION:
            continue
        node, gateway = fields.get("ipfsnode", ""), fields.get("gateway", "")
        if _MULTIADDR.fullmatch(node) and node not in nodes:
            nodes.append(node)
        if _GATEWAY.fullmatch(gateway) and gateway.rstrip("/") not in gateways:
            gateways.append(gateway.rstrip("/"))
    return Hints(tuple(nodes[:MAX_HINTS]), tuple(gateways[:MAX_HINTS]))


_MULTIADDR = re.compile(r"(/[A-Za-z0-9_.:\-\[\]]+)+/p2p/[1-9A-HJ-NP-Za-km-z]{40,60}")
_GATEWAY = re.compile(r"https?://(?:[A-Za-z0-9.\-]+|\[[0-9A-Fa-f:.]+\])(?::[0-9]{1,5})?(/[A-Za-z0-9._~\-/]*)?")


def parse_fields(record: str) -> dict[str, str]:
    """The fields of one TXT string (`k=v; k=v`); parts without `=` are ignored."""
    fields = {}
    for part in record.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def keys_from_records(name: str, records: list[str]) -> PublicKeys:
    """The organisation's keys from the TXT strings at `_sealedreg.<name>`.
    Records that name different keys are refused rather than one picked: DNS
    returns them in no fixed order, so an added record would otherwise win
    some of the time."""
    found: list[PublicKeys] = []
    for record in records:
        fields = parse_fields(record)
        if fields.get("v") == TXT_VERSION and "sig" in fields and "box" in fields:
            keys = PublicKeys(name, VerifyKey(parse_tagged(fields["sig"], "ed25519")),
                              PublicKey(parse_tagged(fields["box"], "x25519")))
            if all(bytes(k.sig) != bytes(keys.sig) or bytes(k.box) != bytes(keys.box) for k in found):
                found.append(keys)
    if not found:
        raise KeyError_(f"no v={TXT_VERSION} record with sig= and box= for {name}")
    if len(found) > 1:
        raise KeyError_(f"{RECORD_PREFIX}{name} names {len(found)} different keys: refusing to pick one")
    return found[0]
