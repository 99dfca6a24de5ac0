"""The built-in price table: USD per 1M tokens for widely used models.

Keys are lowercase base model ids without provider prefix or snapshot date;
`prices.lookup` maps `openai/gpt-4o-2024-08-06` or `models/gemini-2.5-pro` onto
them. Each provider block says where its numbers come from (`PRICE_SOURCES`).
Not modelled, by design: batch and priority/fast-mode rates, regional surcharges,
audio-input rates (Gemini, gpt-4o audio), context-cache storage per hour, and
tool fees (web search, code execution). Operators override any entry under
`pricing:`.
"""

from __future__ import annotations

from datetime import date
from decimal import Decimal
from typing import Final

from hubgate.metering.price import ZERO, Price, Tier

PRICES_SOURCE_DATE: Final = date(2026, 11, 22)
"""When this table was compiled and checked against the sources below (each
source's own as-of date, where it states one, is in `PRICE_SOURCES`)."""

PRICE_SOURCES: Final[dict[str, str]] = {
    "openai": "developers.openai.com/api/docs/pricing and the per-model pages "
    "developers.openai.com/api/docs/models/<id>; cross-checked with models.dev "
    "(anomalyco/models.dev providers/openai); video (sora-2, sora-2-pro, USD per second by size): "
    "the pricing page's Video table, as restated by cometapi.com ('Sora API access in 2026') and "
    "help.apiyi.com's per-second table (checked 2026-11-22)",
    "anthropic": "platform.claude.com/docs/en/about-claude/pricing (model table with 5m/1h cache "
    "writes and cache hits; long-context table for Sonnet 4/4.5); "
    "platform.claude.com/docs/en/models/sonnet-5/overview",
    "google": "ai.google.dev/gemini-api/docs/pricing (paid tier, text/image/video input); "
    "cross-checked with models.dev providers/google",
    "deepseek": "api-docs.deepseek.com/quick_start/pricing (V3.2 rates for deepseek-chat/"
    "deepseek-reasoner; V4 Pro list price as accessed 2026-08-17, via models.dev)",
    "qwen": "alibabacloud.com/help/en/model-studio/models (international deployment), "
    "via models.dev providers/alibaba",
    "moonshot": "platform.moonshot.ai/docs/pricing/chat and platform.kimi.ai/docs/pricing/chat-k3 "
    "(accessed 2026-07-17), via models.dev providers/moonshotai",
    "zhipu": "docs.z.ai/guides/overview/pricing, via models.dev providers/zai",
    "minimax": "platform.minimax.io/docs/guides/pricing, via models.dev providers/minimax",
    "xai": "docs.x.ai/docs/models, via models.dev providers/xai",
}


def _d(value: str | None) -> Decimal | None:
    return None if value is None else Decimal(value)


def _p(
    input: str,
    output: str = "0",
    cached: str | None = None,
    *,
    write: str | None = None,
    write_1h: str | None = None,
    thinking: str | None = None,
    tiers: tuple[Tier, ...] = (),
) -> Price:
    return Price(
        input=Decimal(input),
        output=Decimal(output),
        cached_input=_d(cached),
        cache_write=_d(write),
        cache_write_1h=_d(write_1h),
        per_request=ZERO,
        output_thinking=_d(thinking),
        tiers=tiers,
    )


def _above(tokens: int, price: Price) -> Tier:
    return Tier(above=tokens, price=price)


def _claude(input: str, write_5m: str, write_1h: str, read: str, output: str, *tiers: Tier) -> Price:
    """Anthropic's columns, in the order of its pricing table."""
    return _p(input, output, read, write=write_5m, write_1h=write_1h, tiers=tiers)


def _table(*rows: tuple[tuple[str, ...], Price]) -> dict[str, Price]:
    table: dict[str, Price] = {}
    for names, price in rows:
        for name in names:
            if name in table or name != name.lower():
                raise ValueError(f"price table key {name!r} is duplicated or not lowercase")
            table[name] = price
    return table


