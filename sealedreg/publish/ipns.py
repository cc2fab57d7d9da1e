"""IPNS records: a signed, expiring pointer from an Ed25519 key's name to an
`/ipfs/…` (or `/ipns/…`) path, exactly as specs.ipfs.tech/ipns/ipns-record
defines it, so that Kubo (boxo) and Helia accept what we write and we accept
what they write. Pure: bytes in, bytes out; no I/O.

    name    CIDv1(libp2p-key 0x72, identity multihash(PublicKey{Type=Ed25519, Data=32 bytes}))
            as base36 lower-case multibase: "k51…"
    record  IpnsEntry protobuf (≤ 10 KiB):
              1 value, 2 signatureV1, 3 validityType, 4 validity, 5 sequence, 6 ttl  (legacy V1 copies)
              7 pubKey (omitted: an Ed25519 key is inlined in the name)
              8 signatureV2 = sign("ipns-signature:" ‖ data)
              9 data = DAG-CBOR {TTL, Value, Sequence, Validity, ValidityType}

What we write is what boxo's `NewRecord` writes by default (V1+V2): the V1
fields let nodes older than go-ipfs 0.9 resolve the name. What we trust is
only what signatureV2 covers: the V1 fields must merely agree with `data`
(the spec's "Record Verification"), and signatureV1 is never checked.
"""

from __future__ import annotations

import base64
import math
import re
from dataclasses import dataclass
from datetime import datetime, timedelta, timezone
from typing import Any

import cbor2
from nacl.exceptions import BadSignatureError
from nacl.signing import SigningKey, VerifyKey

from sealedreg.storage.cid import BASE36, BASE58BTC, CIDError, radix_decode, radix_encode, read_varint, varint

MAX_RECORD_SIZE = 10 * 1024          # the spec's "Record Size Limit"
SIGNATURE_V2_PREFIX = b"ipns-signature:"
VALIDITY_EOL = 0                     # the only ValidityType there is
LIBP2P_KEY = 0x72                    # multicodec of an IPNS name's CID
IDENTITY = 0x00                      # multihash: the key itself, not a hash of it
SHA2_256 = 0x12
KEY_TYPE_ED25519 = 1                 # libp2p KeyType
MAX_INT64 = (1 << 63) - 1            # boxo keeps Sequence and TTL as int64 in the CBOR
MAX_UINT64 = (1 << 64) - 1

# IpnsEntry field numbers.
F_VALUE, F_SIG_V1, F_VALIDITY_TYPE, F_VALIDITY, F_SEQUENCE, F_TTL = 1, 2, 3, 4, 5, 6
F_PUBKEY, F_SIG_V2, F_DATA = 7, 8, 9
_VARINT_FIELDS = {F_VALIDITY_TYPE, F_SEQUENCE, F_TTL}
_BYTES_FIELDS = {F_VALUE, F_SIG_V1, F_VALIDITY, F_PUBKEY, F_SIG_V2, F_DATA}

_EPOCH = datetime(1970, 1, 1, tzinfo=timezone.utc)
_RFC3339 = re.compile(
    r"([0-9]{4})-([0-9]{2})-([0-9]{2})[Tt]([0-9]{2}):([0-9]{2}):([0-9]{2})(?:\.([0-9]{1,9}))?"
    r"(?:[Zz]|([+-])([0-9]{2}):([0-9]{2}))")


class IpnsError(ValueError):
    """A record (or name) that must not be trusted; the message says what is wrong."""


@dataclass(frozen=True)
class IpnsRecord:
    """What a verified record says. `validity` is UTC, to the microsecond
    (the record itself carries nanoseconds); `ttl` is in nanoseconds."""
    value: str
    sequence: int
    validity: datetime
    ttl: int


# -- names ----------------------------------------------------------------------
def ipns_name(key: VerifyKey) -> str:
    """The IPNS name of an Ed25519 key, as Kubo prints it ("k51…").

    The key is small enough to be inlined (identity multihash), which is why
    a record under this name needs no pubKey field: the name *is* the key."""
    if not isinstance(key, VerifyKey):   # bytes(SigningKey) is the secret seed: never name that
        raise TypeError("ipns_name takes a VerifyKey (signing_key.verify_key)")
    public = _public_key_proto(bytes(key))
    cid = varint(1) + varint(LIBP2P_KEY) + varint(IDENTITY) + varint(len(public)) + public
    return "k" + radix_encode(cid, BASE36)


