"""Hold sizing: what a request may cost at most, read from its body without a tokenizer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hubgate.access.billing import AccountCache, Billing
from hubgate.metering import hold
from hubgate.metering.hold import Ceiling
from hubgate.metering.price import Price
from hubgate.metering.prices import max_output_tokens
from hubgate.metering.tokenizer import count_tokens_sync
from hubgate.storage.accounts import AccountRecord
from hubgate.storage.keys import KeyRecord

PRICE = Price(input=Decimal(1000), output=Decimal(2000))  # 1000 / 2000 micro-dollars a token


def _key(multiplier: str | None = None) -> KeyRecord:
    return KeyRecord(
        id=1, name="k", key_hash="h", key_prefix="p", account=None, models=None, budget_micros=None,
        spent_micros=0, rpm=None, tpm=None, expires_at=None, revoked_at=None, source="test",
        created_at=datetime.now(UTC), price_multiplier=Decimal(multiplier) if multiplier else None,
    )  # fmt: skip


def _billing(**kwargs: object) -> Billing:
    return Billing(
        AccountCache(None),  # type: ignore[arg-type]
        default_account_id=1,
        prices={
            "m": PRICE,
            "gpt-4o-mini": PRICE,
            "per-image": Price(input=Decimal(0), per_request=Decimal("0.04")),
        },
        groups={"default": Decimal(1), "half": Decimal("0.5")},
        **kwargs,  # type: ignore[arg-type]
    )


def test_output_cap_in_every_api_shape() -> None:
    assert hold.output_cap({"max_tokens": 100}) == 100  # chat, Anthropic messages
    assert hold.output_cap({"max_completion_tokens": 70, "n": 3}) == 210  # n answers
    assert hold.output_cap({"max_output_tokens": 40}) == 40  # Responses
    assert hold.output_cap({"generationConfig": {"maxOutputTokens": 9, "candidateCount": 2}}) == 18  # Gemini
    assert hold.output_cap({"max_tokens": 5, "best_of": 4}) == 20  # legacy completions
    assert hold.output_cap({"messages": []}) is None  # no cap: the model's maximum applies
    assert hold.output_cap({"max_tokens": True}) is None  # not a count
    assert hold.output_cap({"max_tokens": -5}) is None


def test_input_bound_is_an_upper_bound_of_real_token_counts() -> None:
    texts = ["hello world " * 200, "naïve café — 東京都 " * 50, "a.b.c.d.e.f " * 100, "🙂" * 300]
    for text in texts:
        body = {"model": "m", "messages": [{"role": "user", "content": text}]}
        assert hold.input_bound(body) >= count_tokens_sync(text, "gpt-4o")
    image = {"type": "image_url", "image_url": {"url": "data:image/png;base64," + "A" * 500_000}}
    body = {"messages": [{"role": "user", "content": [image, {"type": "text", "text": "what is it"}]}]}
    assert hold.MEDIA_ITEM_TOKENS < hold.input_bound(body) < hold.MEDIA_ITEM_TOKENS + 100  # not 500k
    deep: object = "x"
    for _ in range(50_000):  # any depth: no recursion
        deep = [deep]
    assert hold.input_bound({"input": deep}) == 2


def test_a_huge_prompt_is_held_at_its_size() -> None:
    body = {"model": "m", "messages": [{"role": "user", "content": "word " * 6_000_000}], "max_tokens": 10}
    size = _billing().hold_size(hold.tokens(body), _key(), None, "m")
    assert size >= 30_000_000 * 1000  # 30 MB of prompt: $30,000+ held, so a $100 account refuses it


def test_hold_size_prices_with_group_and_key_multipliers() -> None:
    ceiling = Ceiling(prompt_tokens=10, completion_tokens=5)
    billing = _billing()
    assert billing.hold_size(ceiling, _key(), None, "m") == 10 * 1000 + 5 * 2000
    account = AccountRecord(id=2, name="a", group="half", limited=True, balance_micros=0, disabled=False)
    assert billing.hold_size(ceiling, _key("3"), account, "m") == (10 * 1000 + 5 * 2000) * 3 // 2


def test_no_cap_holds_the_models_maximum_output_or_the_request_cap() -> None:
    ceiling = Ceiling(prompt_tokens=1, completion_tokens=None)
    assert max_output_tokens("gpt-4o-mini") == 16_384
    assert _billing().hold_size(ceiling, _key(), None, "gpt-4o-mini") == 1000 + 16_384 * 2000
    unknown = _billing().hold_size(ceiling, _key(), None, "m")  # priced, no maximum known
    assert unknown == 1000 + hold_default() * 2000
    capped = _billing(max_request_cost_micros=50_000)
    assert capped.hold_size(ceiling, _key(), None, "gpt-4o-mini") == 50_000
    named = Ceiling(prompt_tokens=1, completion_tokens=100)  # a named cap is honoured, not capped
    assert capped.hold_size(named, _key(), None, "gpt-4o-mini") == 1000 + 100 * 2000


def test_units_and_unpriced_models() -> None:
    billing = _billing()
    images = Ceiling(prompt_tokens=20, completion_tokens=0, units=3, unit="image")
    assert billing.hold_size(images, _key(), None, "per-image") == 3 * 40_000  # $0.04 an image
    assert billing.hold_size(Ceiling(100, 100), _key(), None, "nobody-prices-this") == 0
    assert hold.audio_seconds(25_000_000) == 25_000 and hold.audio_seconds(0) == 1


def hold_default() -> int:
    from hubgate.metering.prices import DEFAULT_MAX_OUTPUT_TOKENS

    return DEFAULT_MAX_OUTPUT_TOKENS
