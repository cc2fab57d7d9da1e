"""DNSLink values: exactly one `/ipfs/` or `/ipns/` root among the TXT strings,
other data ignored, ambiguity and paths refused."""

import pytest

from sealedreg.publish.dnslink import PREFIX, DnsLink, DnsLinkError, parse_dnslink, record_value

CID = "bafybeigdyrzt5sfp7udm7hu76uh7y26nf3efuylqabf3oclgtqy55fbzdi"
CID2 = "bafkreigh2akiscaildcqabsyg3dfr6chu3fgpregiymsck7e7aqa4s52zy"
NAME = "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"


def test_prefix_is_the_dnslink_subdomain():
    assert PREFIX == "_dnslink."


@pytest.mark.parametrize("link", [DnsLink("ipfs", CID), DnsLink("ipns", NAME), DnsLink("ipns", "example.com")])
def test_record_value_round_trip(link):
    value = record_value(link)
    assert value == f"dnslink=/{link.namespace}/{link.identifier}"
    assert parse_dnslink("acme.test", [value]) == link
    assert str(parse_dnslink("acme.test", [value])) == value.removeprefix("dnslink=")


def test_one_link_among_other_strings():
    values = ["v=spf1 -all", "dnslink=/foo/bar", "dnslink=", f"dnslink=/ipfs/{CID}", "google-site=abc"]
    assert parse_dnslink("acme.test", values) == DnsLink("ipfs", CID)


def test_the_same_value_twice_is_one_link():
    value = f"dnslink=/ipfs/{CID}"
    assert parse_dnslink("acme.test", [value, value, f"  {value} "]) == DnsLink("ipfs", CID)


def test_two_different_values_are_refused_not_guessed():
    with pytest.raises(DnsLinkError, match="2 different dnslink values") as e:
        parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}", f"dnslink=/ipfs/{CID2}"])
    assert CID in str(e.value) and CID2 in str(e.value) and "_dnslink.acme.test" in str(e.value)
    with pytest.raises(DnsLinkError, match="different"):
        parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}", f"dnslink=/ipns/{NAME}"])


def test_ipfs_and_ipns_of_the_same_identifier_are_different_values():
    with pytest.raises(DnsLinkError, match="2 different"):
        parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}", f"dnslink=/ipns/{CID}"])


@pytest.mark.parametrize("values", [
    [],
    [""],
    ["   "],
    ["dnslink="],
    ["dnslink=/"],
    ["dnslink=/foo/bar"],  # another DNSLink namespace
    ["dnslink=/ipfs"],  # no identifier
    [f"dnslink=ipfs/{CID}"],  # not absolute
    [f"DNSLINK=/ipfs/{CID}"],  # the field name is lowercase
    [f"dnslink:/ipfs/{CID}"],
    [f"/ipfs/{CID}"],  # the bare path without the field
    [f"x dnslink=/ipfs/{CID}"],
    [f"dnslink=/IPFS/{CID}"],
    ["v=sealedreg1; sig=ed25519:AAAA"],
])
def test_no_usable_value(values):
    with pytest.raises(DnsLinkError, match="no dnslink="):
        parse_dnslink("acme.test", values)


def test_other_namespaces_do_not_conflict_with_the_one_link():
    values = ["dnslink=/foo/bar", "dnslink=/dns/acme.test", f"dnslink=/ipfs/{CID}"]
    assert parse_dnslink("acme.test", values) == DnsLink("ipfs", CID)


@pytest.mark.parametrize("text", [
    f"  dnslink=/ipfs/{CID}",
    f"dnslink=/ipfs/{CID}  ",
    f"\tdnslink=/ipfs/{CID}\n",
    f"dnslink=  /ipfs/{CID}",  # whitespace after the field
])
def test_surrounding_whitespace_is_ignored(text):
    assert parse_dnslink("acme.test", [text]) == DnsLink("ipfs", CID)


def test_a_trailing_slash_is_still_the_root():
    assert parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}/"]) == DnsLink("ipfs", CID)


@pytest.mark.parametrize("text", [
    f"dnslink=/ipfs/{CID}/sub",
    f"dnslink=/ipfs/{CID}/sub/dir",
    f"dnslink=/ipfs/{CID}//sub",
    f"dnslink=/ipns/{NAME}/x",
    "dnslink=/ipfs//x",  # an empty identifier
    "dnslink=/ipfs/",
    "dnslink=/ipns/",
])
def test_a_path_below_the_root_or_no_root_is_refused(text):
    with pytest.raises(DnsLinkError, match="must name a tree root"):
        parse_dnslink("acme.test", [text])


def test_a_path_below_the_root_is_refused_even_beside_a_good_value():
    with pytest.raises(DnsLinkError, match="tree root"):
        parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}", f"dnslink=/ipfs/{CID}/sub"])


def test_over_long_values_are_ignored():
    long = f"dnslink=/ipfs/{'b' * 1100}"
    with pytest.raises(DnsLinkError, match="no dnslink="):
        parse_dnslink("acme.test", [long])
    assert parse_dnslink("acme.test", [long, f"dnslink=/ipfs/{CID}"]) == DnsLink("ipfs", CID)
    # a long path below a root is ignored as over-long rather than refused
    assert parse_dnslink("acme.test", [f"dnslink=/ipfs/{CID}/{'x' * 1100}", f"dnslink=/ipfs/{CID}"]) \
        == DnsLink("ipfs", CID)


def test_the_length_limit_is_inclusive():
    at_limit = "dnslink=/ipfs/" + "b" * (1024 - len("dnslink=/ipfs/"))
    assert len(at_limit) == 1024
    assert parse_dnslink("acme.test", [at_limit]).identifier == "b" * (1024 - len("dnslink=/ipfs/"))
    with pytest.raises(DnsLinkError):
        parse_dnslink("acme.test", [at_limit + "b"])


def test_the_error_is_a_value_error_naming_the_domain():
    with pytest.raises(ValueError, match="_dnslink.acme.test"):
        parse_dnslink("acme.test", ["junk"])


def test_dnslink_is_hashable_and_frozen():
    link = DnsLink("ipfs", CID)
    assert {link, DnsLink("ipfs", CID)} == {link}
    with pytest.raises(AttributeError):
        link.namespace = "ipns"  # type: ignore[misc]
