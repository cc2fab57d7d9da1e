"""The `_sealedreg.<domain>` TXT record: an organisation's public keys, as
DNS publishes them (docs/format.md §8).

    v=sealedreg1; sig=ed25519:<b64>; box=x25519:<b64>

Fields are `key=value`, separated by `;`; unknown fields are ignored so the
record can grow. A domain may carry other TXT strings beside it (discovery
hints); the first string with `v=sealedreg1`, `sig=` and `box=` is the keys.
"""

from __future__ import annotations

from nacl.public import PublicKey
from nacl.signing import VerifyKey

from sealedreg.crypto.keys import KeyError_, PublicKeys, parse_tagged

TXT_VERSION = "sealedreg1"
RECORD_PREFIX = "_sealedreg."


def keys_record(keys: PublicKeys) -> str:
    """The TXT string that publishes `keys`."""
    return f"v={TXT_VERSION}; sig={keys.sig_text}; box={keys.box_text}"


def parse_fields(record: str) -> dict[str, str]:
    """The fields of one TXT string (`k=v; k=v`); parts without `=` are ignored."""
    fields = {}
    for part in record.split(";"):
        key, sep, value = part.strip().partition("=")
        if sep:
            fields[key.strip()] = value.strip()
    return fields


def keys_from_records(name: str, records: list[str]) -> PublicKeys:
    """The organisation's keys from the TXT strings at `_sealedreg.<name>`."""
    for record in records:
        fields = parse_fields(record)
        if fields.get("v") == TXT_VERSION and "sig" in fields and "box" in fields:
            return PublicKeys(name, VerifyKey(parse_tagged(fields["sig"], "ed25519")),
                              PublicKey(parse_tagged(fields["box"], "x25519")))
    raise KeyError_(f"no v={TXT_VERSION} record with sig= and box= for {name}")
