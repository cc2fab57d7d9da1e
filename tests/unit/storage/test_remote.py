"""Blocks and IPNS records from trustless gateways (mocked HTTP): only the
right bytes are accepted, every other answer moves on to the next gateway;
FetchingStore keeps verified blocks locally and never a wrong one."""

from __future__ import annotations

import asyncio
import hashlib

import httpx
import pytest

from sealedreg.storage.base import ContentCorrupt, ContentMissing, StorageError, StorageUnavailable
from sealedreg.storage.cid import CID, RAW
from sealedreg.storage.embedded import EmbeddedStore
from sealedreg.storage.remote import (
    IPNS_RECORD_TYPE, MAX_BLOCK, MAX_RECORD, RAW_TYPE, FetchingStore, GatewayFetcher,
)
from sealedreg.storage.unixfs import chunked

BLOCK = b"a block of ciphertext"
CID_ = str(CID.of(BLOCK, RAW))
A, B, C = "http://a.test", "http://b.test", "http://c.test"


def run(coro):
    return asyncio.run(coro)


class Gateways:
    """An httpx handler answering per gateway host: bytes, a status, or an exception."""

    def __init__(self, answers: dict) -> None:
        self.answers = answers
        self.requests: list[httpx.Request] = []

    def __call__(self, request: httpx.Request) -> httpx.Response:
        self.requests.append(request)
        answer = self.answers.get(f"{request.url.scheme}://{request.url.host}", 404)
        if isinstance(answer, Exception):
            raise answer
        if callable(answer):
            return answer(request)
        if isinstance(answer, int):
            return httpx.Response(answer, text="nope")
        return httpx.Response(200, content=answer)

    @property
    def hosts(self) -> list[str]:
        return [r.url.host for r in self.requests]


def fetcher_for(handler) -> GatewayFetcher:
    fetcher = GatewayFetcher(timeout=1.0)
    run(fetcher._http.aclose())
    fetcher._http = httpx.AsyncClient(transport=httpx.MockTransport(handler))
    return fetcher


async def _block(fetcher: GatewayFetcher, cid: str, gateways) -> bytes:
    try:
        return await fetcher.block(cid, gateways)
    finally:
        await fetcher.aclose()


async def _record(fetcher: GatewayFetcher, name: str, gateways) -> bytes:
    try:
        return await fetcher.ipns_record(name, gateways)
    finally:
        await fetcher.aclose()


def test_the_right_bytes_are_accepted():
    gws = Gateways({A: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, [A])) == BLOCK
    request = gws.requests[0]
    assert str(request.url) == f"{A}/ipfs/{CID_}?format=raw"
    assert request.headers["accept"] == RAW_TYPE and request.method == "GET"


def test_wrong_bytes_are_refused_and_the_next_gateway_tried():
    gws = Gateways({A: b"forged", B: BLOCK, C: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, [A, B, C])) == BLOCK
    assert gws.hosts == ["a.test", "b.test"]  # stops at the first right answer


def test_only_wrong_bytes_is_unavailable_naming_the_mismatch():
    with pytest.raises(StorageUnavailable, match="do not match") as e:
        run(_block(fetcher_for(Gateways({A: b"forged", B: b""})), CID_, [A, B]))
    assert "a.test" in str(e.value) and "b.test" in str(e.value)


def test_all_404_is_missing():
    gws = Gateways({A: 404, B: 404})
    with pytest.raises(ContentMissing, match="none of the gateways"):
        run(_block(fetcher_for(gws), CID_, [A, B]))
    assert gws.hosts == ["a.test", "b.test"]


def test_no_gateways_is_missing():
    with pytest.raises(ContentMissing, match="no gateway"):
        run(_block(fetcher_for(Gateways({})), CID_, []))


@pytest.mark.parametrize("answers", [
    {A: 500, B: 404},
    {A: 503},
    {A: 301},
    {A: 404, B: 502},
    {A: 404, B: b"forged"},
])
def test_errors_other_than_404_are_unavailable(answers):
    with pytest.raises(StorageUnavailable):
        run(_block(fetcher_for(Gateways(answers)), CID_, list(answers)))


@pytest.mark.parametrize("exc", [httpx.ReadTimeout("slow"), httpx.ConnectTimeout("slow"), httpx.PoolTimeout("x")])
def test_a_timeout_is_unavailable_and_said_so(exc):
    with pytest.raises(StorageUnavailable, match="no answer in time"):
        run(_block(fetcher_for(Gateways({A: exc})), CID_, [A]))


def test_a_connection_failure_moves_on():
    gws = Gateways({A: httpx.ConnectError("refused"), B: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, [A, B])) == BLOCK
    with pytest.raises(StorageUnavailable, match="ConnectError: refused"):
        run(_block(fetcher_for(Gateways({A: httpx.ConnectError("refused")})), CID_, [A]))


