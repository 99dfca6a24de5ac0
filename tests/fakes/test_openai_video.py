"""The fake Videos API checked against the official ``openai`` SDK."""

from __future__ import annotations

from collections.abc import AsyncIterator

import openai
import pytest

from .openai_video import API_KEY, CONTENT_CHUNKS, SECOND_API_KEY, FakeVideos, video_bytes

pytestmark = pytest.mark.filterwarnings("ignore:The Sora API:DeprecationWarning")


@pytest.fixture
async def fake() -> AsyncIterator[FakeVideos]:
    async with FakeVideos() as server:
        yield server


def _client(fake: FakeVideos, key: str = API_KEY) -> openai.AsyncOpenAI:
    return openai.AsyncOpenAI(base_url=fake.base_url, api_key=key, max_retries=0)


async def test_create_poll_download_delete(fake: FakeVideos) -> None:
    async with _client(fake) as client:
        video = await client.videos.create(model="sora-2", prompt="a cat on a skateboard", seconds="8")
        assert (video.status, video.progress, video.seconds, video.size) == ("queued", 0, "8", "720x1280")
        seen = [(v.status, v.progress) for v in [await client.videos.retrieve(video.id) for _ in range(3)]]
        assert seen == [("in_progress", 33), ("in_progress", 66), ("completed", 100)]
        done = await client.videos.retrieve(video.id)
        assert done.completed_at is not None and done.expires_at is not None and done.error is None
        content = await client.videos.download_content(video.id)
        assert content.content == video_bytes(video.id)
        assert content.response.headers["content-type"] == "video/mp4"
        thumb = await client.videos.download_content(video.id, variant="thumbnail")
        assert thumb.response.headers["content-type"] == "image/webp"
        page = await client.videos.list(limit=10)
        assert [v.id for v in page.data] == [video.id]
        deleted = await client.videos.delete(video.id)
        assert (deleted.id, deleted.object, deleted.deleted) == (video.id, "video.deleted", True)
        with pytest.raises(openai.NotFoundError):
            await client.videos.retrieve(video.id)


async def test_content_arrives_in_chunks_and_only_when_completed(fake: FakeVideos) -> None:
    async with _client(fake) as client:
        video = await client.videos.create(prompt="waves", size="1280x720")
        with pytest.raises(openai.BadRequestError) as caught:
            await client.videos.download_content(video.id)
        assert caught.value.code == "video_not_ready"
        done = await client.videos.create_and_poll(prompt="waves", poll_interval_ms=1)
        assert done.status == "completed"
        async with client.with_streaming_response.videos.download_content(done.id) as resp:
            chunks = [c async for c in resp.iter_bytes(chunk_size=None)]
    assert b"".join(chunks) == video_bytes(done.id) and len(chunks) >= 2
    assert CONTENT_CHUNKS > 1


async def test_failure_and_bad_requests(fake: FakeVideos) -> None:
    async with _client(fake) as client:
        failed = await client.videos.create_and_poll(prompt="[fail] something", poll_interval_ms=1)
        assert failed.status == "failed" and failed.error is not None
        assert failed.error.code == "moderation_blocked"
        with pytest.raises(openai.BadRequestError) as caught:
            await client.videos.create(model="sora-2", prompt="x", size="1792x1024")
        assert caught.value.param == "size"
        with pytest.raises(openai.BadRequestError):
            await client.videos.create(prompt="x", seconds="5")  # type: ignore[arg-type]


async def test_input_reference_upload_is_kept(fake: FakeVideos) -> None:
    image = b"\x89PNG" + bytes(range(256)) * 10
    async with _client(fake) as client:
        video = await client.videos.create(
            prompt="animate this", input_reference=("ref.png", image, "image/png")
        )
    assert video.status == "queued"
    (parts,) = fake.uploads
    ref = next(p for p in parts if p.name == "input_reference")
    assert (ref.value, ref.filename, ref.content_type) == (image, "ref.png", "image/png")


async def test_a_video_belongs_to_the_key_that_made_it(fake: FakeVideos) -> None:
    async with _client(fake) as one, _client(fake, SECOND_API_KEY) as two:
        video = await one.videos.create(prompt="mine")
        with pytest.raises(openai.NotFoundError):
            await two.videos.retrieve(video.id)
        assert (await one.videos.retrieve(video.id)).status == "in_progress"