# --- OpenAI: input, output, cached input. Cached input is 50% of input on gpt-4o,
# o1 and o3-mini, 25% on gpt-4.1, o3 and o4-mini, 10% on the gpt-5 family. Prompt
# caching is automatic and writes cost nothing extra.
_OPENAI = (
    (("gpt-5.5",), _p("5.00", "30.00", "0.50", tiers=(_above(272_000, _p("10.00", "45.00", "1.00")),))),
    (("gpt-5.4",), _p("2.50", "15.00", "0.25")),
    (("gpt-5.4-mini",), _p("0.75", "4.50", "0.075")),
    (("gpt-5.4-nano",), _p("0.20", "1.25", "0.02")),
    (("gpt-5.2", "gpt-5.2-codex"), _p("1.75", "14.00", "0.175")),
    (("gpt-5.1", "gpt-5.1-codex", "gpt-5", "gpt-5-codex"), _p("1.25", "10.00", "0.125")),
    (("gpt-5-mini",), _p("0.25", "2.00", "0.025")),
    (("gpt-5-nano",), _p("0.05", "0.40", "0.005")),
    (("gpt-5-pro",), _p("15.00", "120.00")),
    (("gpt-4.1",), _p("2.00", "8.00", "0.50")),
    (("gpt-4.1-mini",), _p("0.40", "1.60", "0.10")),
    (("gpt-4.1-nano",), _p("0.10", "0.40", "0.025")),
    (("gpt-4o",), _p("2.50", "10.00", "1.25")),
    (("gpt-4o-2024-05-13",), _p("5.00", "15.00")),
    (("gpt-4o-mini",), _p("0.15", "0.60", "0.075")),
    (("o3",), _p("2.00", "8.00", "0.50")),
    (("o4-mini",), _p("1.10", "4.40", "0.275")),
    (("o3-mini", "o1-mini"), _p("1.10", "4.40", "0.55")),
    (("o1",), _p("15.00", "60.00", "7.50")),
    (
        ("gpt-4-turbo", "gpt-4-turbo-preview", "gpt-4-1106-preview", "gpt-4-0125-preview"),
        _p("10.00", "30.00"),
    ),
    (("gpt-4",), _p("30.00", "60.00")),
    (("gpt-3.5-turbo",), _p("0.50", "1.50")),
    (("text-embedding-3-small",), _p("0.02")),
    (("text-embedding-3-large",), _p("0.13")),
    (("text-embedding-ada-002",), _p("0.10")),
)

# --- Anthropic: base input, 5-minute cache write (1.25x), 1-hour cache write (2x),
# cache read (0.1x), output. Sonnet 4 and 4.5 cost more for prompts over 200K
# tokens (the 1M-context window); Sonnet 4.6 and Opus 4.6+ do not.
_SONNET_LONG = _above(200_000, _claude("6", "7.50", "12", "0.60", "22.50"))
_ANTHROPIC = (
    (
        ("claude-opus-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6", "claude-opus-4-5"),
        _claude("5", "6.25", "10", "0.50", "25"),
    ),
    (
        ("claude-opus-4-1", "claude-opus-4", "claude-opus-4-0", "claude-3-opus"),
        _claude("15", "18.75", "30", "1.50", "75"),
    ),
    (("claude-sonnet-5",), _claude("2", "2.50", "4", "0.20", "10")),
    (
        ("claude-sonnet-4-6", "claude-3-7-sonnet", "claude-3-5-sonnet"),
        _claude("3", "3.75", "6", "0.30", "15"),
    ),
    (
        ("claude-sonnet-4-5", "claude-sonnet-4", "claude-sonnet-4-0"),
        _claude("3", "3.75", "6", "0.30", "15", _SONNET_LONG),
    ),
    (("claude-haiku-4-5",), _claude("1", "1.25", "2", "0.10", "5")),
    (("claude-3-5-haiku",), _claude("0.80", "1", "1.6", "0.08", "4")),
    (("claude-3-haiku",), _claude("0.25", "0.30", "0.50", "0.03", "1.25")),
)

# --- Google Gemini: input, output (thinking included), cached input. Pro models
# cost more for prompts over 200K tokens. Implicit caching charges no write.
_GEMINI_PRO_3 = _p("2.00", "12.00", "0.20", tiers=(_above(200_000, _p("4.00", "18.00", "0.40")),))
_GOOGLE = (
    (("gemini-3.1-pro", "gemini-3-pro"), _GEMINI_PRO_3),
    (("gemini-3-flash",), _p("0.50", "3.00", "0.05")),
    (
        ("gemini-2.5-pro",),
        _p("1.25", "10.00", "0.125", tiers=(_above(200_000, _p("2.50", "15.00", "0.25")),)),
    ),
    (("gemini-2.5-flash",), _p("0.30", "2.50", "0.03")),
    (("gemini-2.5-flash-lite",), _p("0.10", "0.40", "0.01")),
    (("gemini-2.0-flash",), _p("0.10", "0.40", "0.025")),
    (("gemini-2.0-flash-lite",), _p("0.075", "0.30")),
    (("gemini-embedding-001",), _p("0.15")),
)