def key_of_name(name: str) -> VerifyKey:
    """The Ed25519 key an IPNS name inlines: the "k51…" CID form (base36, or
    base32 "b…") or the base58btc peer-id form ("12D3Koo…").

    Names that are only a hash of their key (RSA, "Qm…") are refused: their
    key would have to come from elsewhere, and sealedreg only signs with Ed25519."""
    if not isinstance(name, str) or not name or len(name) > 200:
        raise IpnsError("not an IPNS name")
    multihash = _multihash_of_name(name)
    try:
        code, pos = read_varint(multihash, 0)
        length, pos = read_varint(multihash, pos)
    except CIDError as exc:
        raise IpnsError(f"IPNS name {name!r} is not a multihash: {exc}") from None
    if multihash[:pos] != varint(code) + varint(length):
        raise IpnsError(f"IPNS name {name!r} is not canonical (a varint is not minimal)")
    if code == SHA2_256:
        raise IpnsError(f"IPNS name {name!r} is a hash of its key, not an inlined Ed25519 key")
    if code != IDENTITY:
        raise IpnsError(f"IPNS name {name!r} uses multihash 0x{code:x}, not an inlined key")
    if len(multihash) - pos != length:
        raise IpnsError(f"IPNS name {name!r} has a multihash of the wrong length")
    return _key_from_proto(multihash[pos:])


def _multihash_of_name(name: str) -> bytes:
    """The multihash a name's text carries (CIDv1 libp2p-key, or a bare peer id)."""
    if name[0] in "kK":
        raw = _b36decode(name[1:].lower())
        if raw is None or "k" + radix_encode(raw, BASE36) != name.lower():
            raise IpnsError(f"IPNS name {name!r} is not canonical base36")
    elif name[0] == "b":
        raw = _b32decode(name[1:])
    elif name[0] in "1Q":
        try:
            multihash = radix_decode(name, BASE58BTC)
        except CIDError:
            raise IpnsError(f"IPNS name {name!r} is not base58btc") from None
        if not multihash or radix_encode(multihash, BASE58BTC) != name:
            raise IpnsError(f"IPNS name {name!r} is not canonical base58btc")
        return multihash
    else:
        raise IpnsError(f"IPNS name {name!r}: expected a k51… (base36) name or a 12D3Koo… peer id")
    try:
        version, pos = read_varint(raw, 0)
        codec, pos = read_varint(raw, pos)
    except CIDError as exc:
        raise IpnsError(f"IPNS name {name!r} is not a CID: {exc}") from None
    if raw[:pos] != varint(version) + varint(codec):
        raise IpnsError(f"IPNS name {name!r} is not canonical (a varint is not minimal)")
    if version != 1 or codec != LIBP2P_KEY:
        raise IpnsError(f"IPNS name {name!r} is not a CIDv1 with codec libp2p-key (0x72)")
    return raw[pos:]


def _public_key_proto(key: bytes) -> bytes:
    """libp2p `PublicKey{Type: Ed25519, Data: key}`, canonically marshalled."""
    return _uint_field(1, KEY_TYPE_ED25519) + _bytes_field(2, key)


def _key_from_proto(raw: bytes) -> VerifyKey:
    """An Ed25519 key from a libp2p PublicKey protobuf (name digest or pubKey field).

    Only the canonical encoding is accepted, so one key has exactly one name."""
    fields = _decode_fields(raw, {1}, {2}, "PublicKey")
    if fields.get(1) != KEY_TYPE_ED25519:
        raise IpnsError(f"key type {fields.get(1)} is not Ed25519 (1); only Ed25519 keys are supported")
    data = fields.get(2, b"")
    assert isinstance(data, bytes)
    if len(data) != 32:
        raise IpnsError(f"Ed25519 key must be 32 bytes, not {len(data)}")
    if _public_key_proto(data) != raw:
        raise IpnsError("non-canonical PublicKey encoding")
    return VerifyKey(data)


