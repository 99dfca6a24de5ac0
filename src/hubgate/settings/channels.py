"""Channel settings: one upstream endpoint each, checked against the known channel types."""

from collections.abc import Sequence
from typing import Literal, Protocol
from urllib.parse import urlsplit

from pydantic import Field, ValidationInfo, field_validator

from hubgate.settings.base import Frozen, NonEmpty, Slug

CHANNEL_KINDS = "hubgate.channel_kinds"  # validation context: the ChannelKinds channels are checked against


class ChannelKind(Protocol):
    """What validation needs to know of one channel type (a provider declares it)."""

    @property
    def needs_base_url(self) -> bool: ...

    @property
    def default_api_version(self) -> str | None:
        """Filled into `api_version` when unset; None: `api_version` does not apply."""

    @property
    def responses_api(self) -> bool:
        """Whether `api: responses` applies."""


class ChannelKinds(Protocol):
    """The known channel types, in the order messages list them (the provider registry)."""

    def names(self) -> Sequence[str]: ...

    def get(self, channel_type: str) -> ChannelKind | None: ...


def _kinds(info: ValidationInfo) -> ChannelKinds | None:
    """The channel types to check against; None (direct construction) checks none of them."""
    kinds: ChannelKinds | None = (info.context or {}).get(CHANNEL_KINDS)
    return kinds


def _kind(info: ValidationInfo) -> ChannelKind | None:
    kinds, name = _kinds(info), info.data.get("type")
    return kinds.get(name) if kinds is not None and name is not None else None


def _one_of(names: Sequence[str]) -> str:
    return f"{', '.join(names[:-1])} or {names[-1]}" if len(names) > 1 else "".join(names)


class ChannelSettings(Frozen):
    """One upstream endpoint. `models` lists every public name served, `model_map` keys included."""

    name: Slug
    type: str
    base_url: str | None = Field(default=None, validate_default=True)
    api_key: str | None = None
    api_keys: tuple[NonEmpty, ...] = ()
    model_map: dict[NonEmpty, NonEmpty] = {}  # before `models`: its validator adds the mapped names
    models: tuple[NonEmpty, ...]
    priority: int = 0
    weight: int = Field(default=1, ge=0)
    timeout_s: float = Field(default=600, gt=0, allow_inf_nan=False)  # a whole non-streamed answer
    connect_timeout_s: float = Field(default=10, gt=0, allow_inf_nan=False)
    first_byte_timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # default: timeout_s
    idle_timeout_s: float | None = Field(default=None, gt=0, allow_inf_nan=False)  # between stream chunks
    stream_timeout_s: float = Field(default=300, gt=0, allow_inf_nan=False)  # a whole stream
    headers: dict[str, str] = {}
    api_version: str | None = Field(default=None, validate_default=True)
    api: Literal["chat", "responses"] = Field(default="chat", validate_default=True)
    enabled: bool = True

    @property
    def upstream_keys(self) -> tuple[str, ...]:
        """The upstream API keys to spread requests over (`api_key` or `api_keys`)."""
        return (self.api_key, *self.api_keys) if self.api_key else self.api_keys

    @field_validator("name")
    @classmethod
    def _check_name(cls, value: str) -> str:
        if "/" in value:
            raise ValueError("must not contain '/'")
        return value

    @field_validator("type")
    @classmethod
    def _check_type(cls, value: str, info: ValidationInfo) -> str:
        kinds = _kinds(info)
        if kinds is not None and kinds.get(value) is None:
            raise ValueError(
                f"unknown channel type {value!r}; expected one of: {', '.join(sorted(kinds.names()))}"
            )
        return value

    @field_validator("base_url")
    @classmethod
    def _check_base_url(cls, value: str | None, info: ValidationInfo) -> str | None:
        kind = _kind(info)
        if value is None:
            if kind is not None and kind.needs_base_url:
                raise ValueError(f"required for channel type {info.data['type']!r}")
            return None
        if not value.startswith(("http://", "https://")) or not urlsplit(value).netloc:
            raise ValueError("must be an http:// or https:// URL")
        return value.rstrip("/")

    @field_validator("api_keys")
    @classmethod
    def _check_api_keys(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if value and info.data.get("api_key"):
            raise ValueError("set either api_key or api_keys, not both")
        return value

    @field_validator("models")
    @classmethod
    def _check_models(cls, value: tuple[str, ...], info: ValidationInfo) -> tuple[str, ...]:
        if not value:
            raise ValueError("must list at least one model")
        duplicates = sorted({m for m in value if value.count(m) > 1})
        if duplicates:
            raise ValueError(f"duplicate model names: {', '.join(duplicates)}")
        mapped: dict[str, str] = info.data.get("model_map") or {}
        return value + tuple(m for m in mapped if m not in value)

    @field_validator("api_version")
    @classmethod
    def _check_api_version(cls, value: str | None, info: ValidationInfo) -> str | None:
        kinds, kind = _kinds(info), _kind(info)
        if kinds is None or kind is None:
            return value
        if kind.default_api_version is not None:
            return value or kind.default_api_version
        if value is not None:
            versioned = [n for n in kinds.names() if (k := kinds.get(n)) and k.default_api_version]
            raise ValueError(f"only applies to channels of type {_one_of(versioned)}")
        return value

    @field_validator("api")
    @classmethod
    def _check_api(cls, value: str, info: ValidationInfo) -> str:
        kinds, kind = _kinds(info), _kind(info)
        if value == "responses" and kinds is not None and kind is not None and not kind.responses_api:
            speaking = [n for n in kinds.names() if (k := kinds.get(n)) and k.responses_api]
            raise ValueError(f"'responses' only applies to channels of type {_one_of(speaking)}")
        return value
