"""The playground's model offer: chat models only, a healthy and familiar one first, and a
reason instead of an empty list."""

from __future__ import annotations

import pytest

from hubgate.console.model_choice import for_key, is_chat_model


@pytest.mark.parametrize(
    "model",
    ["text-embedding-3-small", "echo-embed", "jina-reranker-v2", "bge-m3", "dall-e-3", "gpt-image-1",
     "whisper-1", "gpt-4o-transcribe", "tts-1", "omni-moderation-latest", "sora-2", "veo-3"],
)  # fmt: skip
def test_models_for_other_work_are_not_chat(model: str) -> None:
    assert not is_chat_model(model, ["openai"])


@pytest.mark.parametrize("model", ["gpt-4o-mini", "echo-1", "claude-sonnet-4-5", "deepseek-chat", "qwen3"])
def test_chat_models(model: str) -> None:
    assert is_chat_model(model, ["openai", "anthropic"])


def test_a_channel_type_without_chat_offers_none() -> None:
    assert not is_chat_model("jina-deepsearch", ["jina"])
    assert is_chat_model("command-r", ["cohere"])


def test_healthy_then_most_used_then_by_name() -> None:
    chat = ["aaa-dead", "azure-gpt", "echo-1", "gpt-4o-mini"]
    healthy = {"azure-gpt", "echo-1", "gpt-4o-mini"}
    offer = for_key(None, chat, healthy, [])
    assert offer.default == "azure-gpt" and offer.models[-1] == "aaa-dead" and offer.note is None
    offer = for_key(None, chat, healthy, ["aaa-dead", "gpt-4o-mini"])
    assert offer.default == "gpt-4o-mini"  # the most used healthy one; the dead one stays last
    assert offer.models == ["gpt-4o-mini", "azure-gpt", "echo-1", "aaa-dead"]


def test_a_key_whose_models_do_not_exist_says_so() -> None:
    offer = for_key(["ghost-model"], ["echo-1"], {"echo-1"}, [])
    assert offer.models == [] and offer.default is None
    assert offer.note is not None and "ghost-model" in offer.note
    offer = for_key(None, [], set(), [])
    assert offer.note is not None and "No chat model" in offer.note
