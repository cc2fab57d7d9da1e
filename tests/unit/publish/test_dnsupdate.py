"""RFC 2136 updates, the pure parts: TSIG key files, TXT splitting, server
addresses and the UPDATE message (its prerequisite and update sections)."""

from __future__ import annotations

import asyncio
import base64
import os

import dns.flags
import dns.message
import dns.name
import dns.opcode
import dns.rdataclass
import dns.rdatatype
import dns.rrset
import pytest

from sealedreg.publish.dnsupdate import (DnsUpdateError, TsigKey, build_update, load_tsig_key, replace_txt,
                                         split_server, txt_strings)

SECRET = os.urandom(32)
B64 = base64.b64encode(SECRET).decode()
KEY = TsigKey("sealedreg-test", "hmac-sha256", SECRET)


def write(tmp_path, text: str, mode: int = 0o600):
    path = tmp_path / "update.key"
    path.write_text(text)
    path.chmod(mode)
    return path


# --- key files ---------------------------------------------------------------

def test_bind_key_file_as_tsig_keygen_writes_it(tmp_path):
    key = load_tsig_key(write(tmp_path, f'key "sealedreg-test" {{\n\talgorithm hmac-sha256;\n\tsecret "{B64}";\n}};\n'))
    assert key == KEY


def test_bind_key_file_with_comments_unquoted_name_and_one_line(tmp_path):
    secret = base64.b64encode(b"\xff\xff\xfc" * 11).decode()  # "///8..." — `//` inside the quotes
    assert "//" in secret
    text = (f"# made by hand\n// another comment\n/* a\nblock */ key  update.example.com.{{algorithm HMAC-SHA512;"
            f' secret "{secret}"; /* trailing */ }} ;  # done\n')
    key = load_tsig_key(write(tmp_path, text))
    assert key == TsigKey("update.example.com.", "hmac-sha512", b"\xff\xff\xfc" * 11)


def test_knot_keymgr_yaml(tmp_path):
    text = (f"# hmac-sha384:knot-key:{B64}\nkey:\n  - id: knot-key\n    algorithm: hmac-sha384\n"
            f"    secret: {B64}\n")
    assert load_tsig_key(write(tmp_path, text)) == TsigKey("knot-key", "hmac-sha384", SECRET)
    quoted = f'key:\n  - id: "knot-key"   # the name\n    algorithm: hmac-sha256\n    secret: \'{B64}\'\n'
    assert load_tsig_key(write(tmp_path, quoted)) == TsigKey("knot-key", "hmac-sha256", SECRET)


@pytest.mark.parametrize("text, error", [
    (f'key "k" {{ algorithm hmac-md5; secret "{B64}"; }};', "unsupported algorithm 'hmac-md5'"),
    ('key "k" { algorithm hmac-sha256; };', "has no secret"),
    (f'key "k" {{ secret "{B64}"; }};', "has no algorithm"),
    ('key "k" { algorithm hmac-sha256; secret "not*base64!"; };', "not valid base64"),
    ('key "k" { algorithm hmac-sha256; secret ""; };', "has no secret"),
    (f'key "k" {{ algorithm hmac-sha256; secret "{B64}"; }}', "exactly one"),
    (f'key "k" {{ algorithm hmac-sha256; secret "{B64}"; }}; key "j" {{ }};', "exactly one"),
    (f'key "k" {{ algorithm hmac-sha256; secret "{B64}"; nope x; }};', "expected `algorithm"),
    (f'key "k" {{ algorithm hmac-sha256; algorithm hmac-sha512; secret "{B64}"; }};', "given twice"),
    (f'key "a..b" {{ algorithm hmac-sha256; secret "{B64}"; }};', "not a DNS name"),
    ("options { };", "is not a key file"),
    ("", "is not a key file"),
    (f"key:\n  - id: k\n    algorithm: hmac-sha1024\n    secret: {B64}\n", "unsupported algorithm"),
    ("key:\n  - id: k\n    algorithm: hmac-sha256\n", "has no secret"),
    (f"key:\n  - id: k\n    algorithm: hmac-sha256\n    secret: {B64}x\n", "not valid base64"),
    (f"key:\n  - id: k\n    secret: {B64}\n  - id: j\n    secret: {B64}\n", "exactly one key, not 2"),
    (f"key:\n  - id: k\n    colour: blue\n    secret: {B64}\n", "line 3"),
    (f"key:\n  - algorithm: hmac-sha256\n    secret: {B64}\n", "has no name"),
])
def test_bad_key_files_say_what_is_wrong_never_the_secret(tmp_path, text, error):
    path = write(tmp_path, text)
    with pytest.raises(DnsUpdateError, match=error) as info:
        load_tsig_key(path)
    assert str(path) in str(info.value)
    assert B64 not in str(info.value) and B64[:12] not in str(info.value)