# -- records: writing ------------------------------------------------------------
def make_record(key: SigningKey, value: str, sequence: int, validity: datetime, ttl_ns: int) -> bytes:
    """A marshalled IpnsEntry for `key`'s name pointing at `value`, valid until
    `validity` (tz-aware; kept to the microsecond), cacheable for `ttl_ns`.

    V1+V2, laid out as boxo writes it, so Kubo and legacy nodes both accept it.
    Sequence and TTL stop at 2**63 - 1 because boxo reads them as int64."""
    _check_path(value, ValueError)
    if not 0 <= sequence <= MAX_INT64:
        raise ValueError(f"sequence must be 0 … 2**63-1, not {sequence}")
    if not 0 <= ttl_ns <= MAX_INT64:
        raise ValueError(f"ttl_ns must be 0 … 2**63-1, not {ttl_ns}")
    validity_text = format_validity(validity)
    data = _dag_cbor({"Value": value.encode(), "Validity": validity_text, "ValidityType": VALIDITY_EOL,
                      "Sequence": sequence, "TTL": ttl_ns})
    signature_v2 = key.sign(SIGNATURE_V2_PREFIX + data).signature
    # signatureV1 covers value ‖ validity ‖ the ValidityType's *name* (Go's fmt.Sprint of the enum).
    signature_v1 = key.sign(value.encode() + validity_text + b"EOL").signature
    record = b"".join([
        _bytes_field(F_VALUE, value.encode()),
        _bytes_field(F_SIG_V1, signature_v1),
        _uint_field(F_VALIDITY_TYPE, VALIDITY_EOL),
        _bytes_field(F_VALIDITY, validity_text),
        _uint_field(F_SEQUENCE, sequence),
        _uint_field(F_TTL, ttl_ns),
        _bytes_field(F_SIG_V2, signature_v2),
        _bytes_field(F_DATA, data),
    ])
    if len(record) > MAX_RECORD_SIZE:
        raise ValueError(f"record would be {len(record)} bytes, over the 10 KiB limit")
    return record


def format_validity(when: datetime) -> bytes:
    """RFC 3339 in UTC with exactly nine fraction digits, as boxo writes it
    (Go layout "2006-01-02T15:04:05.000000000Z07:00"); Kubo parses no other form."""
    if when.tzinfo is None or when.utcoffset() is None:
        raise ValueError("validity must be a timezone-aware datetime")
    u = when.astimezone(timezone.utc)
    return (f"{u.year:04d}-{u.month:02d}-{u.day:02d}T{u.hour:02d}:{u.minute:02d}:{u.second:02d}"
            f".{u.microsecond * 1000:09d}Z").encode()


# -- records: verifying ----------------------------------------------------------
def parse_record(raw: bytes, name: str, now: datetime | None = None) -> IpnsRecord:
    """Verify `raw` as the record of `name` at time `now` (default: the clock)
    and return what it says; raise IpnsError on the first thing wrong.

    The steps and their order are the spec's "Record Verification"; on top of
    them, the value must be an /ipfs/ or /ipns/ path, and `data` must be
    canonical DAG-CBOR (the encoding the signature is defined over)."""
    now_ns = _now_ns(now)
    if len(raw) > MAX_RECORD_SIZE:                                        # 1
        raise IpnsError(f"record is {len(raw)} bytes, over the 10 KiB limit")
    entry = _decode_fields(bytes(raw), _VARINT_FIELDS, _BYTES_FIELDS, "IpnsEntry")
    signature = entry.get(F_SIG_V2, b"")                                  # 2
    data = entry.get(F_DATA, b"")
    if not signature:
        raise IpnsError("record has no signatureV2 (V1-only records are not trusted)")
    if not data:
        raise IpnsError("record has no data")
    key = _record_key(entry, name)                                        # 3
    doc = _decode_data(_as_bytes(data))                                   # 4
    _verify_signature(key, _as_bytes(data), _as_bytes(signature))         # 5, 6
    fields = _data_fields(doc)
    if entry.get(F_SIG_V1) or entry.get(F_VALUE):                         # 7
        _check_v1_matches(entry, fields)
    if fields["ValidityType"] != VALIDITY_EOL:                            # 8
        raise IpnsError(f"unsupported ValidityType {fields['ValidityType']} (only 0, EOL)")
    eol_ns = _parse_validity(fields["Validity"])
    if now_ns > eol_ns:
        raise IpnsError(f"record expired at {fields['Validity'].decode()}")
    value = _check_path(fields["Value"], IpnsError)
    return IpnsRecord(value=value, sequence=fields["Sequence"], validity=_datetime_of_ns(eol_ns),
                      ttl=fields["TTL"])


def _record_key(entry: dict[int, int | bytes], name: str) -> VerifyKey:
    """The name's inlined key; a pubKey field, if any, must be that same key."""
    key = key_of_name(name)
    pubkey = entry.get(F_PUBKEY)
    if pubkey:
        try:
            embedded = _key_from_proto(_as_bytes(pubkey))
        except IpnsError as exc:
            raise IpnsError(f"record pubKey: {exc}") from None
        if bytes(embedded) != bytes(key):
            raise IpnsError("record pubKey does not match the name")
    return key


