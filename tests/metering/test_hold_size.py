"""Hold sizing: what a request may cost at most, read from its body without a tokenizer."""

from __future__ import annotations

from datetime import UTC, datetime
from decimal import Decimal

from hubgate.access.account_cache import AccountCache
from hubgate.access.billing import Billing
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


def test_the_remembered_hold_formula_equals_the_general_sizing() -> None:
    """hold_size remembers each (models, key, account) formula (HoldPlan); it must give what
    the general path (price lookup, bound_micros, caps) gives, to the micro-dollar."""
    import random

    from hubgate.metering.price import Tier

    rnd = random.Random(13)
    prices = {
        "m": PRICE,
        "gpt-4o-mini": PRICE,
        "odd": Price(input=Decimal("0.37"), output=Decimal("1.11"), per_request=Decimal("0.0003")),
        "think": Price(input=Decimal("0.3"), output=Decimal("2.5"), output_thinking=Decimal("3.5")),
        "tiered": Price(
            input=Decimal("1.25"),
            output=Decimal(10),
            tiers=(Tier(200_000, Price(input=Decimal("2.5"), output=Decimal(15))),),
        ),
    }
    for _ in range(3000):
        cap = rnd.choice([None, 0, 1, 7_777, 50_000_000])
        billing = _billing(max_request_cost_micros=cap)
        for name, price in prices.items():
            billing.set_price(name, price)
        key = _key(rnd.choice([None, "1", "3", "0.37", "0"]))
        group = rnd.choice(["half", "default", "none"])
        account = rnd.choice(
            [None, AccountRecord(id=2, name="a", group=group, limited=True, balance_micros=0, disabled=False,
                                 max_request_cost_micros=rnd.choice([None, 999]))]
        )  # fmt: skip
        models = tuple(rnd.sample([*prices, "nobody-prices-this", "gpt-4o", None], rnd.randint(1, 3)))
        ceiling = Ceiling(rnd.choice([0, 1, 5, 199_999, 250_000]), rnd.choice([None, 0, 3, 64, 100_000]))
        general = billing._hold_size(ceiling, key, account, models, None)
        assert billing.hold_size(ceiling, key, account, *models) == general, (ceiling, models, key, account)
        assert billing.hold_size(ceiling, key, account, *models) == general  # from the remembered plan


def test_a_remembered_hold_formula_follows_price_and_group_changes() -> None:
    billing = _billing()
    ceiling = Ceiling(prompt_tokens=10, completion_tokens=5)
    account = AccountRecord(id=2, name="a", group="half", limited=True, balance_micros=0, disabled=False)
    assert billing.hold_size(ceiling, _key(), account, "m") == (10 * 1000 + 5 * 2000) // 2
    billing.set_group("half", Decimal("0.25"))
    assert billing.hold_size(ceiling, _key(), account, "m") == (10 * 1000 + 5 * 2000) // 4
    billing.set_price("m", Price(input=Decimal(4000), output=Decimal(0)))
    assert billing.hold_size(ceiling, _key(), account, "m") == 10 * 4000 // 4
    assert billing.hold_size(ceiling, _key("2"), account, "m") == 10 * 4000 // 2  # the key's own factor


def _reference_input_bound(body: object) -> int:
    """The walk as first written (one function call per string), kept to check the fast one."""
    total, stack = 0, [(None, [body])]
    while stack:
        key, container = stack.pop()
        items = container.items() if isinstance(container, dict) else ((key, v) for v in container)  # type: ignore[attr-defined]
        for k, value in items:
            if isinstance(container, dict) and k == "model":
                continue
            if type(value) is str:
                media = k in hold._MEDIA_KEYS and (len(value) >= 256 or value.startswith(("data:", "http")))
                total += hold.MEDIA_ITEM_TOKENS if media else 1 + len(value.encode("utf-8", "replace"))
            elif isinstance(value, dict | list):
                stack.append((k, value))
            elif value is not None:
                total += 1
    return total


def test_input_bound_and_output_cap_agree_with_a_plain_reading_on_random_bodies() -> None:
    import json
    import random

    rnd = random.Random(7)
    names = ["model", "messages", "role", "content", "url", "image_url", "data", "max_tokens", "n",
             "generationConfig", "maxOutputTokens", "candidateCount", "best_of", "max_output_tokens",
             "generation_config", "file_data", "max_completion_tokens", "candidate_count"]  # fmt: skip

    def value(depth: int) -> object:
        r = rnd.random()
        if depth > 4 or r < 0.3:
            return rnd.choice(
                ["hi", "data:x", "http://a", "é漢字" * rnd.randint(0, 80), "a" * rnd.randint(0, 400)]
            )
        if r < 0.4:
            return rnd.choice([None, True, False, 0, -3, 7, 2.5, 100])
        if r < 0.7:
            return [value(depth + 1) for _ in range(rnd.randint(0, 4))]
        return {rnd.choice(names): value(depth + 1) for _ in range(rnd.randint(0, 5))}

    for _ in range(20_000):
        body = json.loads(json.dumps({rnd.choice(names): value(1) for _ in range(rnd.randint(0, 6))}))
        assert hold.input_bound(body) == _reference_input_bound(body), body
        places = [body, body.get("generationConfig") or body.get("generation_config")]
        counts = [(n, v) for p in places if isinstance(p, dict) for n, v in p.items()
                  if type(v) is int and v > 0]  # fmt: skip
        caps = [v for n, v in counts if n in hold._CAP_NAMES]
        answers = max([v for n, v in counts if n in hold._ANSWERS], default=1)
        assert hold.output_cap(body) == (max(caps) * answers if caps else None), body


def test_a_body_without_media_or_escapes_is_bounded_by_its_bytes_never_below_the_walk() -> None:
    """prompt_bound takes the raw body's length instead of walking it, unless the body has a
    media key or a \\u escape (which could spell one): then it is the walk's figure."""
    import json
    import random

    rnd = random.Random(11)
    texts = [
        "Say twenty words, please.",
        "é漢字 🙂",
        "",
        "a" * 300,
        "data:image/png;base64,AAAA",
        "http://x/y.png",
    ]
    keys = ["role", "content", "text", "type", "name", "input", "system", "url", "image_url", "data", "model"]
    for _ in range(5000):
        content = [{rnd.choice(keys): rnd.choice(texts)} for _ in range(rnd.randint(0, 3))]
        body = {
            "model": "m",
            "messages": [{"role": "user", "content": content}],
            "max_tokens": rnd.randint(1, 9),
        }
        raw = json.dumps(body, ensure_ascii=rnd.random() < 0.5, indent=rnd.choice([None, 1])).encode()
        walk = hold.input_bound(body)
        bound = hold.prompt_bound(body, raw)
        assert bound >= walk, (raw, bound, walk)
        if hold.needs_walk(raw):
            assert bound == walk
        else:
            assert bound == len(raw)
    assert hold.prompt_bound({"model": "m"}, None) == hold.input_bound({"model": "m"}) == 0
    escaped = (
        b'{"messages": [{"content": [{"type": "image_url", "image\\u005furl": {"\\u0075rl": "http://x"}}]}]}'
    )
    assert (
        hold.prompt_bound(json.loads(escaped), escaped) >= hold.MEDIA_ITEM_TOKENS
    )  # an escaped key is still media
    image = {
        "messages": [{"content": [{"type": "image_url", "image_url": {"url": "data:," + "A" * 500_000}}]}]
    }
    raw = json.dumps(image).encode()
    assert hold.prompt_bound(image, raw) == hold.input_bound(image) < hold.MEDIA_ITEM_TOKENS + 100  # not 500k