def test_key_file_readable_by_others_or_missing_is_refused(tmp_path):
    path = write(tmp_path, f'key "k" {{ algorithm hmac-sha256; secret "{B64}"; }};', mode=0o644)
    with pytest.raises(DnsUpdateError, match="readable by others"):
        load_tsig_key(path)
    with pytest.raises(DnsUpdateError, match="not found"):
        load_tsig_key(tmp_path / "missing.key")


def test_secret_never_in_repr():
    assert B64 not in repr(KEY) and repr(SECRET) not in repr(KEY)


# --- TXT strings and server addresses ----------------------------------------

@pytest.mark.parametrize("size, parts", [(0, [0]), (1, [1]), (255, [255]), (256, [255, 1]), (600, [255, 255, 90])])
def test_txt_strings_split_at_255_bytes(size, parts):
    value = "".join(chr(ord("a") + i % 26) for i in range(size))
    strings = txt_strings(value)
    assert [len(s) for s in strings] == parts
    assert b"".join(strings).decode() == value


def test_txt_strings_count_utf8_bytes():
    strings = txt_strings("é" * 200)  # 400 bytes
    assert [len(s) for s in strings] == [255, 145] and b"".join(strings) == ("é" * 200).encode()


@pytest.mark.parametrize("text, expected", [
    ("127.0.0.1:5353", ("127.0.0.1", 5353)),
    ("127.0.0.1", ("127.0.0.1", 53)),
    ("ns1.example.com:53", ("ns1.example.com", 53)),
    ("[::1]:5353", ("::1", 5353)),
    ("[2001:db8::1]", ("2001:db8::1", 53)),
    ("::1", ("::1", 53)),
    (" 10.0.0.1:65535 ", ("10.0.0.1", 65535)),
])
def test_split_server(text, expected):
    assert split_server(text) == expected


@pytest.mark.parametrize("text", ["", ":53", "127.0.0.1:", "127.0.0.1:0", "127.0.0.1:65536", "127.0.0.1:dns",
                                  "[::1", "[::1]53", "2001:db8::zz", "a b:53", "[]:53"])
def test_split_server_refuses_malformed(text):
    with pytest.raises(DnsUpdateError, match="DNS server"):
        split_server(text)


# --- the UPDATE message ------------------------------------------------------

def rrs(section):
    """The section as it goes on the wire: (name, class, type, TTL, strings) per RR, in order;
    an RR without rdata (a whole-RRset prerequisite or delete) has strings None."""
    rows = []
    for r in section:
        klass = dns.rdataclass.to_text(r.deleting if r.deleting is not None else r.rdclass)
        head = (str(r.name), klass, dns.rdatatype.to_text(r.rdtype), r.ttl)
        rows += [(*head, tuple(rd.strings)) for rd in r] if len(r) else [(*head, None)]
    return rows


def test_update_creates_when_absent_and_replaces_exact_values():
    long = "x" * 300
    msg = build_update("acme.test", KEY, {"_dnslink.acme.test": ["dnslink=/ipfs/b1", long],
                                          "_sealedreg.acme.test": ["v=sealedreg1; sig=a"]},
                       {"_dnslink.acme.test": ["dnslink=/ipfs/b0"], "_sealedreg.acme.test": None}, ttl=120)
    assert str(msg.zone[0].name) == "acme.test." and msg.zone[0].rdtype == dns.rdatatype.SOA
    assert rrs(msg.prerequisite) == [
        # RFC 2136 §2.4.2: value-dependent "RRset exists": class IN, TTL 0, the exact rdata
        ("_dnslink.acme.test.", "IN", "TXT", 0, (b"dnslink=/ipfs/b0",)),
        # §2.4.3: "RRset does not exist": class NONE, type TXT, no rdata
        ("_sealedreg.acme.test.", "NONE", "TXT", 0, None),
    ]
    assert rrs(msg.update) == [
        # §2.5.2 "delete an RRset": class ANY, TTL 0, no rdata; then the new RRs in class IN
        ("_dnslink.acme.test.", "ANY", "TXT", 0, None),
        ("_dnslink.acme.test.", "IN", "TXT", 120, (b"dnslink=/ipfs/b1",)),
        ("_dnslink.acme.test.", "IN", "TXT", 120, (b"x" * 255, b"x" * 45)),
        ("_sealedreg.acme.test.", "ANY", "TXT", 0, None),
        ("_sealedreg.acme.test.", "IN", "TXT", 120, (b"v=sealedreg1; sig=a",)),
    ]
    assert msg.keyname == dns.name.from_text("sealedreg-test")
    assert msg.keyalgorithm == dns.name.from_text("hmac-sha256")
    wire = msg.to_wire()  # signs it
    assert SECRET not in wire and b"sealedreg-test" in wire