def test_a_timeout_moves_on_to_the_next_gateway():
    gws = Gateways({A: httpx.ReadTimeout("slow"), B: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, [A, B])) == BLOCK


def test_an_oversize_answer_is_refused():
    big = b"x" * (MAX_BLOCK + 1)
    with pytest.raises(StorageUnavailable, match=f"larger than {MAX_BLOCK} bytes"):
        run(_block(fetcher_for(Gateways({A: big})), str(CID.of(big, RAW)), [A]))


def test_an_oversize_answer_is_skipped_for_the_next_gateway():
    gws = Gateways({A: b"x" * (MAX_BLOCK + 1), B: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, [A, B])) == BLOCK


def test_a_block_at_the_limit_is_accepted():
    block = b"y" * MAX_BLOCK
    assert run(_block(fetcher_for(Gateways({A: block})), str(CID.of(block, RAW)), [A])) == block


def test_a_bad_cid_is_missing_before_any_request():
    gws = Gateways({A: BLOCK})
    with pytest.raises(ContentMissing):
        run(_block(fetcher_for(gws), "notacid", [A]))
    assert gws.requests == []


def test_redirects_are_not_followed():
    gws = Gateways({A: lambda r: httpx.Response(302, headers={"Location": f"{B}/ipfs/{CID_}"}), B: BLOCK})
    with pytest.raises(StorageUnavailable, match="HTTP 302"):
        run(_block(fetcher_for(gws), CID_, [A]))
    assert gws.hosts == ["a.test"]


def test_a_malformed_gateway_url_is_skipped():
    gws = Gateways({B: BLOCK})
    assert run(_block(fetcher_for(gws), CID_, ["http://a.test:abc", B])) == BLOCK


# -- IPNS records ---------------------------------------------------------------
NAME = "k51qzi5uqu5dlvj2baxnqndepeb86cbk3ng7n3i46uzyxzyqj2xjonzllnv0v8"


def test_ipns_record_is_fetched_unverified_from_the_first_gateway_with_one():
    gws = Gateways({A: 404, B: b"signed record bytes"})
    assert run(_record(fetcher_for(gws), NAME, [A, B])) == b"signed record bytes"
    request = gws.requests[1]
    assert str(request.url) == f"{B}/ipns/{NAME}?format=ipns-record"
    assert request.headers["accept"] == IPNS_RECORD_TYPE


def test_ipns_record_size_limit():
    assert run(_record(fetcher_for(Gateways({A: b"r" * MAX_RECORD})), NAME, [A])) == b"r" * MAX_RECORD
    with pytest.raises(ContentMissing, match=f"larger than {MAX_RECORD} bytes"):
        run(_record(fetcher_for(Gateways({A: b"r" * (MAX_RECORD + 1)})), NAME, [A]))
    gws = Gateways({A: b"r" * (MAX_RECORD + 1), B: b"small"})
    assert run(_record(fetcher_for(gws), NAME, [A, B])) == b"small"


@pytest.mark.parametrize("answers", [{A: 404}, {A: 500}, {A: httpx.ReadTimeout("slow")}])
def test_no_ipns_record_is_missing(answers):
    with pytest.raises(ContentMissing, match=f"no IPNS record for {NAME}"):
        run(_record(fetcher_for(Gateways(answers)), NAME, [A]))


def test_no_gateway_for_ipns_is_missing():
    with pytest.raises(ContentMissing, match="no gateway"):
        run(_record(fetcher_for(Gateways({})), NAME, []))


def test_the_default_client_does_not_follow_redirects():
    fetcher = GatewayFetcher(timeout=3.0)
    try:
        assert fetcher._http.follow_redirects is False
        assert fetcher._http.timeout.read == 3.0
    finally:
        run(fetcher.aclose())


# -- FetchingStore ------------------------------------------------------------------
def remote_store(tmp_path) -> EmbeddedStore:
    (tmp_path / "remote-tmp").mkdir(exist_ok=True)
    return EmbeddedStore(tmp_path / "remote-blocks", tmp_path / "remote-tmp", durable=False)


class Remote:
    """A fetch function over another store, counting calls, optionally lying."""

    def __init__(self, store: EmbeddedStore, forge: set[str] = frozenset()) -> None:
        self.store = store
        self.forge = forge
        self.calls: list[str] = []

    async def __call__(self, cid: str) -> bytes:
        self.calls.append(cid)
        if cid in self.forge:
            return b"forged bytes"
        return await self.store.get_block(cid)


async def _leaves(data: bytes, size: int):
    for chunk in chunked(data, size):
        yield chunk


