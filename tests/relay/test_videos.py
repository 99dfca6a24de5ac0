"""Video tasks through the gateway (OpenAI's Videos API and the generic task shape), on SQLite and
PostgreSQL, with the official SDK as the caller and tests/fakes/openai_video.py as the upstream.

A task is created through a channel, polled in the background until it finishes, and billed once
per second of video at its size (built-in sora prices); a failed or timed-out task costs nothing.
"""

from __future__ import annotations

import asyncio
import uuid
from collections.abc import AsyncIterator, Callable
from datetime import timedelta
from decimal import Decimal
from typing import Any

import aiohttp
import openai
import pytest
from sqlalchemy import update

from hubgate.formats.videos import read_video
from hubgate.jobs import videos as video_tasks
from hubgate.jobs.runner import video_poll_round
from hubgate.metering.prices import lookup_video
from hubgate.settings import parse_settings
from hubgate.storage.keys import utcnow
from hubgate.storage.tables import video_tasks as video_table
from hubgate.storage.videos import VideoStore, VideoTask
from tests.conftest import LiveGateway, _pg_admin, _serve, live_gateway
from tests.fakes.openai_video import API_KEY, SECOND_API_KEY, FakeVideos, video_bytes

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")

POLL_S = 0.05


def video_config(fake: FakeVideos, database_url: str, **extra: Any) -> dict[str, Any]:
    return {
        "database_url": database_url,
        "usage_flush_interval_s": 0.05,
        "cooldown_after_failures": 0,
        "video_poll_interval_s": POLL_S,
        "channels": [
            {"name": "video-main", "type": "openai", "base_url": fake.base_url,
             "api_keys": [API_KEY, SECOND_API_KEY], "models": ["sora-2", "sora-2-pro"]},
            # Fails (HTTP 500) first, so the create must go on to the backup channel.
            {"name": "video-flaky", "type": "openai", "base_url": fake.base_url, "api_key": API_KEY,
             "models": ["sora-failover"], "model_map": {"sora-failover": "fail-500"}, "priority": 10},
            {"name": "video-backup", "type": "openai", "base_url": fake.base_url, "api_key": API_KEY,
             "models": ["sora-failover"], "model_map": {"sora-failover": "sora-2"}},
            {"name": "video-echo", "type": "echo", "models": ["echo-video"]},
        ],
        **extra,
    }  # fmt: skip


@pytest.fixture(scope="session")
async def fake_videos() -> AsyncIterator[FakeVideos]:
    async with FakeVideos() as fake:
        yield fake


@pytest.fixture(scope="session")
async def videos(database_url: str, fake_videos: FakeVideos) -> AsyncIterator[LiveGateway]:
    async with live_gateway(video_config(fake_videos, database_url), fake_videos) as gw:
        yield gw


async def _client(gw: LiveGateway, **key: Any) -> tuple[str, str, openai.AsyncOpenAI]:
    name, secret = await gw.new_key(**key)
    return name, secret, gw.client(secret)


async def _until(gw: LiveGateway, task_id: str, *statuses: str, within_s: float = 10.0) -> VideoTask:
    """The task once its status is one of `statuses` (read from the database)."""
    store = VideoStore(gw.state.engine)
    deadline = asyncio.get_running_loop().time() + within_s
    while True:
        task = await store.get(task_id)
        assert task is not None
        if task.status in statuses:
            return task
        assert asyncio.get_running_loop().time() < deadline, f"{task_id} stuck at {task.status}"
        await asyncio.sleep(0.02)


async def _rows(
    gw: LiveGateway, key_name: str, ready: Callable[[list[dict[str, Any]]], bool] = lambda rows: True
) -> list[dict[str, Any]]:
    """The key's usage rows, once `ready` says they are all there (rows are written in batches)."""
    for _ in range(100):
        rows = await gw.usage_rows(key_name)
        if ready(rows):
            return rows
        await asyncio.sleep(0.02)
    raise AssertionError(f"usage rows never got ready: {rows}")