# --- DeepSeek: cache-miss input, output, cache-hit input. V4 bills by time of day;
# the table carries the list (peak) rate, off-peak hours cost half.
_DEEPSEEK = (
    (("deepseek-chat", "deepseek-reasoner"), _p("0.28", "0.42", "0.028")),
    (("deepseek-v4-pro",), _p("1.32", "3.96", "0.044")),
)

# --- Qwen (Alibaba Cloud Model Studio, international): tiered by prompt size;
# thinking-mode output (reasoning reported) is dearer on qwen-plus and qwen-turbo.
_QWEN = (
    (("qwen-max",), _p("1.60", "6.40", "0.32")),
    (
        ("qwen3-max",),
        _p(
            "1.20",
            "6.00",
            "0.24",
            write="1.50",
            tiers=(
                _above(32_000, _p("2.40", "12.00", "0.48", write="3.00")),
                _above(128_000, _p("3.00", "15.00", "0.60", write="3.75")),
            ),
        ),
    ),
    (
        ("qwen-plus",),
        _p(
            "0.40",
            "1.20",
            "0.08",
            write="0.50",
            thinking="4.00",
            tiers=(_above(256_000, _p("1.20", "3.60", "0.24", write="1.50", thinking="12.00")),),
        ),
    ),
    (("qwen-turbo",), _p("0.05", "0.20", "0.01", thinking="0.50")),
    (("qwen-flash",), _p("0.05", "0.40", "0.01", tiers=(_above(256_000, _p("0.25", "2.00", "0.05")),))),
    (
        ("qwen3-coder-plus",),
        _p(
            "1.00",
            "5.00",
            "0.20",
            write="1.25",
            tiers=(
                _above(32_000, _p("1.80", "9.00", "0.36", write="2.25")),
                _above(128_000, _p("3.00", "15.00", "0.60", write="3.75")),
                _above(256_000, _p("6.00", "60.00", "1.20", write="7.50")),
            ),
        ),
    ),
)

# --- Moonshot (Kimi): cache-miss input, output, cache-hit input.
_MOONSHOT = (
    (("kimi-k3",), _p("3.00", "15.00", "0.30")),
    (("kimi-k2.6",), _p("0.95", "4.00", "0.16")),
    (("kimi-k2.5",), _p("0.60", "3.00", "0.10")),
    (("kimi-k2", "kimi-k2-thinking"), _p("0.60", "2.50", "0.15")),
    (("kimi-k2-turbo",), _p("2.40", "10.00", "0.60")),
)

# --- Zhipu (Z.ai GLM): input, output, cached input; cache storage is free.
_ZHIPU = (
    (("glm-4.7", "glm-4.6", "glm-4.5"), _p("0.60", "2.20", "0.11")),
    (("glm-4.5-air",), _p("0.20", "1.10", "0.03")),
    (("glm-4.5-flash",), _p("0", "0", "0")),
)

# --- MiniMax: input, output, cache read, cache write. M1 is tiered at 200K.
_MINIMAX = (
    (("minimax-m3",), _p("0.35", "1.40", "0.07", write="0.40")),
    (("minimax-m2.5", "minimax-m2.1", "minimax-m2"), _p("0.30", "1.20", "0.03", write="0.375")),
    (("minimax-m1",), _p("0.40", "2.20", tiers=(_above(200_000, _p("1.30", "2.20")),))),
)

# --- xAI (Grok): input, output, cached input. The >128K rate of grok-4 and
# grok-4-fast is not modelled.
_XAI_FAST = _p("0.20", "0.50", "0.05")
_XAI = (
    (("grok-4.3",), _p("1.25", "2.50", "0.20", tiers=(_above(200_000, _p("2.50", "5.00", "0.40")),))),
    (("grok-4", "grok-3"), _p("3.00", "15.00", "0.75")),
    (
        (
            "grok-4-fast",
            "grok-4-fast-reasoning",
            "grok-4-fast-non-reasoning",
            "grok-4-1-fast",
            "grok-4-1-fast-reasoning",
            "grok-4-1-fast-non-reasoning",
        ),
        _XAI_FAST,
    ),
    (("grok-3-mini",), _p("0.30", "0.50", "0.075")),
    (("grok-code-fast-1",), _p("0.20", "1.50", "0.02")),
)


