"""The OpenAI media family through the gateway, with the official SDK: moderations, images, audio.

Bodies pass through to the fake OpenAI upstream; uploads must arrive byte for byte, answers come back
with their content type, and each call leaves a usage row priced in its own unit (image, second,
token, character; see tests/conftest.py MEDIA_PRICING).
"""

from __future__ import annotations

import base64
import os
import uuid
from collections.abc import AsyncIterator
from typing import Any

import aiohttp
import openai
import pytest

from tests.conftest import ALICE_KEY, LiveGateway
from tests.fakes.openai_media import PNG_B64, Part, speech_audio, transcript


async def _client(gateway: LiveGateway) -> tuple[str, openai.AsyncOpenAI]:
    name, secret = await gateway.new_key()
    return name, gateway.client(secret)


def _upload(gateway: LiveGateway, filename: str) -> list[Part]:
    """The multipart body the fake received whose file part was called `filename`."""
    found = [parts for parts in gateway.fake.media.uploads if any(p.filename == filename for p in parts)]
    assert len(found) == 1, f"expected one upload of {filename}, got {len(found)}"
    return found[0]


def _field(parts: list[Part], name: str) -> Part:
    return next(p for p in parts if p.name == name)


async def _only_row(gateway: LiveGateway, key_name: str) -> dict[str, Any]:
    rows = await gateway.usage_rows(key_name)
    assert len(rows) == 1, rows
    return rows[0]


# -- moderations --------------------------------------------------------------------------------------------


async def test_moderation(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        resp = await client.moderations.create(
            model="omni-moderation-latest", input=["I will kill the process", "have a nice day"]
        )
    assert resp.id.startswith("modr-") and resp.model == "omni-moderation-latest"
    assert [r.flagged for r in resp.results] == [True, False]
    assert resp.results[0].categories.violence is True
    assert resp.results[0].categories.self_harm is False  # the slashed/dashed names survived
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["status"], row["model"], row["cost_micros"]) == (
        "moderations",
        200,
        "omni-moderation-latest",
        0,
    )


