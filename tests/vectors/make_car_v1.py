"""Regenerate tests/vectors/car-v1.json (only when the format changes).

    python -m tests.vectors.make_car_v1 > tests/vectors/car-v1.json

CARv1 as `sealedreg export` writes it: a dag-cbor header naming one root,
then one section per block. `car_hex` must read back as `roots` and `blocks`
(each block checked against its CID); every entry of `failures` must be
refused with its `error`.
"""

import io
import json

from sealedreg.storage.car import CarWriter, encode_header
from sealedreg.storage.cid import CID, RAW, varint
from sealedreg.storage.unixfs import build_file, chunked

INDEX = b'{"v":"sealedreg-car/v1"}'
LEAVES = [b"first leaf", b"second leaf"]


def car(roots: list[CID], blocks: list[tuple[CID, bytes]]) -> bytes:
    f = io.BytesIO()
    w = CarWriter(f, roots)
    for cid, block in blocks:
        w.add(cid, block)
    return f.getvalue()


def main() -> None:
    index = CID.of(INDEX, RAW)
    blocks: list[tuple[CID, bytes]] = [(index, INDEX)]
    build_file(chunked(b"".join(LEAVES), len(LEAVES[0])), lambda cid, block: blocks.append((cid, block)), max_links=2)
    good = car([index], blocks)
    header_only = car([index], [])
    raw_cid = index.to_bytes()
    bad_header = encode_header([index]).replace(b"gversion\x01", b"gversion\x02")

    def failure(name: str, data: bytes, error: str) -> dict:
        return {"name": name, "car_hex": data.hex(), "error": error}

    print(json.dumps({
        "format": "CARv1 (https://ipld.io/specs/transport/car/carv1/)",
        "car_hex": good.hex(),
        "roots": [str(index)],
        "blocks": [{"cid": str(c), "hex": b.hex()} for c, b in blocks],
        "failures": [
            failure("empty file", b"", "missing or oversized CAR header"),
            failure("header cut short", good[:5], "truncated CAR header"),
            failure("version 2 header", varint(len(bad_header)) + bad_header, "unsupported CAR version"),
            failure("header is not a map", varint(2) + b"\x81\x01", "not a single map"),
            failure("root is not a CID", varint(18) + b"\xa2eroots\x81\x01gversion\x01",
                    "roots must be a list of CIDs"),
            failure("indefinite-length CBOR", varint(1) + b"\xbf", "indefinite-length"),
            failure("a block that does not match its CID", car([index], [(index, INDEX + b"!")]), "does not match"),
            failure("last section cut short", good[:-1], "truncated CAR section"),
            failure("a section claiming 64 MiB", header_only + varint(64 << 20), "too large"),
            failure("a section whose CID is cut short", header_only + varint(4) + raw_cid[:4], "CAR section"),
        ],
    }, indent=2))


if __name__ == "__main__":
    main()