def test_a_missing_block_is_fetched_kept_and_not_fetched_again(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    run(remote.store.put_block(CID_, BLOCK))
    fetching = FetchingStore(store, remote, keep=True)
    assert run(fetching.get_block(CID_)) == BLOCK and remote.calls == [CID_]
    assert run(store.get_block(CID_)) == BLOCK  # kept locally
    assert run(fetching.get_block(CID_)) == BLOCK and remote.calls == [CID_]  # no second fetch


def test_before_its_root_verified_nothing_fetched_is_kept_on_disk(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    run(remote.store.put_block(CID_, BLOCK))
    fetching = FetchingStore(store, remote)
    assert run(fetching.get_block(CID_)) == BLOCK
    assert not run(store.exists(CID_))  # held in memory only: a refused tree leaves nothing behind
    assert run(fetching.get_block(CID_)) == BLOCK and remote.calls == [CID_]
    run(fetching.verified())
    assert run(store.get_block(CID_)) == BLOCK  # kept once the root verified


def test_a_local_block_needs_no_fetch(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    run(store.put_block(CID_, BLOCK))
    assert run(FetchingStore(store, remote, keep=True).get_block(CID_)) == BLOCK and remote.calls == []


def test_wrong_bytes_never_land_in_the_local_store(store, tmp_path):
    remote = Remote(remote_store(tmp_path), forge={CID_})
    fetching = FetchingStore(store, remote, keep=True)
    with pytest.raises(ContentCorrupt):
        run(fetching.get_block(CID_))
    assert not run(store.exists(CID_))
    with pytest.raises(ContentMissing):
        run(store.get_block(CID_))


def test_a_missing_remote_block_is_missing(store, tmp_path):
    fetching = FetchingStore(store, Remote(remote_store(tmp_path)), keep=True)
    with pytest.raises(ContentMissing):
        run(fetching.get_block(CID_))


def test_fetched_through_a_gateway_fetcher(store):
    gws = Gateways({A: b"forged", B: BLOCK})
    fetcher = fetcher_for(gws)

    async def go() -> bytes:
        try:
            fetching = FetchingStore(store, lambda cid: fetcher.block(cid, [A, B]), keep=True)
            first = await fetching.get_block(CID_)
            again = await fetching.get_block(CID_)
            return first + again
        finally:
            await fetcher.aclose()

    assert run(go()) == BLOCK * 2 and len(gws.requests) == 2  # a.test then b.test, once


DATA = bytes(range(256)) * 40  # 10240 bytes


def test_read_of_a_multi_block_file(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    stored = run(remote.store.put_chunks(_leaves(DATA, 1000)))
    assert len(stored.blocks) > 2
    fetching = FetchingStore(store, remote, keep=True)

    async def read(offset=0, length=None) -> bytes:
        return b"".join([p async for p in fetching.read(stored.content_id, offset, length, verify_leaves=False)])

    assert run(fetching.size(stored.content_id)) == len(DATA)
    assert run(read()) == DATA
    fetched = len(remote.calls)
    assert fetched == len(stored.blocks)
    assert run(read(1500, 3000)) == DATA[1500:4500]
    assert run(read(len(DATA) - 1)) == DATA[-1:]
    assert len(remote.calls) == fetched  # everything now local
    for cid in stored.blocks:
        assert run(store.exists(cid))


def test_a_ranged_read_fetches_only_the_blocks_it_needs(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    stored = run(remote.store.put_chunks(_leaves(DATA, 1000)))
    fetching = FetchingStore(store, remote, keep=True)
    got = run(_collect(fetching.read(stored.content_id, 2500, 100)))
    assert got == DATA[2500:2600]
    leaves = [c for c in remote.calls if c.startswith("bafk")]
    assert len(leaves) == 1


async def _collect(stream) -> bytes:
    return b"".join([p async for p in stream])


def test_a_forged_leaf_fails_the_read_and_is_not_kept(store, tmp_path):
    remote = Remote(remote_store(tmp_path))
    stored = run(remote.store.put_chunks(_leaves(DATA, 1000)))
    leaf = str(CID.of(DATA[3000:4000], RAW))
    assert leaf in stored.blocks
    remote.forge = {leaf}
    with pytest.raises(StorageError):
        run(_collect(FetchingStore(store, remote, keep=True).read(stored.content_id)))
    assert not run(store.exists(leaf))


def test_an_unverified_fetch_function_is_still_checked(store):
    """FetchingStore checks the fetched block again through the local store."""
    async def liar(cid: str) -> bytes:
        return b"anything"

    with pytest.raises(ContentCorrupt):
        run(FetchingStore(store, liar, keep=True).get_block(CID_))
    assert hashlib.sha256(b"anything").digest() != CID.parse(CID_).digest