def test_update_expected_can_be_exact_strings_and_records_can_empty_a_name():
    msg = build_update("acme.test.", KEY, {"a.acme.test": []}, {"a.acme.test": [(b"dnslink=", b"/ipfs/x"), "y"]},
                       ttl=60)
    assert rrs(msg.prerequisite) == [("a.acme.test.", "IN", "TXT", 0, (b"dnslink=", b"/ipfs/x")),
                                     ("a.acme.test.", "IN", "TXT", 0, (b"y",))]
    assert rrs(msg.update) == [("a.acme.test.", "ANY", "TXT", 0, None)]


@pytest.mark.parametrize("records, expected, ttl, error", [
    ({"a.other.test": ["x"]}, {"a.other.test": None}, 60, "not in zone acme.test."),
    ({"a.acme.test": ["x"]}, {}, 60, "exactly the records"),
    ({"a.acme.test": ["x"]}, {"a.acme.test": None, "b.acme.test": None}, 60, "exactly the records"),
    ({"a.acme.test": ["x"]}, {"a.acme.test": []}, 60, "use None"),
    ({"a.acme.test": ["x"]}, {"a.acme.test": None}, -1, "TTL"),
    ({"a..acme.test": ["x"]}, {"a..acme.test": None}, 60, "not a DNS name"),
])
def test_update_refuses_what_one_atomic_update_cannot_mean(records, expected, ttl, error):
    with pytest.raises(DnsUpdateError, match=error):
        build_update("acme.test", KEY, records, expected, ttl)


# --- the response's TSIG is checked ------------------------------------------

async def update_answered(forge) -> None:
    """replace_txt against a fake primary on loopback whose UPDATE answer is `forge(response)`."""
    keyring = {dns.name.from_text(KEY.name): KEY.to_dnspython()}

    def answer(wire: bytes) -> bytes:
        query = dns.message.from_wire(wire, keyring=keyring)
        response = dns.message.make_response(query)
        response.flags |= dns.flags.AA
        if query.opcode() == dns.opcode.UPDATE:
            forge(response)
        else:  # zone_of's SOA question: an authoritative NODATA naming the zone
            response.authority.append(dns.rrset.from_text("acme.test.", 60, "IN", "SOA", "ns1.acme.test. h.acme.test. 1 2 3 4 5"))
        return response.to_wire()

    async def serve(reader: asyncio.StreamReader, writer: asyncio.StreamWriter) -> None:
        try:
            while True:
                wire = await reader.readexactly(int.from_bytes(await reader.readexactly(2), "big"))
                out = answer(wire)
                writer.write(len(out).to_bytes(2, "big") + out)
                await writer.drain()
        except asyncio.IncompleteReadError:
            pass
        finally:
            writer.close()

    server = await asyncio.start_server(serve, "127.0.0.1", 0)
    async with server:
        port = server.sockets[0].getsockname()[1]
        await replace_txt(f"127.0.0.1:{port}", KEY, {"a.acme.test": ["x"]}, {"a.acme.test": None}, 60, timeout=5)


def test_a_correctly_signed_answer_is_accepted():
    asyncio.run(update_answered(lambda response: None))


@pytest.mark.parametrize("forge, error", [
    (lambda r: setattr(r, "tsig", None), "requires a TSIG"),
    (lambda r: r.use_tsig(TsigKey(KEY.name, KEY.algorithm, b"\x01" * 32).to_dnspython()), "does not verify"),
])
def test_an_unsigned_or_forged_answer_is_not_trusted(forge, error):
    with pytest.raises(DnsUpdateError, match=error):
        asyncio.run(update_answered(forge))
