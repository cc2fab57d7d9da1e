"""Size buckets: every padded length is a power of two at least a minimum, and
`unpad` takes back exactly what `pad` wrote — nothing cut short, overlong or dirty."""

import json
import struct
from pathlib import Path

import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from sealedreg.crypto.padding import (MAX_PADDED, MIN_BODY, MIN_COUNT, MIN_INDEX, PaddingError, bucket, is_bucket,
                                      pad, unpad)

V = json.loads((Path(__file__).parents[2] / "vectors" / "seal-v2.json").read_text())


@pytest.mark.parametrize("case", V["padding"]["buckets"], ids=lambda c: f"{c['n']}-min{c['minimum']}")
def test_bucket_vectors(case):
    assert bucket(case["n"], case["minimum"]) == case["bucket"]


@pytest.mark.parametrize("case", V["padding"]["pads"], ids=lambda c: c["data_hex"][:16] or "empty")
def test_pad_vectors(case):
    data, padded = bytes.fromhex(case["data_hex"]), bytes.fromhex(case["padded_hex"])
    assert pad(data, case["minimum"]) == padded
    assert unpad(padded, case["minimum"]) == data


@pytest.mark.parametrize("failure", V["padding_failures"], ids=[f["name"] for f in V["padding_failures"]])
def test_padding_failure_vectors(failure):
    with pytest.raises(PaddingError, match=failure["error"]):
        unpad(bytes.fromhex(failure["padded_hex"]), failure["minimum"])


def test_the_minimums_are_buckets():
    """A minimum that is not a power of two would make every size a bucket above it."""
    for minimum in (MIN_BODY, MIN_INDEX, MIN_COUNT, MAX_PADDED):
        assert bucket(minimum, 1) == minimum and is_bucket(minimum, minimum)


@settings(max_examples=200, deadline=None)
@given(n=st.integers(0, 1 << 30), minimum=st.integers(1, 1 << 16))
def test_a_bucket_is_the_smallest_power_of_two_at_least_both(n, minimum):
    size = bucket(n, minimum)
    assert size & (size - 1) == 0 and size >= n and size >= minimum
    assert size // 2 < max(n, minimum)


@settings(max_examples=200, deadline=None)
@given(data=st.binary(max_size=600), minimum=st.sampled_from([4, 16, 64, 256]))
def test_pad_round_trips_to_a_bucket(data, minimum):
    padded = pad(data, minimum)
    assert len(padded) == bucket(len(data) + 4, minimum) and is_bucket(len(padded), minimum)
    assert unpad(padded, minimum) == data


def test_every_shorter_cut_is_refused():
    padded = pad(b"sealedreg", 64)
    for end in range(len(padded)):
        with pytest.raises(PaddingError):
            unpad(padded[:end], 64)


def test_unpad_needs_the_minimum_it_was_padded_to():
    with pytest.raises(PaddingError, match="not a size bucket"):
        unpad(pad(b"x", 16), 32)


def test_the_largest_bucket():
    assert len(pad(bytes(MAX_PADDED - 4), 16)) == MAX_PADDED
    with pytest.raises(PaddingError, match="largest bucket"):
        pad(bytes(MAX_PADDED - 3), 16)
    oversize = struct.pack(">I", 1) + bytes(2 * MAX_PADDED - 4)
    with pytest.raises(PaddingError, match="not a size bucket"):
        unpad(oversize, 16)


@pytest.mark.parametrize("n, minimum", [(-1, 8), (0, 0), (1, -8)])
def test_bucket_arguments(n, minimum):
    with pytest.raises(ValueError):
        bucket(n, minimum)


def test_fewer_bytes_than_a_length_prefix_are_refused_whatever_the_minimum():
    with pytest.raises(PaddingError, match="not a size bucket"):
        unpad(b"\0\0", 1)
