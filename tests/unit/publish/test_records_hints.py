"""Discovery hints in `_sealedreg` TXT strings: `ipfsnode=` (a multiaddr with
/p2p/) and `gateway=` (an http(s) URL); malformed hints dropped, each hint
once, only `v=sealedreg1` strings counted; written by `keys_record`."""

import pytest

from sealedreg.crypto.keys import OrgKeys
from sealedreg.publish.records import Hints, hints_from_records, keys_from_records, keys_record, parse_fields

KEYS = OrgKeys.generate("acme.test")
PEER = "12D3KooWQYhTNQdmr3ArTeUHRYzFg94BKyTkoWBDWez9kSCVe2Xo"
NODE = f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}"
NODE6 = f"/ip6/::1/tcp/4001/p2p/{PEER}"
GW = "https://registry.acme.test"


def rec(**fields) -> str:
    base = f"v=sealedreg1; sig={KEYS.public.sig_text}; box={KEYS.public.box_text}"
    return "; ".join([base, *(f"{k}={v}" for k, v in fields.items())])


def test_no_hints():
    assert hints_from_records([]) == Hints()
    assert hints_from_records([rec()]) == Hints((), ())
    assert Hints().as_dict() == {"ipfsnode": [], "gateway": []}


def test_both_hints_are_read():
    hints = hints_from_records([rec(ipfsnode=NODE, gateway=GW)])
    assert hints == Hints((NODE,), (GW,))
    assert hints.as_dict() == {"ipfsnode": [NODE], "gateway": [GW]}


@pytest.mark.parametrize("node", [
    NODE, NODE6, f"/dns4/ipfs.acme.test/tcp/4001/p2p/{PEER}", f"/ip4/10.0.0.1/udp/4001/quic-v1/p2p/{PEER}",
    f"/dns/node-1.acme.test/tcp/4001/p2p/{PEER}",
])
def test_well_formed_multiaddrs(node):
    assert hints_from_records([rec(ipfsnode=node)]).ipfsnodes == (node,)


@pytest.mark.parametrize("node", [
    "/ip4/127.0.0.1/tcp/4001",  # no /p2p/
    f"/p2p/{PEER}",  # nothing to dial
    f"ip4/127.0.0.1/tcp/4001/p2p/{PEER}",  # not absolute
    "/ip4/127.0.0.1/tcp/4001/p2p/short",
    f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}0OIl",  # not base58
    f"/ip4/127.0.0.1/tcp/4001/p2p/{PEER}/extra",
    f"/ip4/127.0.0.1 /tcp/4001/p2p/{PEER}",
    f"/ip4/127.0.0.1/tcp/4001/p2p/{'1' * 61}",
    "",
    "javascript:alert(1)",
])
def test_malformed_multiaddrs_are_dropped(node):
    assert hints_from_records([rec(ipfsnode=node)]).ipfsnodes == ()


@pytest.mark.parametrize("url, kept", [
    (GW, GW),
    (GW + "/", GW),
    ("http://127.0.0.1:5000", "http://127.0.0.1:5000"),
    ("http://[::1]:5000/", "http://[::1]:5000"),
    ("https://acme.test/registry/", "https://acme.test/registry"),
    ("https://acme.test/a_b~c.d-e", "https://acme.test/a_b~c.d-e"),
])
def test_well_formed_gateways(url, kept):
    assert hints_from_records([rec(gateway=url)]).gateways == (kept,)


@pytest.mark.parametrize("url", [
    "ftp://acme.test",
    "file:///etc/passwd",
    "acme.test",
    "//acme.test",
    "https://",
    "https://acme.test/?q=1",
    "https://acme.test/#frag",
    "https://user@acme.test",
    "https://acme.test/a b",
    "HTTPS://acme.test",
    "javascript:alert(1)",
    "",
])
def test_malformed_gateways_are_dropped(url):
    assert hints_from_records([rec(gateway=url)]).gateways == ()


@pytest.mark.parametrize("url", ["http://acme.test:abc", "http://a:b:c"])
def test_gateways_with_a_malformed_authority_are_dropped(url):
    assert hints_from_records([rec(gateway=url)]).gateways == ()


def test_duplicates_are_kept_once_in_order():
    records = [rec(ipfsnode=NODE, gateway=GW), rec(ipfsnode=NODE, gateway=GW + "/"),
               rec(ipfsnode=NODE6, gateway="http://127.0.0.1:5000")]
    assert hints_from_records(records) == Hints((NODE, NODE6), (GW, "http://127.0.0.1:5000"))


def test_only_sealedreg1_strings_count():
    records = [f"ipfsnode={NODE}; gateway={GW}",  # no version
               f"v=sealedreg2; ipfsnode={NODE6}; gateway=http://other.test",
               f"v=spf1; gateway={GW}",
               "v=sealedreg1; gateway=http://hint-only.test"]  # keys not needed for hints
    assert hints_from_records(records) == Hints((), ("http://hint-only.test",))


def test_a_bad_hint_does_not_drop_the_good_one_beside_it():
    hints = hints_from_records([rec(ipfsnode="/ip4/1.2.3.4/tcp/1", gateway=GW),
                                rec(ipfsnode=NODE, gateway="ftp://x")])
    assert hints == Hints((NODE,), (GW,))


def test_the_last_of_a_repeated_field_in_one_string_wins():
    assert parse_fields(f"v=sealedreg1; gateway=http://a.test; gateway={GW}")["gateway"] == GW
    assert hints_from_records([f"v=sealedreg1; gateway=http://a.test; gateway={GW}"]).gateways == (GW,)


def test_keys_record_round_trip_with_hints():
    txt = keys_record(KEYS.public, Hints((NODE,), (GW,)))
    assert txt == (f"v=sealedreg1; sig={KEYS.public.sig_text}; box={KEYS.public.box_text}; "
                   f"ipfsnode={NODE}; gateway={GW}")
    back = keys_from_records("acme.test", ["other", txt])
    assert bytes(back.sig) == bytes(KEYS.sig.verify_key) and bytes(back.box) == bytes(KEYS.box.public_key)
    assert hints_from_records(["other", txt]) == Hints((NODE,), (GW,))


def test_keys_record_without_hints_has_no_hint_fields():
    txt = keys_record(KEYS.public)
    assert "ipfsnode" not in txt and "gateway" not in txt
    assert keys_record(KEYS.public, Hints()) == txt
    assert hints_from_records([txt]) == Hints()


def test_keys_record_writes_only_the_first_of_each_hint():
    txt = keys_record(KEYS.public, Hints((NODE, NODE6), (GW, "http://second.test")))
    assert txt.count("ipfsnode=") == 1 and txt.count("gateway=") == 1
    assert hints_from_records([txt]) == Hints((NODE,), (GW,))


def test_keys_record_fields_parse_back():
    txt = keys_record(KEYS.public, Hints((NODE,), (GW,)))
    assert ";" not in NODE and ";" not in GW
    assert len(parse_fields(txt)) == 5


def test_hints_with_only_one_kind():
    assert keys_from_records("acme.test", [keys_record(KEYS.public, Hints((), (GW,)))]).name == "acme.test"
    assert hints_from_records([keys_record(KEYS.public, Hints((NODE,)))]) == Hints((NODE,), ())