def _verify_signature(key: VerifyKey, data: bytes, signature: bytes) -> None:
    if len(signature) != 64:
        raise IpnsError("signatureV2 does not verify (not a 64-byte Ed25519 signature)")
    try:
        key.verify(SIGNATURE_V2_PREFIX + data, signature)
    except BadSignatureError:
        raise IpnsError("signatureV2 does not verify against the name's key") from None


def _data_fields(doc: dict[str, Any]) -> dict[str, Any]:
    """The five fields every record's data must carry, type-checked (others are ignored)."""
    kinds = {"Value": bytes, "Validity": bytes, "ValidityType": int, "Sequence": int, "TTL": int}
    out: dict[str, Any] = {}
    for field, kind in kinds.items():
        if field not in doc:
            raise IpnsError(f"record data lacks {field}")
        v = doc[field]
        if type(v) is not kind:
            raise IpnsError(f"record data {field} must be {'bytes' if kind is bytes else 'an integer'}")
        if kind is int and not 0 <= v <= MAX_UINT64:
            raise IpnsError(f"record data {field} must be an unsigned 64-bit integer")
        out[field] = v
    return out


def _check_v1_matches(entry: dict[int, int | bytes], fields: dict[str, Any]) -> None:
    """The legacy V1 copies (absent = protobuf default) must equal the signed data."""
    pairs = [(F_VALUE, "value", "Value", b""), (F_VALIDITY, "validity", "Validity", b""),
             (F_VALIDITY_TYPE, "validityType", "ValidityType", 0), (F_SEQUENCE, "sequence", "Sequence", 0),
             (F_TTL, "ttl", "TTL", 0)]
    for number, v1_name, v2_name, default in pairs:
        if entry.get(number, default) != fields[v2_name]:
            raise IpnsError(f"V1 field {v1_name} does not match data {v2_name}")


def _check_path(value: bytes | str, error: type[ValueError]) -> str:
    if isinstance(value, bytes):
        try:
            value = value.decode()
        except UnicodeDecodeError:
            raise error("record Value is not UTF-8") from None
    if not value.startswith(("/ipfs/", "/ipns/")) or len(value) == len("/ipfs/"):
        raise error(f"record Value must be an /ipfs/ or /ipns/ path, not {value[:60]!r}")
    return value


def _now_ns(now: datetime | None) -> int:
    if now is None:
        now = datetime.now(timezone.utc)
    if now.tzinfo is None or now.utcoffset() is None:
        raise ValueError("now must be a timezone-aware datetime")
    return (now - _EPOCH) // timedelta(microseconds=1) * 1000


def _parse_validity(text: bytes) -> int:
    """An RFC 3339 time (any offset, up to nanoseconds) → nanoseconds since the epoch."""
    m = _RFC3339.fullmatch(text.decode("ascii", "replace"))
    if m is None:
        raise IpnsError(f"record Validity {text[:40]!r} is not an RFC 3339 time")
    year, month, day, hour, minute, second = (int(g) for g in m.group(1, 2, 3, 4, 5, 6))
    fraction = int((m.group(7) or "").ljust(9, "0"))
    offset = timedelta(0)
    if m.group(8):
        hours, minutes = int(m.group(9)), int(m.group(10))
        if hours > 23 or minutes > 59:
            raise IpnsError(f"record Validity {text[:40]!r} has an invalid offset")
        offset = timedelta(hours=hours, minutes=minutes) * (1 if m.group(8) == "+" else -1)
    try:
        local = datetime(year, month, day, hour, minute, second, tzinfo=timezone(offset))
    except ValueError:
        raise IpnsError(f"record Validity {text[:40]!r} is not a valid date and time") from None
    return (local - _EPOCH) // timedelta(seconds=1) * 1_000_000_000 + fraction