def _charges(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    return [r for r in rows if r["unit"] == "video_second"]


async def _raw(
    gw: LiveGateway, method: str, path: str, secret: str, **kwargs: Any
) -> tuple[int, Any, aiohttp.ClientResponse]:
    async with (
        aiohttp.ClientSession() as http,
        http.request(
            method, f"{gw.url}{path}", headers={"Authorization": f"Bearer {secret}"}, **kwargs
        ) as resp,
    ):
        body = await resp.json() if resp.content_type == "application/json" else await resp.read()
        return resp.status, body, resp


def _openai_error(body: Any, param: str | None = None) -> dict[str, Any]:
    assert set(body) == {"error"} and set(body["error"]) == {"message", "type", "param", "code"}, body
    if param is not None:
        assert body["error"]["param"] == param, body
    return dict(body["error"])


# -- the OpenAI Videos API with the official SDK -------------------------------------------------------------


async def test_create_poll_download_and_bill_once(videos: LiveGateway) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(model="sora-2", prompt="a paper boat in the rain", seconds="8")
        assert video.id.startswith("video_") and video.object == "video"
        assert (video.status, video.model, video.seconds, video.size) == ("queued", "sora-2", "8", "720x1280")
        task = await _until(videos, video.id, "completed")
        assert task.upstream_id != video.id  # the caller never sees the upstream's id
        done = await client.videos.retrieve(video.id)
        assert (done.status, done.progress, done.error) == ("completed", 100, None)
        assert done.completed_at is not None and done.expires_at is not None
        content = await client.videos.download_content(video.id)
        assert content.content == video_bytes(task.upstream_id)
        assert content.response.headers["content-type"] == "video/mp4"
        async with client.with_streaming_response.videos.download_content(video.id) as resp:
            chunks = [c async for c in resp.iter_bytes(chunk_size=None)]
        assert b"".join(chunks) == video_bytes(task.upstream_id) and len(chunks) > 1  # relayed as it came
        thumb = await client.videos.download_content(video.id, variant="thumbnail")
        assert thumb.response.headers["content-type"] == "image/webp"
        assert thumb.content == video_bytes(task.upstream_id, "thumbnail")
    rows = await _rows(videos, name, lambda rows: len(_charges(rows)) == 1)
    create_row = next(r for r in rows if r["unit"] is None)
    assert (create_row["endpoint"], create_row["status"], create_row["cost_micros"]) == ("videos", 200, 0)
    (charge,) = _charges(rows)
    assert (charge["endpoint"], charge["units"], charge["cost_micros"]) == (
        "videos",
        8,
        800_000,
    )  # 8 s x $0.10
    assert (charge["model"], charge["channel"], charge["request_id"]) == ("sora-2", "video-main", video.id)
    assert videos.state.billing.pending_keys.get(create_row["key_id"], 0) == 0  # hold gone, charge flushed


@pytest.mark.parametrize(
    ("size", "seconds", "cost"),
    [("1792x1024", "12", 6_000_000), ("720x1280", "4", 1_200_000)],  # $0.50/s at HD sizes, $0.30/s at 720p
)
async def test_sora_2_pro_is_priced_by_size(videos: LiveGateway, size: Any, seconds: Any, cost: int) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create_and_poll(
            model="sora-2-pro", prompt="a lighthouse at dusk", size=size, seconds=seconds, poll_interval_ms=20
        )
    assert (video.status, video.size, video.seconds) == ("completed", size, seconds)
    (charge,) = _charges(await _rows(videos, name, lambda rows: bool(_charges(rows))))
    assert (charge["units"], charge["cost_micros"], charge["upstream_model"]) == (
        int(seconds),
        cost,
        "sora-2-pro",
    )


async def test_list_pages_through_the_keys_own_videos(videos: LiveGateway) -> None:
    _, _, client = await _client(videos)
    _, _, other = await _client(videos)
    async with client, other:
        made = [(await client.videos.create(prompt=f"[stuck] clip {i}")).id for i in range(3)]
        page = await client.videos.list(limit=2)
        assert [v.id for v in page.data] == made[::-1][:2] and page.has_more is True
        assert [v.id async for v in client.videos.list(limit=2)] == made[::-1]  # the SDK follows `after`
        assert [v.id async for v in client.videos.list(order="asc", limit=1)] == made
        assert (await other.videos.list()).data == []


async def test_a_json_create_passes_through_with_only_the_model_changed(videos: LiveGateway) -> None:
    _, secret, _ = await _client(videos)
    marker = uuid.uuid4().hex
    body = {"model": "sora-failover", "prompt": f"json {marker}", "seconds": "12", "future_field": {"x": 1}}
    status, video, _ = await _raw(videos, "POST", "/v1/videos", secret, json=body)
    assert status == 200 and video["object"] == "video" and video["model"] == "sora-failover"
    assert (video["seconds"], video["size"], video["status"]) == ("12", "720x1280", "queued")
    sent = [
        r.json
        for r in videos.fake.requests
        if isinstance(r.json, dict) and marker in str(r.json.get("prompt"))
    ]
    assert sent[-1] == {**body, "model": "sora-2"}  # the backup channel's upstream model; the rest as it came


async def test_input_reference_is_uploaded_intact(videos: LiveGateway) -> None:
    image = b"\x89PNG\r\n\x1a\n" + bytes(range(256)) * 400 + b"\r\n--boundary-lookalike\r\n"
    filename = f"{uuid.uuid4().hex}.png"
    _, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(
            model="sora-2", prompt="bring it to life", input_reference=(filename, image, "image/png")
        )
    assert video.status == "queued"
    (parts,) = [p for p in videos.fake.uploads if any(part.filename == filename for part in p)]  # type: ignore[attr-defined]
    ref = next(p for p in parts if p.name == "input_reference")
    assert (ref.value, ref.content_type) == (image, "image/png")
    assert next(p for p in parts if p.name == "prompt").value == b"bring it to life"
    assert next(p for p in parts if p.name == "model").value == b"sora-2"


async def test_delete(videos: LiveGateway) -> None:
    _, secret, client = await _client(videos)
    async with client:
        running = await client.videos.create(prompt="[stuck] forever")
        with pytest.raises(openai.BadRequestError):
            await client.videos.delete(running.id)  # not finished yet
        video = await client.videos.create_and_poll(prompt="short", poll_interval_ms=20)
        deleted = await client.videos.delete(video.id)
        assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
        with pytest.raises(openai.NotFoundError):
            await client.videos.retrieve(video.id)
    assert [v.id for v in (await gw_list(videos, secret))] == [running.id]


async def gw_list(gw: LiveGateway, secret: str) -> list[Any]:
    async with gw.client(secret) as client:
        return list((await client.videos.list()).data)


async def test_create_fails_over_to_the_next_channel(videos: LiveGateway) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(model="sora-failover", prompt="retry me")
    task = await VideoStore(videos.state.engine).get(video.id)
    assert task is not None and (task.channel, task.upstream_model) == ("video-backup", "sora-2")
    assert video.model == "sora-failover"
    (row,) = await _rows(videos, name)
    assert (row["attempts"], row["channel"], row["status"]) == (2, "video-backup", 200)


async def test_polls_use_the_upstream_key_that_created_the_task(videos: LiveGateway) -> None:
    # The channel has two upstream keys, used in turn; the fake knows a video under its creator's key only.
    _, _, client = await _client(videos)
    async with client:
        made = [await client.videos.create(prompt=f"clip {i}") for i in range(4)]
    tasks = [await _until(videos, v.id, "completed", "failed") for v in made]
    assert {t.upstream_key_index for t in tasks} == {0, 1}
    assert {t.status for t in tasks} == {"completed"}


# -- failure, timeouts, budgets ---------------------------------------------------------------------------


async def test_a_failed_video_charges_nothing(videos: LiveGateway) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(prompt="[fail] a forbidden scene", seconds="12")
        await _until(videos, video.id, "failed")
        failed = await client.videos.retrieve(video.id)
        with pytest.raises(openai.BadRequestError) as caught:
            await client.videos.download_content(video.id)
    assert failed.status == "failed" and failed.error is not None
    assert (failed.error.code, failed.completed_at is not None) == ("moderation_blocked", True)
    assert caught.value.code == "video_not_ready"
    rows = await _rows(videos, name)
    assert _charges(rows) == [] and sum(r["cost_micros"] for r in rows) == 0
    key_id = rows[0]["key_id"]
    assert (
        videos.state.billing.pending_keys.get(key_id, 0) == 0 and video.id not in videos.state.billing.holds
    )


async def test_a_task_past_its_timeout_fails_unbilled(videos: LiveGateway) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(prompt="[stuck] very slow", seconds="4")
    gw = videos.state
    assert video.id in gw.billing.holds
    async with gw.engine.begin() as conn:
        old = utcnow() - timedelta(seconds=gw.settings.video_task_timeout_s + 60)
        await conn.execute(update(video_table).where(video_table.c.id == video.id).values(created_at=old))
    task = await _until(videos, video.id, "failed")
    assert task.error is not None and task.error["code"] == "timeout"
    for _ in range(100):  # the poller releases the hold just after the failure commits
        if video.id not in gw.billing.holds:
            break
        await asyncio.sleep(0.02)
    assert video.id not in gw.billing.holds
    assert _charges(await _rows(videos, name)) == []


async def test_the_expected_cost_is_held_against_the_budget(videos: LiveGateway) -> None:
    # $1 budget; each running 8-second sora-2 task holds $0.80 until it finishes, so a second
    # one (or even a 4-second one, $0.40) cannot be covered by the $0.20 left.
    name, _, client = await _client(videos, budget_micros=1_000_000)
    async with client:
        first = await client.videos.create(prompt="[stuck] one", seconds="8")
        for seconds in ("8", "4"):
            with pytest.raises(openai.APIStatusError) as caught:
                await client.videos.create(prompt="[stuck] two", seconds=seconds)  # type: ignore[arg-type]
            assert caught.value.status_code == 402 and caught.value.code == "insufficient_quota"
        store = VideoStore(videos.state.engine)
        task = await store.get(first.id)
        assert task is not None and task.hold_micros == 800_000
        await video_tasks.fail(videos.state, task, {"code": "cancelled", "message": "test"}, None)
        # Its hold is gone with it: the budget covers a new task.
        assert (await client.videos.create(prompt="[stuck] after", seconds="8")).status == "queued"
    assert _charges(await _rows(videos, name)) == []


async def test_racing_pollers_bill_a_completed_video_once(videos: LiveGateway) -> None:
    name, _, client = await _client(videos)
    async with client:
        video = await client.videos.create(prompt="[stuck] race", seconds="4")
    gw = videos.state
    task = await VideoStore(gw.engine).get(video.id)
    assert task is not None and task.upstream is not None
    done = {**task.upstream, "status": "completed", "progress": 100}
    await asyncio.gather(*(video_tasks.apply(gw, task, read_video(done), done) for _ in range(6)))
    (charge,) = _charges(await _rows(videos, name, lambda rows: bool(_charges(rows))))
    assert charge["cost_micros"] == 400_000
    await asyncio.sleep(0.2)
    assert len(_charges(await videos.usage_rows(name))) == 1
    final = await VideoStore(gw.engine).get(video.id)
    assert final is not None and (final.billed, final.cost_micros, final.status) == (
        True,
        400_000,
        "completed",
    )


# -- the generic task shape ----------------------------------------------------------------------------------


async def test_generations_route_family(videos: LiveGateway) -> None:
    name, secret, _ = await _client(videos)
    status, created, _ = await _raw(
        videos,
        "POST",
        "/v1/videos/generations",
        secret,
        json={"model": "sora-2", "prompt": "a fox", "duration": 4},
    )
    assert status == 200, created
    assert created["status"] in ("queued", "running") and created["data"] == [] and created["seconds"] == 4
    task_id = created["task_id"]
    assert created["id"] == task_id
    await _until(videos, task_id, "completed")
    status, got, _ = await _raw(videos, "GET", f"/v1/videos/generations/{task_id}", secret)
    assert status == 200 and got["status"] == "succeeded" and got["progress"] == 100
    url = got["data"][0]["video_url"]
    assert url == f"{videos.url}/v1/videos/{task_id}/content" == got["url"]
    async with aiohttp.ClientSession() as http:
        async with http.get(url, headers={"Authorization": f"Bearer {secret}"}) as resp:
            task = await VideoStore(videos.state.engine).get(task_id)
            assert task is not None
            assert resp.status == 200 and await resp.read() == video_bytes(task.upstream_id)
        async with http.get(url) as resp:
            assert resp.status == 401  # the caller's key is needed
    status, same, _ = await _raw(videos, "GET", f"/v1/videos/{task_id}", secret)  # one table, both shapes
    assert status == 200 and same["status"] == "completed" and same["seconds"] == "4"
    (charge,) = _charges(await _rows(videos, name, lambda rows: bool(_charges(rows))))
    assert charge["cost_micros"] == 400_000


async def test_generations_failure_and_bad_input(videos: LiveGateway) -> None:
    _, secret, _ = await _client(videos)
    status, created, _ = await _raw(
        videos, "POST", "/api/v1/videos/generations", secret, json={"prompt": "[fail] nope", "seconds": "8"}
    )
    assert status == 200 and created["model"] == "sora-2"
    await _until(videos, created["task_id"], "failed")
    status, got, _ = await _raw(videos, "GET", f"/api/v1/videos/generations/{created['task_id']}", secret)
    assert (got["status"], got["data"], got["error"]["code"]) == ("failed", [], "moderation_blocked")
    for body, param in [
        ({"model": "sora-2"}, "prompt"),
        ({"prompt": "x", "duration": 5}, "duration"),
        ({"prompt": "x", "seconds": 4.5}, "seconds"),
        ({"prompt": "x", "size": "1x1"}, "size"),
        ({"prompt": "x", "input_reference": "https://example.com/a.png"}, "input_reference"),
    ]:
        status, err, _ = await _raw(videos, "POST", "/v1/videos/generations", secret, json=body)
        assert status == 400, (body, err)
        _openai_error(err, param)


# -- bad input and other keys --------------------------------------------------------------------------------


async def test_bad_create_requests_are_400_in_openai_shape(videos: LiveGateway) -> None:
    name, secret, _ = await _client(videos)
    cases: list[tuple[dict[str, Any], str | None]] = [
        ({"model": "sora-2"}, "prompt"),
        ({"prompt": ""}, "prompt"),
        ({"prompt": 42}, "prompt"),
        ({"prompt": "x", "model": 7}, "model"),
        ({"prompt": "x", "seconds": 8}, "seconds"),  # OpenAI's seconds is a string
        ({"prompt": "x", "seconds": "5"}, "seconds"),
        ({"prompt": "x", "size": "640x480"}, "size"),
        ({"prompt": "x", "size": ["720x1280"]}, "size"),
        ({"prompt": "x", "input_reference": 3}, "input_reference"),
    ]
    for body, param in cases:
        status, err, resp = await _raw(videos, "POST", "/v1/videos", secret, json=body)
        assert status == 400, (body, err)
        assert _openai_error(err, param)["type"] == "invalid_request_error"
        assert resp.headers["x-request-id"]
    status, err, _ = await _raw(videos, "POST", "/v1/videos", secret, data=b"{nope")
    assert status == 400
    # Multipart: the same checks on the form's fields.
    form = aiohttp.FormData({"prompt": "x", "seconds": "3"}, default_to_multipart=True)
    status, err, _ = await _raw(videos, "POST", "/v1/videos", secret, data=form)
    assert status == 400 and _openai_error(err, "seconds")
    # What only the upstream knows (sora-2 has no HD sizes) comes back with its status and param.
    status, err, _ = await _raw(
        videos, "POST", "/v1/videos", secret, json={"prompt": "x", "size": "1792x1024"}
    )
    assert status == 400 and _openai_error(err, "size")["code"] == "invalid_value"
    # A model no OpenAI-format channel serves.
    status, err, _ = await _raw(
        videos, "POST", "/v1/videos", secret, json={"prompt": "x", "model": "echo-video"}
    )
    assert status == 404 and "for this endpoint" in _openai_error(err)["message"]
    rows = await _rows(videos, name)
    assert rows and all(r["cost_micros"] == 0 and r["status"] >= 400 for r in rows)
    assert await gw_list(videos, secret) == []  # no task was stored


async def test_bad_list_and_content_queries(videos: LiveGateway) -> None:
    _, secret, client = await _client(videos)
    async with client:
        video = await client.videos.create_and_poll(prompt="ok", poll_interval_ms=20)
    for query, param in [
        ("limit=0", "limit"),
        ("limit=101", "limit"),
        ("limit=ten", "limit"),
        ("order=sideways", "order"),
        ("after=video_unknown", "after"),
    ]:
        status, err, _ = await _raw(videos, "GET", f"/v1/videos?{query}", secret)
        assert status == 400, query
        _openai_error(err, param)
    status, err, _ = await _raw(videos, "GET", f"/v1/videos/{video.id}/content?variant=poster", secret)
    assert status == 400 and _openai_error(err, "variant")


async def test_unknown_and_other_keys_videos_are_404(videos: LiveGateway) -> None:
    _, owner, client = await _client(videos)
    _, stranger, _ = await _client(videos)
    async with client:
        video = await client.videos.create_and_poll(prompt="mine", poll_interval_ms=20)
    for video_id in (video.id, "video_does_not_exist"):
        for method, path in [
            ("GET", f"/v1/videos/{video_id}"),
            ("GET", f"/v1/videos/{video_id}/content"),
            ("DELETE", f"/v1/videos/{video_id}"),
            ("GET", f"/v1/videos/generations/{video_id}"),
        ]:
            status, err, _ = await _raw(videos, method, path, stranger)
            assert status == 404, (method, path)
            assert _openai_error(err, "video_id")["code"] == "video_not_found"
    status, _, _ = await _raw(videos, "GET", f"/v1/videos/{video.id}", owner)
    assert status == 200
    status, err, _ = await _raw(videos, "GET", f"/v1/videos/{video.id}", "sk-not-a-key")
    assert status == 401 and _openai_error(err)["code"] == "invalid_api_key"


async def test_content_before_completion_is_refused(videos: LiveGateway) -> None:
    _, secret, client = await _client(videos)
    async with client:
        video = await client.videos.create(prompt="[stuck] not yet")
    status, err, _ = await _raw(videos, "GET", f"/v1/videos/{video.id}/content", secret)
    assert status == 400
    assert _openai_error(err, "video_id")["code"] == "video_not_ready"


# -- prices --------------------------------------------------------------------------------------------------


def test_video_prices_by_model_and_size() -> None:
    def per_second(model: str, size: str | None, overrides: Any = None) -> Decimal | None:
        price = lookup_video(model, size, overrides or {})
        return price.per_request if price is not None else None

    assert per_second("sora-2", "720x1280") == per_second("sora-2", "1280x720") == Decimal("0.10")
    assert per_second("sora-2-pro", "1280x720") == Decimal("0.30")
    assert per_second("sora-2-pro", "1024x1792") == per_second("sora-2-pro", "1792x1024") == Decimal("0.50")
    assert per_second("openai/sora-2-pro-2025-10-06", "1792x1024") == Decimal("0.50")  # snapshots too
    assert per_second("sora-2-pro", None) == Decimal("0.30")
    assert per_second("sora-3", "720x1280") is None
    from hubgate.metering.prices import Price

    mine = {"sora-2-pro:1792x1024": Price(input=Decimal(0), per_request=Decimal("0.42"))}
    assert per_second("sora-2-pro", "1792x1024", mine) == Decimal("0.42")
    assert per_second("sora-2-pro", "1024x1792", mine) == Decimal("0.50")


# -- one poller for several replicas -------------------------------------------------------------------------


@pytest.fixture
async def replica_database(database_url: str) -> AsyncIterator[str]:
    """A PostgreSQL database of the test's own, so no other gateway's poller touches its tasks."""
    if database_url.startswith("sqlite"):
        pytest.skip("SQLite serves one process; replicas share PostgreSQL")
    name = f"hubgate_video_{uuid.uuid4().hex[:8]}"
    await _pg_admin(f'CREATE DATABASE "{name}"')
    try:
        yield f"{database_url.rsplit('/', 1)[0]}/{name}"
    finally:
        await _pg_admin(f'DROP DATABASE IF EXISTS "{name}" WITH (FORCE)')


async def test_two_gateways_poll_each_task_once_per_round(
    replica_database: str, fake_videos: FakeVideos
) -> None:
    await _two_replicas(replica_database, fake_videos, redis_url=None)


async def test_two_gateways_with_redis_take_turns(
    replica_database: str, fake_videos: FakeVideos, redis_url: str
) -> None:
    await _two_replicas(replica_database, fake_videos, redis_url=redis_url)


async def _two_replicas(database_url: str, fake_videos: FakeVideos, redis_url: str | None) -> None:
    """Two gateways on one database run a poll round at once: each due task is polled once."""
    extra: dict[str, Any] = {"video_poll_interval_s": 3600}  # rounds are driven by the test
    if redis_url is not None:
        extra |= {"redis_url": redis_url, "redis_prefix": f"hg-{uuid.uuid4().hex}:"}
    settings = parse_settings(video_config(fake_videos, database_url, **extra), env={})
    (run_a, app_a, url_a), (run_b, app_b, url_b) = await _serve(settings), await _serve(settings)
    try:
        one = LiveGateway(url=url_a, app=app_a, settings=settings, fake=fake_videos)  # type: ignore[arg-type]
        two = LiveGateway(url=url_b, app=app_b, settings=settings, fake=fake_videos)  # type: ignore[arg-type]
        _, _, client = await _client(one)
        async with client:
            made = [(await client.videos.create(prompt=f"replicated {i}")).id for i in range(3)]
        store = VideoStore(one.state.engine)
        upstream_ids = [t.upstream_id for t in [await store.get(i) for i in made] if t is not None]
        async with one.state.engine.begin() as conn:  # due now
            await conn.execute(
                update(video_table).where(video_table.c.id.in_(made)).values(next_poll_at=utcnow())
            )
        before = sum(fake_videos.polls.get(u, 0) for u in upstream_ids)
        ran = await asyncio.gather(video_poll_round(one.state, 1.0), video_poll_round(two.state, 1.0))
        assert any(ran)
        if redis_url is not None:
            assert sorted(ran) == [False, True]  # the round's lock is held for its interval
        assert sum(fake_videos.polls.get(u, 0) for u in upstream_ids) - before == len(made)
        assert all(t is not None and t.status == "in_progress" for t in [await store.get(i) for i in made])
    finally:
        await run_a.cleanup()
        await run_b.cleanup()