async def test_moderation_without_model_uses_openai_default(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        resp = await client.moderations.create(input="hello")
    assert resp.results[0].flagged is False
    assert (await _only_row(gateway, name))["upstream_model"] == "omni-moderation-latest"


# -- image generation ---------------------------------------------------------------------------------------


async def test_image_generation_b64_json_billed_per_image(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        resp = await client.images.generate(
            model="dall-e-3", prompt="a lighthouse", response_format="b64_json"
        )
    assert resp.data is not None and len(resp.data) == 1
    assert resp.data[0].b64_json == PNG_B64 and resp.data[0].url is None
    assert base64.b64decode(resp.data[0].b64_json).startswith(b"\x89PNG")
    assert resp.data[0].revised_prompt == "A detailed rendering of: a lighthouse"
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["status"], row["cost_micros"]) == ("images/generations", 200, 40_000)
    assert (row["units"], row["unit"]) == (1, "image")


async def test_image_generation_urls(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        resp = await client.images.generate(model="dall-e-2", prompt="two cats", n=2, response_format="url")
    assert resp.data is not None and len(resp.data) == 2
    assert all(d.url and d.url.startswith("https://") and d.b64_json is None for d in resp.data)
    row = await _only_row(gateway, name)
    assert row["status"] == 200 and row["cost_micros"] == 0  # dall-e-2 has no price configured


async def test_gpt_image_billed_by_tokens(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        resp = await client.images.generate(model="gpt-image-1", prompt="a red fox in snow")
    assert resp.usage is not None and resp.usage.input_tokens == 5 and resp.usage.output_tokens == 272
    assert resp.data is not None and resp.data[0].b64_json == PNG_B64 and resp.output_format == "png"
    row = await _only_row(gateway, name)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (5, 272)
    assert row["cost_micros"] == 10_905  # 5 x $5 + 272 x $40 per 1M tokens


async def test_image_generation_upstream_400_comes_back(gateway: LiveGateway) -> None:
    name, client = await _client(gateway)
    async with client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.images.generate(model="gpt-image-1", prompt="x", response_format="url")
    assert caught.value.code == "unknown_parameter" and caught.value.param == "response_format"
    row = await _only_row(gateway, name)
    assert row["status"] == 400 and row["cost_micros"] == 0


async def test_media_needs_an_openai_format_channel(gateway: LiveGateway) -> None:
    async with gateway.client() as client:
        with pytest.raises(openai.NotFoundError) as caught:
            await client.images.generate(model="echo-1", prompt="x")
    assert "for this endpoint" in caught.value.message


# -- image edits and variations (multipart) -----------------------------------------------------------------


async def test_image_edit_upload_arrives_intact(gateway: LiveGateway) -> None:
    image = os.urandom(300_000) + b"\r\n--\r\n\r\n"  # binary, with multipart-looking bytes inside
    mask = os.urandom(5_000)
    filename = f"{uuid.uuid4().hex}.png"
    name, client = await _client(gateway)
    async with client:
        resp = await client.images.edit(
            model="gpt-image-1",
            image=(filename, image, "image/png"),
            mask=("mask.png", mask, "image/png"),
            prompt="add a hat",
        )
    assert resp.data is not None and resp.data[0].b64_json == PNG_B64
    parts = _upload(gateway, filename)
    sent = _field(parts, "image")
    assert sent.value == image and sent.content_type == "image/png"
    assert _field(parts, "mask").value == mask
    assert _field(parts, "prompt").value == b"add a hat"
    assert _field(parts, "model").value == b"gpt-image-1"
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["prompt_tokens"], row["completion_tokens"]) == ("images/edits", 326, 272)


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks it deprecated
async def test_image_variation_defaults_to_dall_e_2(gateway: LiveGateway) -> None:
    image = os.urandom(40_000)
    filename = f"{uuid.uuid4().hex}.png"
    name, client = await _client(gateway)
    async with client:
        resp = await client.images.create_variation(image=(filename, image, "image/png"), n=3)
    assert resp.data is not None and len(resp.data) == 3
    parts = _upload(gateway, filename)
    assert _field(parts, "image").value == image
    assert _field(parts, "model").value == b"dall-e-2"  # named upstream though the caller left it out
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["model"], row["status"]) == ("images/variations", "dall-e-2", 200)


# -- transcriptions and translations -----------------------------------------------------------------------


def _audio() -> tuple[str, bytes]:
    return f"{uuid.uuid4().hex}.mp3", os.urandom(10_000)  # the fake says: 2.5 s


async def test_transcription_json_billed_per_second(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.transcriptions.create(
            model="whisper-1", file=(filename, audio, "audio/mpeg")
        )
    assert resp.text == transcript(audio)[0]
    assert _field(_upload(gateway, filename), "file").value == audio
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["status"], row["cost_micros"]) == ("audio/transcriptions", 200, 300)


async def test_transcription_json_billed_per_token(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=(filename, audio, "audio/mpeg")
        )
    assert resp.usage is not None and resp.usage.type == "tokens"
    row = await _only_row(gateway, name)
    assert (row["prompt_tokens"], row["completion_tokens"]) == (100, 5)
    assert row["cost_micros"] == 300  # 100 x $2.5 + 5 x $10 per 1M tokens


async def test_streamed_transcription_is_relayed_event_by_event_and_billed(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        stream = await client.audio.transcriptions.create(
            model="gpt-4o-transcribe", file=(filename, audio, "audio/mpeg"), stream=True
        )
        events = [event async for event in stream]
    deltas = [e.delta for e in events if e.type == "transcript.text.delta"]
    done = events[-1]
    assert done.type == "transcript.text.done" and "".join(deltas).strip() == done.text
    assert done.text == transcript(audio)[0] and len(deltas) == len(done.text.split())
    assert done.usage is not None and done.usage.input_tokens == 100
    row = await _only_row(gateway, name)
    assert (row["status"], row["stream"], row["prompt_tokens"], row["completion_tokens"]) == (
        200,
        True,
        100,
        5,
    )
    assert row["cost_micros"] == 300 and row["ttfb_ms"] is not None


async def test_transcription_text_passes_through_unpriced(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        raw = await client.audio.transcriptions.with_raw_response.create(
            model="whisper-1", file=(filename, audio, "audio/mpeg"), response_format="text"
        )
    assert raw.headers["content-type"].startswith("text/plain")
    assert raw.text == transcript(audio)[0] + "\n"
    row = await _only_row(gateway, name)
    assert (row["status"], row["prompt_tokens"], row["cost_micros"]) == (200, 0, 0)


async def test_transcription_verbose_json(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.transcriptions.create(
            model="whisper-1", file=(filename, audio, "audio/mpeg"), response_format="verbose_json"
        )
    assert resp.duration == 2.5 and resp.language == "english"
    assert resp.segments is not None and resp.segments[0].text == resp.text
    row = await _only_row(gateway, name)
    assert row["cost_micros"] == 300  # ceil(2.5) s x $0.0001
    assert (row["units"], row["unit"]) == (3, "second")


@pytest.mark.filterwarnings("ignore:deprecated:DeprecationWarning")  # the SDK marks it deprecated
async def test_translation_verbose_json_billed_by_duration(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.translations.create(
            model="whisper-1", file=(filename, audio, "audio/mpeg"), response_format="verbose_json"
        )
    assert resp.text == transcript(audio)[0]
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["cost_micros"]) == ("audio/translations", 300)


async def test_transcription_on_azure_rewrites_the_model_part(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.transcriptions.create(
            model="azure-whisper", file=(filename, audio, "audio/mpeg")
        )
    assert resp.text == transcript(audio)[0]
    parts = _upload(gateway, filename)
    assert _field(parts, "model").value == b"whisper-1" and _field(parts, "file").value == audio
    row = await _only_row(gateway, name)
    assert (row["channel"], row["cost_micros"]) == ("azure-east", 300)


async def test_upload_is_sent_again_to_the_next_channel(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    name, client = await _client(gateway)
    async with client:
        resp = await client.audio.transcriptions.create(
            model="whisper-retry", file=(filename, audio, "audio/mpeg")
        )
    assert resp.text == transcript(audio)[0]
    uploads = [parts for parts in gateway.fake.media.uploads if any(p.filename == filename for p in parts)]
    assert [_field(parts, "model").value for parts in uploads] == [b"fail-500", b"whisper-1"]
    assert all(_field(parts, "file").value == audio for parts in uploads)
    row = await _only_row(gateway, name)
    assert (row["status"], row["attempts"], row["channel"], row["cost_micros"]) == (200, 2, "main", 300)


async def test_unsupported_response_format_is_the_upstreams_400(gateway: LiveGateway) -> None:
    filename, audio = _audio()
    async with gateway.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.transcriptions.create(
                model="gpt-4o-transcribe", file=(filename, audio, "audio/mpeg"), response_format="srt"
            )
    assert caught.value.param == "response_format"
    assert "not compatible with model 'gpt-4o-transcribe'" in caught.value.message


# -- speech ------------------------------------------------------------------------------------------------


async def test_speech_streams_back_in_chunks(gateway: LiveGateway) -> None:
    text = "Hello there, gateway!"
    name, client = await _client(gateway)
    async with (
        client,
        client.audio.speech.with_streaming_response.create(model="tts-1", voice="alloy", input=text) as resp,
    ):
        assert resp.headers["content-type"] == "audio/mpeg"
        chunks = [chunk async for chunk in resp.iter_bytes()]
    assert b"".join(chunks) == speech_audio(text)
    assert len(chunks) > 1, "the audio arrived in one piece: it was buffered, not streamed"
    row = await _only_row(gateway, name)
    assert (row["endpoint"], row["stream"], row["prompt_tokens"]) == ("audio/speech", True, len(text))
    assert row["cost_micros"] == 315  # 21 characters x $15 per 1M
    assert (row["units"], row["unit"]) == (len(text), "character")


async def test_speech_formats_keep_their_content_type(gateway: LiveGateway) -> None:
    async with gateway.client() as client:
        resp = await client.audio.speech.create(
            model="tts-1", voice="nova", input="hi", response_format="wav"
        )
    assert resp.response.headers["content-type"] == "audio/wav"
    assert resp.content == speech_audio("hi")


async def test_speech_upstream_error_comes_back(gateway: LiveGateway) -> None:
    async with gateway.client() as client:
        with pytest.raises(openai.BadRequestError) as caught:
            await client.audio.speech.create(model="tts-1", voice="nobody", input="hi")  # type: ignore[arg-type]
    assert caught.value.param == "voice"


# -- bad input at the gateway ------------------------------------------------------------------------------


@pytest.fixture
async def http() -> AsyncIterator[aiohttp.ClientSession]:
    async with aiohttp.ClientSession() as session:
        yield session


def _auth(gateway: LiveGateway) -> dict[str, str]:
    return {"Authorization": f"Bearer {ALICE_KEY}"}


async def _openai_error(resp: aiohttp.ClientResponse, status: int) -> dict[str, Any]:
    assert resp.status == status, await resp.text()
    assert resp.headers.get("x-request-id")
    body = await resp.json()
    assert set(body["error"]) >= {"message", "type", "code", "param"}
    error: dict[str, Any] = body["error"]
    return error


async def test_missing_file_is_refused(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("model", "whisper-1")
    form.add_field("audio", b"RIFF....", filename="a.wav", content_type="audio/wav")  # wrong field name
    async with http.post(f"{gateway.url}/v1/audio/transcriptions", data=form, headers=_auth(gateway)) as resp:
        error = await _openai_error(resp, 400)
    assert error["param"] == "file" and error["type"] == "invalid_request_error"


async def test_missing_model_is_refused(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    form = aiohttp.FormData()
    form.add_field("file", b"RIFF....", filename="a.wav", content_type="audio/wav")
    async with http.post(f"{gateway.url}/v1/audio/translations", data=form, headers=_auth(gateway)) as resp:
        error = await _openai_error(resp, 400)
    assert error["param"] == "model"


async def test_json_sent_to_an_upload_route_is_refused(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    body = {"model": "dall-e-2", "prompt": "x"}
    async with http.post(f"{gateway.url}/v1/images/edits", json=body, headers=_auth(gateway)) as resp:
        error = await _openai_error(resp, 400)
    assert "multipart/form-data" in error["message"]


async def test_speech_input_must_be_text(gateway: LiveGateway, http: aiohttp.ClientSession) -> None:
    body = {"model": "tts-1", "voice": "alloy", "input": ["not", "text"]}
    async with http.post(f"{gateway.url}/v1/audio/speech", json=body, headers=_auth(gateway)) as resp:
        error = await _openai_error(resp, 400)
    assert error["param"] == "input"


async def test_oversize_upload_is_refused_while_reading(
    gateway: LiveGateway, http: aiohttp.ClientSession
) -> None:
    """No Content-Length (chunked): the limit (1 MB here) is enforced on the bytes as they arrive."""
    boundary = "hubgate-test-boundary"
    sent = 0

    async def body() -> AsyncIterator[bytes]:
        nonlocal sent
        yield (
            f'--{boundary}\r\nContent-Disposition: form-data; name="model"\r\n\r\nwhisper-1\r\n'
            f'--{boundary}\r\nContent-Disposition: form-data; name="file"; filename="big.mp3"\r\n'
            "Content-Type: audio/mpeg\r\n\r\n"
        ).encode()
        for _ in range(20):  # 1.25 MB in all
            sent += 64 * 1024
            yield b"\0" * (64 * 1024)
        yield f"\r\n--{boundary}--\r\n".encode()

    headers = {**_auth(gateway), "Content-Type": f"multipart/form-data; boundary={boundary}"}
    uploads = len(gateway.fake.media.uploads)
    async with http.post(f"{gateway.url}/v1/audio/transcriptions", data=body(), headers=headers) as resp:
        error = await _openai_error(resp, 413)
    assert "1 MB" in error["message"]
    assert len(gateway.fake.media.uploads) == uploads, "nothing went upstream"


async def test_oversize_upload_with_content_length(gateway: LiveGateway) -> None:
    async with gateway.client() as client:
        with pytest.raises(openai.APIStatusError) as caught:
            await client.audio.transcriptions.create(
                model="whisper-1", file=("big.mp3", b"\0" * (1024 * 1024 + 1), "audio/mpeg")
            )
    assert caught.value.status_code == 413
