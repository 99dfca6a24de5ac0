"""Loading: a YAML file plus the environment -> a validated `Settings`, every problem at once.

`${VAR}` and `${VAR:-default}` inside string values are expanded from the environment (`$$` is a
literal `$`); every top-level scalar can be overridden by `HUBGATE_<NAME>`, and the environment
wins. Every problem is reported at once as `path: message`, e.g. `channels[1].weight: ...`.
"""

import os
import re
from collections.abc import Hashable, Iterator, Mapping
from pathlib import Path
from typing import Any

import yaml
from pydantic import ValidationError

from hubgate.settings.base import ConfigError, Loc
from hubgate.settings.channels import CHANNEL_KINDS, ChannelKinds
from hubgate.settings.references import SKIP_REFERENCES, format_loc, reference_errors
from hubgate.settings.root import Settings

ENV_PREFIX = "HUBGATE_"
_SECTIONS = frozenset(
    {
        "channels",
        "accounts",
        "groups",
        "keys",
        "pricing",
        "trusted_proxies",
        "console",
        "payments",
        "rate_limits",
        "default_key_limits",
    }
)
_VARIABLE = re.compile(r"\$\$|\$\{([A-Za-z_][A-Za-z0-9_]*)(?::-([^}]*))?\}|\$\{[^}]*\}?")

_ENV_FIELDS = tuple(name for name in Settings.model_fields if name not in _SECTIONS)


def find_config_path(explicit: str | None, env: Mapping[str, str]) -> Path | None:
    """The config file to use: `explicit`, else $HUBGATE_CONFIG, else ./hubgate.yaml if present, else None."""
    if explicit:
        return Path(explicit).expanduser()
    if env.get("HUBGATE_CONFIG"):
        return Path(env["HUBGATE_CONFIG"]).expanduser()
    default = Path("hubgate.yaml")
    return default if default.is_file() else None


def load_settings(
    path: str | Path | None = None, env: Mapping[str, str] | None = None, kinds: ChannelKinds | None = None
) -> Settings:
    """Read and validate the config file (or built-in defaults if there is none); raise ConfigError.

    Channel types are checked against `kinds` (the provider registry); without it, not at all."""
    env = os.environ if env is None else env
    resolved = Path(path) if path is not None else find_config_path(None, env)
    if resolved is None:
        return parse_settings({}, env, source="<defaults>", kinds=kinds)
    try:
        text = resolved.read_text(encoding="utf-8")
    except FileNotFoundError:
        raise ConfigError([f"{resolved}: config file not found"]) from None
    except (OSError, UnicodeDecodeError) as exc:
        raise ConfigError([f"{resolved}: cannot read config file: {exc}"]) from exc
    return parse_settings(_load_yaml(text, str(resolved)), env, source=str(resolved), kinds=kinds)


def parse_settings(
    data: object,
    env: Mapping[str, str] | None = None,
    source: str = "<config>",
    kinds: ChannelKinds | None = None,
) -> Settings:
    """Validate parsed config data (None means empty) against `env`; raise ConfigError with every problem.

    Channel types are checked against `kinds` (the provider registry); without it, not at all."""
    env = os.environ if env is None else env
    if data is None:
        data = {}
    if not isinstance(data, Mapping):
        raise ConfigError([f"{source}: the top level must be a mapping, not {type(data).__name__}"])
    unset: dict[Loc, str] = {}
    expanded: dict[str, Any] = _expand(data, (), env, unset)
    variables = {field: ENV_PREFIX + field.upper() for field in _ENV_FIELDS}
    from_env = {field: variable for field, variable in variables.items() if variable in env}
    for field, variable in from_env.items():
        expanded[field] = env[variable]
    unset = {loc: msg for loc, msg in unset.items() if loc[0] not in from_env}
    problems = list(unset.items())
    settings: Settings | None = None
    try:
        settings = Settings.model_validate(expanded, context={SKIP_REFERENCES: True, CHANNEL_KINDS: kinds})
    except ValidationError as exc:
        for loc, msg in _pydantic_errors(exc):
            if not any(loc[: len(bad)] == bad for bad in unset):  # already reported as an unset variable
                problems.append((loc, msg))
    problems += reference_errors(expanded)
    if problems or settings is None:
        problems.sort(key=lambda problem: _position(expanded, problem[0]))
        raise ConfigError([_render(loc, msg, from_env, source) for loc, msg in problems])
    return settings