def _per_second(usd: str) -> Price:
    return Price(input=ZERO, per_request=Decimal(usd))


# --- OpenAI video (Sora): USD per second of generated video, carried in `per_request`
# (a video's usage row counts seconds). A size priced apart from the model's base rate is
# an entry of its own, `model:size` (see prices.lookup_video). sora-2: $0.10/s at 720x1280
# and 1280x720; sora-2-pro: $0.30/s at those sizes, $0.50/s at 1024x1792 and 1792x1024.
_VIDEO = (
    (("sora-2",), _per_second("0.10")),
    (("sora-2-pro",), _per_second("0.30")),
    (("sora-2-pro:1024x1792", "sora-2-pro:1792x1024"), _per_second("0.50")),
)

BUILTIN_PRICES: Final[dict[str, Price]] = _table(
    *_OPENAI, *_ANTHROPIC, *_GOOGLE, *_DEEPSEEK, *_QWEN, *_MOONSHOT, *_ZHIPU, *_MINIMAX, *_XAI, *_VIDEO
)

# --- Maximum output tokens per answer, as each vendor's model page states it: what a
# request that names no output limit (max_tokens, ...) may cost at most, so its hold
# (billing) covers it. A model missing here is held at DEFAULT_MAX_OUTPUT_TOKENS.
DEFAULT_MAX_OUTPUT_TOKENS: Final = 32_768
MAX_OUTPUT_TOKENS: Final[dict[str, int]] = {
    **dict.fromkeys(("gpt-5.5", "gpt-5.4", "gpt-5.4-mini", "gpt-5.4-nano", "gpt-5.2"), 128_000),
    **dict.fromkeys(("gpt-5.2-codex", "gpt-5.1", "gpt-5.1-codex", "gpt-5", "gpt-5-codex"), 128_000),
    **dict.fromkeys(("gpt-5-mini", "gpt-5-nano"), 128_000),
    "gpt-5-pro": 272_000,
    **dict.fromkeys(("gpt-4.1", "gpt-4.1-mini", "gpt-4.1-nano"), 32_768),
    **dict.fromkeys(("gpt-4o", "gpt-4o-mini"), 16_384),
    "gpt-4o-2024-05-13": 4_096,
    **dict.fromkeys(("o3", "o4-mini", "o3-mini", "o1"), 100_000),
    "o1-mini": 65_536,
    **dict.fromkeys(("gpt-4-turbo", "gpt-4-turbo-preview", "gpt-4-1106-preview", "gpt-4-0125-preview",
                     "gpt-3.5-turbo"), 4_096),
    "gpt-4": 8_192,
    **dict.fromkeys(("text-embedding-3-small", "text-embedding-3-large", "text-embedding-ada-002",
                     "gemini-embedding-001"), 0),
    **dict.fromkeys(("claude-opus-5", "claude-opus-4-8", "claude-opus-4-7", "claude-opus-4-6"), 128_000),
    "claude-opus-4-5": 64_000,
    **dict.fromkeys(("claude-opus-4-1", "claude-opus-4", "claude-opus-4-0"), 32_000),
    **dict.fromkeys(("claude-sonnet-5", "claude-sonnet-4-6", "claude-sonnet-4-5", "claude-sonnet-4",
                     "claude-sonnet-4-0", "claude-3-7-sonnet", "claude-haiku-4-5"), 64_000),
    **dict.fromkeys(("claude-3-5-sonnet", "claude-3-5-haiku"), 8_192),
    **dict.fromkeys(("claude-3-opus", "claude-3-haiku"), 4_096),
    **dict.fromkeys(("gemini-3.1-pro", "gemini-3-pro", "gemini-3-flash", "gemini-2.5-pro", "gemini-2.5-flash",
                     "gemini-2.5-flash-lite"), 65_536),
    **dict.fromkeys(("gemini-2.0-flash", "gemini-2.0-flash-lite"), 8_192),
    "deepseek-chat": 8_192,
    "deepseek-reasoner": 64_000,
    **dict.fromkeys(("qwen-max", "qwen-turbo"), 8_192),
    **dict.fromkeys(("qwen3-max", "qwen-plus", "qwen-flash", "qwen3-coder-plus"), 65_536),
}  # fmt: skip
