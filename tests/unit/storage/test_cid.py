import pytest

from sealedreg.storage.cid import CID, DAG_PB, RAW, CIDError, read_varint, varint


def test_known_cids():
    assert str(CID.of(b"", RAW)) == "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku"
    # Kubo's empty UnixFS file node, as CIDv0
    v0 = CID.parse("QmbFMke1KXqnYyBBWxB74N4c5SBnJMVAiMNRcGu6x1AwQH")
    assert v0.verify(bytes.fromhex("0a0408021800"))


def test_round_trips():
    c = CID.of(b"block", DAG_PB)
    assert CID.parse(str(c)) == c
    assert CID.from_bytes(c.to_bytes()) == c
    for n in (0, 1, 127, 128, 300, 2**40):
        assert read_varint(varint(n), 0) == (n, len(varint(n)))


@pytest.mark.parametrize("text", ["", "bafy", "Bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku",
                                  "zdj7W", "b" + "a" * 200, "../../etc/passwd", "bafkrei!!!",
                                  "bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyk"])
def test_bad_text(text):
    with pytest.raises(CIDError):
        CID.parse(text)


def test_bad_binary():
    with pytest.raises(CIDError):
        CID.from_bytes(b"\x01\x71\x12\x20" + bytes(32))  # dag-cbor: not ours
    with pytest.raises(CIDError):
        CID.from_bytes(b"\x01\x55\x13\x40" + bytes(64))  # sha2-512
    with pytest.raises(CIDError):
        CID.from_bytes(CID.of(b"x", RAW).to_bytes()[:-1])
    with pytest.raises(CIDError):
        read_varint(b"\xff" * 10, 0)
