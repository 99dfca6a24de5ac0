"""What every settings section is built from: frozen models, the shared field types, ConfigError."""

from decimal import Decimal
from typing import Annotated

from pydantic import AfterValidator, BaseModel, ConfigDict, Field


def _no_whitespace(value: str) -> str:
    if any(c.isspace() for c in value):
        raise ValueError("must not contain whitespace")
    return value


Loc = tuple[str | int, ...]
Money = Annotated[Decimal, Field(ge=0, allow_inf_nan=False)]
Name = Annotated[str, Field(min_length=1, max_length=64)]
Slug = Annotated[Name, AfterValidator(_no_whitespace)]
NonEmpty = Annotated[str, Field(min_length=1)]
Secret = Annotated[str, Field(min_length=16)]


class ConfigError(Exception):
    """The configuration is invalid; `errors` lists every problem as "path: message"."""

    def __init__(self, errors: list[str]) -> None:
        self.errors = list(errors)
        super().__init__("\n".join(self.errors))


class Frozen(BaseModel):
    """A settings section: immutable, and an unknown field is an error."""

    model_config = ConfigDict(frozen=True, extra="forbid")