def _datetime_of_ns(ns: int) -> datetime:
    try:
        return _EPOCH + timedelta(microseconds=ns // 1000)
    except OverflowError:
        raise IpnsError("record Validity is out of range") from None


# -- DAG-CBOR (through cbor2, held to the DAG-CBOR rules) --------------------------
def _dag_cbor(obj: Any) -> bytes:
    """Canonical DAG-CBOR of `obj`: map keys sorted length-first then bytewise,
    shortest integer heads, definite lengths, 64-bit floats, no tag but 42.

    cbor2 in its default (non-canonical) mode already writes shortest
    integers, definite lengths and 64-bit floats and keeps dict order; we
    supply the order and refuse every type DAG-CBOR does not have."""
    return cbor2.dumps(_dag_normal(obj, 0))


def _dag_normal(obj: Any, depth: int) -> Any:
    if depth > 64:
        raise IpnsError("record data is nested too deeply")
    if obj is None or isinstance(obj, (bool, bytes, str)):
        return obj
    if isinstance(obj, int):
        if not -(1 << 64) <= obj <= MAX_UINT64:
            raise IpnsError("record data holds an integer outside 64 bits")
        return obj
    if isinstance(obj, float):
        if not math.isfinite(obj):
            raise IpnsError("record data holds a NaN or infinite float")
        return obj
    if isinstance(obj, list):
        return [_dag_normal(v, depth + 1) for v in obj]
    if isinstance(obj, dict):
        if not all(isinstance(k, str) for k in obj):
            raise IpnsError("record data has a map key that is not a string")
        keys = sorted(obj, key=lambda k: (len(k.encode()), k.encode()))
        return {k: _dag_normal(obj[k], depth + 1) for k in keys}
    if isinstance(obj, cbor2.CBORTag) and obj.tag == 42 and isinstance(obj.value, bytes):
        return obj
    raise IpnsError(f"record data holds a {type(obj).__name__}, which DAG-CBOR does not have")


def _decode_data(data: bytes) -> dict[str, Any]:
    """`IpnsEntry.data` as a map, only if it is canonical DAG-CBOR: re-encoding
    what cbor2 read must give back the very bytes (this also refuses trailing
    bytes, duplicate keys, unsorted keys, indefinite lengths and long heads)."""
    try:
        doc = cbor2.loads(data)
    except Exception as exc:  # a third-party decoder on hostile bytes: any failure means "not CBOR"
        raise IpnsError(f"record data is not CBOR ({type(exc).__name__})") from None
    if not isinstance(doc, dict):
        raise IpnsError("record data is not a CBOR map")
    if _dag_cbor(doc) != data:
        raise IpnsError("record data is not canonical DAG-CBOR")
    return doc


# -- protobuf, just the wire format IpnsEntry and PublicKey need --------------------
def _uint_field(number: int, value: int) -> bytes:
    return varint(number << 3) + varint(value)


def _bytes_field(number: int, value: bytes) -> bytes:
    return varint(number << 3 | 2) + varint(len(value)) + value


def _decode_fields(buf: bytes, varints: set[int], blobs: set[int], what: str) -> dict[int, int | bytes]:
    """Known fields of a protobuf message by number (the last occurrence wins,
    as protobuf says); unknown fields are skipped; a known field with the
    wrong wire type, a group or a cut-short field is an error."""
    out: dict[int, int | bytes] = {}
    pos = 0
    try:
        while pos < len(buf):
            tag, pos = read_varint(buf, pos)
            number, wire = tag >> 3, tag & 7
            if number == 0 or (number in varints and wire != 0) or (number in blobs and wire != 2):
                raise IpnsError(f"malformed {what} protobuf: field {number} with wire type {wire}")
            if wire == 0:
                value, pos = read_varint(buf, pos)
                if value > MAX_UINT64:
                    raise IpnsError(f"malformed {what} protobuf: varint over 64 bits")
                out[number] = value
            elif wire == 2:
                length, pos = read_varint(buf, pos)
                if pos + length > len(buf):
                    raise IpnsError(f"malformed {what} protobuf: truncated field {number}")
                out[number] = buf[pos:pos + length]
                pos += length
            elif wire in (1, 5):
                pos += 8 if wire == 1 else 4
                if pos > len(buf):
                    raise IpnsError(f"malformed {what} protobuf: truncated field {number}")
            else:
                raise IpnsError(f"malformed {what} protobuf: unsupported wire type {wire}")
    except CIDError as exc:
        raise IpnsError(f"malformed {what} protobuf: {exc}") from None
    return {n: v for n, v in out.items() if n in varints or n in blobs}


def _as_bytes(value: int | bytes) -> bytes:
    assert isinstance(value, bytes)   # _decode_fields checked the wire type
    return value


# -- base36 / base32 multibase bodies ----------------------------------------------
def _b36decode(text: str) -> bytes | None:
    if not text:
        return None
    try:
        return radix_decode(text, BASE36)
    except CIDError:
        return None


def _b32decode(body: str) -> bytes:
    if not body or body != body.lower():
        raise IpnsError("IPNS name is not lower-case base32")
    try:
        raw = base64.b32decode(body.upper() + "=" * (-len(body) % 8))
    except ValueError:
        raise IpnsError("IPNS name is not base32") from None
    if base64.b32encode(raw).decode().lower().rstrip("=") != body:
        raise IpnsError("IPNS name is not canonical base32")
    return raw
