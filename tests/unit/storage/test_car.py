import asyncio
import io

import pytest

from sealedreg.storage.car import CarError, CarWriter, decode_header, encode_header, read_car, read_car_async
from sealedreg.storage.cid import CID, DAG_PB, RAW, varint


def car_bytes(roots, blocks) -> bytes:
    f = io.BytesIO()
    w = CarWriter(f, roots)
    for c, b in blocks:
        w.add(c, b)
    return f.getvalue()


A, B = CID.of(b"a", RAW), CID.of(b"b", DAG_PB)


def test_round_trip_sync_and_async():
    raw = car_bytes([A], [(A, b"a"), (B, b"b")])
    roots, blocks = read_car(io.BytesIO(raw))
    assert roots == [A] and list(blocks) == [(A, b"a"), (B, b"b")]

    async def stream():
        for i in range(0, len(raw), 7):
            yield raw[i:i + 7]

    async def go():
        return [x async for x in read_car_async(stream())]

    assert asyncio.run(go()) == [(A, b"a"), (B, b"b")]


def test_header_is_dag_cbor():
    # {"roots": [A], "version": 1} with keys in dag-cbor order
    assert decode_header(encode_header([A, B])) == [A, B]
    assert encode_header([]).startswith(b"\xa2eroots")


@pytest.mark.parametrize("raw", [
    b"",
    varint(10) + b"short",
    varint(2 << 20) + b"x",  # oversized header
    varint(3) + b"\xa1\x01\x02",  # not our header
    varint(len(b"\xa2eroots\x80gversion\x02")) + b"\xa2eroots\x80gversion\x02",  # version 2
])
def test_bad_headers(raw):
    with pytest.raises(CarError):
        roots, blocks = read_car(io.BytesIO(raw))
        list(blocks)


def test_bad_sections():
    good = car_bytes([A], [(A, b"a")])
    with pytest.raises(CarError, match="does not match"):
        list(read_car(io.BytesIO(car_bytes([A], [(A, b"tampered")])))[1])
    with pytest.raises(CarError, match="truncated"):
        list(read_car(io.BytesIO(good[:-1]))[1])
    with pytest.raises(CarError, match="too large"):
        list(read_car(io.BytesIO(car_bytes([A], []) + varint(64 << 20)))[1])
    with pytest.raises(CarError):
        list(read_car(io.BytesIO(car_bytes([A], []) + varint(5) + b"\x01\x71\x12\x20\x00"))[1])


# -- the car-v1 vector ------------------------------------------------------------
import json  # noqa: E402
from pathlib import Path  # noqa: E402

V = json.loads((Path(__file__).parents[2] / "vectors" / "car-v1.json").read_text())


def test_the_vector_reads_back_exactly():
    roots, blocks = read_car(io.BytesIO(bytes.fromhex(V["car_hex"])))
    assert [str(r) for r in roots] == V["roots"]
    assert [(str(c), b.hex()) for c, b in blocks] == [(b["cid"], b["hex"]) for b in V["blocks"]]
    written = car_bytes([CID.parse(r) for r in V["roots"]],
                        [(CID.parse(b["cid"]), bytes.fromhex(b["hex"])) for b in V["blocks"]])
    assert written.hex() == V["car_hex"]


@pytest.mark.parametrize("failure", V["failures"], ids=[f["name"] for f in V["failures"]])
def test_failure_vectors_are_refused_sync_and_async(failure):
    raw = bytes.fromhex(failure["car_hex"])
    with pytest.raises(CarError, match=failure["error"]):
        roots, blocks = read_car(io.BytesIO(raw))
        list(blocks)

    async def stream():
        for i in range(0, len(raw), 5):
            yield raw[i:i + 5]

    async def go():
        return [x async for x in read_car_async(stream())]

    with pytest.raises(CarError):
        asyncio.run(go())
