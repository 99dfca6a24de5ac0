"""Each relayed family's hold ceiling, from the caller's body (relay/holds.py: ceiling)."""

from __future__ import annotations

from typing import Any

from hubgate.formats.registry import WireFormat
from hubgate.metering import hold
from hubgate.providers.base import Endpoint, FormPart
from hubgate.relay.call import Call
from hubgate.relay.holds import ceiling
from hubgate.relay.media import MediaCall


def _call(endpoint: Endpoint, body: dict[str, Any], fmt: WireFormat = WireFormat.OPENAI_CHAT) -> Call:
    return Call(fmt, endpoint, body, str(body.get("model", "m")), False)


def test_text_families_hold_prompt_bound_and_output_cap() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "hi"}], "n": 2, "max_tokens": 10}
    chat = ceiling(_call(Endpoint.CHAT, body))
    assert chat == hold.Ceiling(hold.input_bound(body), 20)  # two answers of at most 10 tokens
    gemini = ceiling(_call(Endpoint.GENERATE, {"contents": [{"parts": [{"text": "x"}]}]}, WireFormat.GEMINI))
    assert gemini is not None and gemini.completion_tokens is None  # no cap: the model's maximum
    embed = ceiling(_call(Endpoint.EMBEDDINGS, {"model": "e", "input": ["a", "b"]}))
    assert embed is not None and embed.completion_tokens == 0 and embed.prompt_tokens == 4
    assert ceiling(_call(Endpoint.COUNT_TOKENS, {"messages": []})) is None  # free
    assert ceiling(_call(Endpoint.MODERATIONS, {"input": "x"})) is None


def test_media_families_hold_their_units() -> None:
    images = ceiling(_call(Endpoint.IMAGES_GENERATIONS, {"model": "dall-e-3", "prompt": "a cat", "n": 3}))
    assert images is not None and (images.units, images.unit) == (3, "image")
    assert images.completion_tokens == 3 * hold.IMAGE_OUTPUT_TOKENS  # for image-token prices
    speech = ceiling(_call(Endpoint.AUDIO_SPEECH, {"model": "tts-1", "input": "hello there", "voice": "a"}))
    assert speech is not None and (speech.units, speech.unit, speech.prompt_tokens) == (11, "character", 11)
    audio = MediaCall(
        WireFormat.OPENAI_CHAT, Endpoint.AUDIO_TRANSCRIPTIONS, {"model": "whisper-1"}, "whisper-1", False,
        form=(FormPart("model", b"whisper-1"), FormPart("file", b"\0" * 120_500, "a.mp3", "audio/mpeg")),
    )  # fmt: skip
    heard = ceiling(audio)
    assert heard is not None and (heard.units, heard.unit) == (121, "second")  # at most 8 kbit/s
    video = ceiling(_call(Endpoint.VIDEOS, {"model": "sora-2", "prompt": "x", "seconds": "8"}))
    assert video is not None and (video.units, video.unit) == (8, "video_second")
    default = ceiling(_call(Endpoint.VIDEOS, {"model": "sora-2", "prompt": "x"}))
    assert default is not None and default.units == 4  # OpenAI's default length
