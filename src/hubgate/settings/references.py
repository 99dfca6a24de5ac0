"""Cross-entry checks of a whole configuration (unique names, references that resolve), and
how a problem's location is written (`channels[1].weight`, `pricing['gpt-4.1']`)."""

import re
from collections.abc import Iterator, Mapping
from typing import Any

from hubgate.settings.base import Loc

SKIP_REFERENCES = "hubgate.skip_references"  # validation context flag: parse_settings checks them itself
_PLAIN_KEY = re.compile(r"[A-Za-z_][\w-]*")


def _items(section: object) -> Iterator[tuple[int, Mapping[str, Any]]]:
    if isinstance(section, list | tuple):
        for i, item in enumerate(section):
            if isinstance(item, Mapping):
                yield i, item


def reference_errors(data: Mapping[str, Any]) -> list[tuple[Loc, str]]:
    """Cross-entry checks: unique names, and keys/accounts naming accounts/groups that exist."""
    problems: list[tuple[Loc, str]] = []
    names: dict[str, set[str]] = {}
    for section in ("channels", "accounts", "keys"):
        seen = names[section] = set()
        for i, item in _items(data.get(section)):
            name = item.get("name")
            if isinstance(name, str):
                if name in seen:
                    problems.append(((section, i, "name"), f"duplicate {section[:-1]} name {name!r}"))
                seen.add(name)
    groups = data.get("groups", {})
    if isinstance(groups, Mapping):
        known = {"default", *groups}
        for i, item in _items(data.get("accounts")):
            group = item.get("group", "default")
            if isinstance(group, str) and group not in known:
                message = f"unknown group {group!r}; groups: {', '.join(sorted(known))}"
                problems.append((("accounts", i, "group"), message))
    accounts = list(_items(data.get("accounts")))
    if all(isinstance(item.get("name"), str) for _, item in accounts):  # else the name error says enough
        for i, item in _items(data.get("keys")):
            account = item.get("account")
            if isinstance(account, str) and account != "default" and account not in names["accounts"]:
                problems.append((("keys", i, "account"), f"unknown account {account!r}"))
    return problems


def format_loc(loc: Loc) -> str:
    """('channels', 0, 'api_key') -> 'channels[0].api_key'; odd keys are quoted: pricing['gpt-4.1']."""
    out = ""
    for part in loc:
        if isinstance(part, int):
            out += f"[{part}]"
        elif _PLAIN_KEY.fullmatch(part):
            out += f".{part}" if out else part
        else:
            out += f"[{part!r}]"
    return out
