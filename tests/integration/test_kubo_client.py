"""sealedreg's Kubo RPC client against a real Kubo: every call it offers."""

from __future__ import annotations

import asyncio

import pytest

from sealedreg.storage.car import read_car_async
from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.kubo_rpc import KuboClient, KuboError, KuboTimeouts, KuboUnavailable
from sealedreg.storage.unixfs import chunked
from tests.helpers.unixfs_vectors import file_cid
from tests.helpers.kubo import run_kubo
from tests.helpers.server import free_port

pytestmark = pytest.mark.integration


def run(coro):
    return asyncio.run(coro)


async def leaves(data: bytes):
    for c in chunked(data):
        yield c


def test_client_calls(tmp_path):
    data = bytes(range(256)) * 9000 + b"tail"
    with run_kubo(tmp_path, "a") as a:
        async def go():
            k = KuboClient(a.api_url)
            try:
                cid, size = await k.add(leaves(data))
                assert cid == file_cid(chunked(data)) and size == len(data)
                assert await k.is_pinned(cid)
                got = b"".join([p async for p in k.cat(cid, 1_048_570, 20)])
                assert got == data[1_048_570:1_048_590]
                got = b"".join([p async for p in k.read_file(cid, 5, 100, 1 << 20)])
                assert got == data[5:105] and await k.gateway()
                refs = await k.refs(cid)
                assert len(refs) == 2  # three leaves, two of them identical
                block = await k.block_get(refs[0])
                assert CID.parse(refs[0]).verify(block)
                small = CID.of(b"hello block", RAW)
                assert await k.block_put(b"hello block", "raw") == str(small)
                await k.files_mkdir("/t/x")
                await k.files_cp(f"/ipfs/{cid}", "/t/blob")
                assert (await k.files_stat("/t/blob"))["Hash"] == cid
                await k.files_rm("/t")
                await k.files_rm("/t")  # gone already: not an error
                assert await k.files_stat("/t") is None
                # the DAG out as a CAR: every block, each matching its CID
                blocks = [(c, b) async for c, b in read_car_async(k.dag_export(cid))]
                assert {str(c) for c, _ in blocks} == {cid, *refs}
                await k.pin_rm(cid)
                await k.pin_rm(cid)  # not pinned any more: not an error
                assert not await k.is_pinned(cid)
                await k.pin_add(cid)
                assert await k.is_pinned(cid)
                with pytest.raises(KuboError) as info:
                    await k.block_get("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku-not")
                assert info.value.kubo_message
            finally:
                await k.aclose()

        run(go())


def test_unreachable_kubo_is_typed_and_bounded():
    async def go():
        k = KuboClient(f"http://127.0.0.1:{free_port()}", KuboTimeouts(connect=0.5, read=0.5, retries=2, backoff=0.01))
        try:
            with pytest.raises(KuboUnavailable):
                await k.refs("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")
            with pytest.raises(KuboUnavailable):
                [p async for p in k.cat("bafkreihdwdcefgh4dqkjv67uzcmw7ojee6xedzdetojuzjevtenxquvyku")]
        finally:
            await k.aclose()

    run(go())