class _Loader(yaml.SafeLoader):
    """A SafeLoader that rejects duplicate keys instead of silently keeping the last one."""

    def construct_mapping(self, node: yaml.MappingNode, deep: bool = False) -> dict[Hashable, Any]:
        seen: set[str] = set()
        for key_node, _ in node.value:
            if isinstance(key_node, yaml.ScalarNode) and key_node.tag != "tag:yaml.org,2002:merge":
                if key_node.value in seen:
                    problem = f"duplicate key {key_node.value!r}"
                    raise yaml.MarkedYAMLError(problem=problem, problem_mark=key_node.start_mark)
                seen.add(key_node.value)
        return super().construct_mapping(node, deep)


def _load_yaml(text: str, source: str) -> object:
    try:
        return yaml.load(text, Loader=_Loader)  # _Loader is a SafeLoader
    except yaml.YAMLError as exc:
        mark = getattr(exc, "problem_mark", None)
        where = f" at line {mark.line + 1}, column {mark.column + 1}" if mark is not None else ""
        problem = getattr(exc, "problem", None) or str(exc)
        raise ConfigError([f"{source}: invalid YAML{where}: {problem}"]) from exc


def _expand(value: Any, loc: Loc, env: Mapping[str, str], unset: dict[Loc, str]) -> Any:
    """Expand `${VAR}` references in every string of the tree, recording problems by path."""
    if isinstance(value, str):
        return _expand_string(value, loc, env, unset)
    if isinstance(value, list):
        return [_expand(item, (*loc, i), env, unset) for i, item in enumerate(value)]
    if isinstance(value, Mapping):
        return {k: _expand(v, (*loc, str(k)), env, unset) for k, v in value.items()}
    return value


def _expand_string(text: str, loc: Loc, env: Mapping[str, str], unset: dict[Loc, str]) -> str:
    def replace(match: re.Match[str]) -> str:
        name, default = match.group(1), match.group(2)
        if match.group(0) == "$$":
            return "$"
        if name is None:
            hint = "use ${NAME} or ${NAME:-default}, and $$ for a literal $"
            unset.setdefault(loc, f"malformed reference {match.group(0)!r}; {hint}")
            return ""
        value = env.get(name)
        if default is not None and not value:
            return default
        if value is None:
            unset.setdefault(loc, f"environment variable {name} is not set")
            return ""
        return value

    return _VARIABLE.sub(replace, text)


def _pydantic_errors(exc: ValidationError) -> Iterator[tuple[Loc, str]]:
    for error in exc.errors(include_url=False):
        loc: Loc = tuple(error["loc"])
        if error["type"] == "extra_forbidden":
            yield loc, "unknown field"
        elif error["type"] == "missing":
            yield loc, "required field is missing"
        elif loc and loc[-1] == "[key]":
            yield loc[:-1], f"invalid key: {error['msg']}"
        else:
            yield loc, error["msg"].removeprefix("Value error, ")


def _position(data: object, loc: Loc) -> tuple[int, ...]:
    """Where `loc` sits in the document, so errors are listed top to bottom."""
    position: list[int] = []
    for part in loc:
        if isinstance(data, Mapping) and part in data:
            position.append(list(data).index(part))
            data = data[part]
        elif isinstance(data, list) and isinstance(part, int) and 0 <= part < len(data):
            position.append(part)
            data = data[part]
        else:  # a missing field: after what is there
            return (*position, len(data) if isinstance(data, Mapping | list) else 0)
    return tuple(position)


def _render(loc: Loc, msg: str, from_env: Mapping[str, str], source: str) -> str:
    if not loc:
        return f"{source}: {msg}"
    origin = f" (from {from_env[str(loc[0])]})" if len(loc) == 1 and loc[0] in from_env else ""
    return f"{format_loc(loc)}: {msg}{origin}"
