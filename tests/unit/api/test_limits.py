"""Concurrent upload limits: a client past `max_uploads_per_client` (or all
clients past `max_uploads`) gets 429 TOOMANYREQUESTS with the OCI error body
before any byte is read, other clients go on, and every slot comes back."""

from __future__ import annotations

import asyncio

import httpx
import pytest

from sealedreg.api.limits import UploadSlots
from sealedreg.config import Config
from sealedreg.registry.errors import TooManyRequests
from tests.unit.api.conftest import app_for


def test_slots_count_per_client_and_in_total():
    slots = UploadSlots(per_client=2, total=3)
    with slots.hold("a"), slots.hold("a"):
        with pytest.raises(TooManyRequests, match="one client"):
            with slots.hold("a"):
                pass
        with slots.hold("b"):
            with pytest.raises(TooManyRequests, match="this registry"):
                with slots.hold("c"):
                    pass
    assert not slots._held  # all given back
    with pytest.raises(RuntimeError):
        with slots.hold("a"):
            raise RuntimeError("the upload failed")
    assert not slots._held


class Held:
    """A request body that sends a first piece, then waits to be let go."""

    def __init__(self) -> None:
        self.sent = asyncio.Event()
        self.go = asyncio.Event()

    async def __aiter__(self):
        yield b"x" * 1000
        self.sent.set()
        await self.go.wait()
        yield b"y" * 1000


def client_at(app, address: str) -> httpx.AsyncClient:
    return httpx.AsyncClient(transport=httpx.ASGITransport(app=app, client=(address, 1234)),
                             base_url="http://registry")


async def session(client: httpx.AsyncClient, repo: str) -> str:
    r = await client.post(f"/v2/{repo}/blobs/uploads/")
    assert r.status_code == 202
    return r.headers["location"]


def test_a_client_past_its_limit_waits_its_turn_and_others_go_on(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False, max_uploads_per_client=2))

    async def go():
        async with client_at(app, "10.0.0.1") as a, client_at(app, "10.0.0.2") as b:
            bodies = [Held(), Held()]
            held = [asyncio.create_task(a.patch(await session(a, f"x.org/r{i}"), content=body))
                    for i, body in enumerate(bodies)]
            await asyncio.gather(*(body.sent.wait() for body in bodies))
            refused = await a.patch(await session(a, "x.org/r9"), content=b"z" * 1000)
            assert refused.status_code == 429 and refused.headers["retry-after"] == "1"
            assert refused.json()["errors"][0]["code"] == "TOOMANYREQUESTS"
            monolithic = await a.post("/v2/x.org/r9/blobs/uploads/?digest=sha256:" + "0" * 64, content=b"z")
            assert monolithic.status_code == 429
            other = await b.patch(await session(b, "x.org/r8"), content=b"z" * 1000)
            assert other.status_code == 202  # another client is not held up
            for body in bodies:
                body.go.set()
            assert [r.status_code for r in await asyncio.gather(*held)] == [202, 202]
            again = await a.patch(await session(a, "x.org/r9"), content=b"z" * 1000)
            assert again.status_code == 202  # the slots came back
            assert not app.state.upload_slots._held

    asyncio.run(go())


def test_all_clients_together_past_the_total(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False, max_uploads_per_client=0, max_uploads=1))

    async def go():
        async with client_at(app, "10.0.0.1") as a, client_at(app, "10.0.0.2") as b:
            body = Held()
            held = asyncio.create_task(a.patch(await session(a, "x.org/a"), content=body))
            await body.sent.wait()
            refused = await b.patch(await session(b, "x.org/b"), content=b"z")
            assert refused.status_code == 429 and "this registry" in refused.json()["errors"][0]["message"]
            body.go.set()
            assert (await held).status_code == 202

    asyncio.run(go())


def test_zero_means_no_limit(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False, max_uploads_per_client=0, max_uploads=0))

    async def go():
        async with client_at(app, "10.0.0.1") as a:
            bodies = [Held() for _ in range(40)]
            tasks = [asyncio.create_task(a.patch(await session(a, f"x.org/r{i}"), content=body))
                     for i, body in enumerate(bodies)]
            await asyncio.gather(*(body.sent.wait() for body in bodies))
            for body in bodies:
                body.go.set()
            assert {r.status_code for r in await asyncio.gather(*tasks)} == {202}

    asyncio.run(go())


class Stalls:
    """A body that sends a first piece and then nothing."""

    async def __aiter__(self):
        yield b"x" * 1000
        await asyncio.Event().wait()


def test_a_stalled_body_fails_with_408_and_gives_back_its_slot(tmp_path):
    app = app_for(Config(data=tmp_path / "data", durable=False, body_timeout=0.2, max_uploads_per_client=1))

    async def go():
        async with client_at(app, "10.0.0.1") as a:
            where = await session(a, "x.org/a")
            stalled = await a.patch(where, content=Stalls())
            assert stalled.status_code == 408
            assert stalled.json()["errors"][0]["code"] == "BLOB_UPLOAD_INVALID"
            assert not app.state.upload_slots._held
            resumed = await a.patch((await session(a, "x.org/b")), content=b"y" * 10)
            assert resumed.status_code == 202  # the slot came back
            manifest = await a.put("/v2/x.org/a/manifests/1", content=Stalls(),
                                   headers={"Content-Type": "application/vnd.oci.image.manifest.v1+json"})
            assert manifest.status_code == 408

    asyncio.run(go())


def test_a_stalled_token_form_is_a_408_not_a_413(tmp_path):
    # schemathesis finding: the token endpoint called any failure to read its form "larger than 64 KiB"
    from sealedreg.auth import users

    (tmp_path / "data").mkdir()
    users.add_user(tmp_path / "data" / "users.htpasswd", "alice", "pw")
    app = app_for(Config(data=tmp_path / "data", durable=False, body_timeout=0.2, auth="token"))

    async def go():
        async with client_at(app, "10.0.0.1") as a:
            stalled = await a.post("/token", content=Stalls(),
                                   headers={"Content-Type": "application/x-www-form-urlencoded"})
            assert stalled.status_code == 408, stalled.text

    asyncio.run(go())
