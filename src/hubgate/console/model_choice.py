"""Which models the playground offers for chat, and which it picks first. Pure functions.

A model is offered for chat unless its name says it does something else (embeddings,
reranking, images, video, speech, transcription, moderation) or only a channel type that
serves no chat carries it. The first choice is a model whose channels are healthy: the
viewer's most used one, else the first healthy one; a model behind a failing channel only
comes after every healthy one.
"""

from __future__ import annotations

import re
from collections.abc import Iterable, Mapping, Sequence
from dataclasses import dataclass

from hubgate.console.i18n import _

NOT_CHAT = re.compile(
    r"embed|rerank|bge-|(^|[-/])e5-|clip|whisper|transcri|tts|speech|dall-e|gpt-image|imagen"
    r"|image-gen|stable-diffusion|sdxl|flux|midjourney|sora|veo-|(^|[-/])veo\d|kling|suno|moderation",
    re.IGNORECASE,
)
NO_CHAT_TYPES = frozenset({"jina"})  # upstream kinds that serve embeddings and reranking only


def is_chat_model(model: str, channel_types: Iterable[str]) -> bool:
    types = set(channel_types)
    if types and types <= NO_CHAT_TYPES:
        return False
    return NOT_CHAT.search(model) is None


@dataclass(frozen=True)
class KeyModels:
    """What the playground offers for one key: its chat models, best first, and why none."""

    models: list[str]
    default: str | None
    note: str | None  # shown instead of an empty list


def for_key(
    allowed: Sequence[str] | None,
    chat: Sequence[str],
    healthy: set[str],
    most_used: Sequence[str],
) -> KeyModels:
    """`allowed`: the key's model list (None: every model); `chat`: the chat models served now;
    `healthy`: those with a healthy channel; `most_used`: the viewer's models, most used first."""
    offered = [m for m in chat if allowed is None or m in allowed]
    if not offered:
        return KeyModels([], None, _why_none(allowed, chat))
    used_rank: Mapping[str, int] = {m: i for i, m in enumerate(most_used)}
    ordered = sorted(offered, key=lambda m: (m not in healthy, used_rank.get(m, len(used_rank)), m))
    return KeyModels(ordered, ordered[0], None)


def _why_none(allowed: Sequence[str] | None, chat: Sequence[str]) -> str:
    if not chat:
        return _("No chat model is served right now. Ask an administrator to add a channel.")
    listed = ", ".join(sorted(allowed or []))
    return _(
        "This key may only use %(models)s, and none of these is a chat model served here now. "
        "Pick another key, or create one for the models listed on the API keys page."
    ) % {"models": listed}
