from __future__ import annotations

import random
from collections import Counter

from hubgate.providers.channel import Channel
from hubgate.routing.channels import ChannelTable


def ch(name: str, models: list[str], priority: int = 0, weight: int = 1, **kw: object) -> Channel:
    return Channel(
        name=name,
        type="openai",
        base_url="http://127.0.0.1:1/v1",
        api_keys=("k1", "k2"),
        models=frozenset(models),
        model_map=dict(kw.pop("model_map", {})),  # type: ignore[call-overload]
        priority=priority,
        weight=weight,
    )


def test_priority_tiers_come_first_and_weights_share_the_first_pick() -> None:
    table = ChannelTable(
        [ch("a", ["m"], priority=1, weight=3), ch("b", ["m"], priority=1, weight=1), ch("c", ["m"])],
        rng=random.Random(7),
    )
    firsts: Counter[str] = Counter()
    for _ in range(4000):
        route = table.resolve("m")
        assert route is not None
        assert route.channels[-1].name == "c"  # the fallback tier is always last
        firsts[route.channels[0].name] += 1
    assert 0.70 < firsts["a"] / 4000 < 0.80  # weight 3 of 4


def test_weight_zero_is_only_a_fallback() -> None:
    table = ChannelTable([ch("zero", ["m"], weight=0), ch("one", ["m"], weight=1)], rng=random.Random(1))
    for _ in range(200):
        route = table.resolve("m")
        assert route is not None and route.channels[0].name == "one"


def test_pinning_and_slashes_in_model_names() -> None:
    table = ChannelTable([ch("main", ["gpt-4o-mini", "meta-llama/Llama-3-8B"]), ch("other", ["gpt-4o-mini"])])
    pinned = table.resolve("main/gpt-4o-mini")
    assert pinned is not None and pinned.model == "gpt-4o-mini"
    assert [c.name for c in pinned.channels] == ["main"]
    slashed = table.resolve("meta-llama/Llama-3-8B")
    assert slashed is not None and slashed.model == "meta-llama/Llama-3-8B"
    assert table.resolve("other/meta-llama/Llama-3-8B") is None
    assert table.resolve("nobody/gpt-4o-mini") is None


def test_model_map_and_key_rotation() -> None:
    c = ch("main", ["fast"], model_map={"fast": "gpt-4o-mini"})
    assert c.upstream_model("fast") == "gpt-4o-mini"
    assert c.upstream_model("other") == "other"
    assert [c.next_key() for _ in range(4)] == ["k1", "k2", "k1", "k2"]
