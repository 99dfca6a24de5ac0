"""Request bodies of the catalogue's admin routes (`/admin/catalogue`)."""

from __future__ import annotations

from typing import Annotated, Literal

from pydantic import BaseModel, ConfigDict, Field, StringConstraints

from hubgate.admin.schemas import PerMillion

MODEL_PATTERN = r"^[A-Za-z0-9][A-Za-z0-9._:@/-]{0,127}$"
VENDOR_PATTERN = r"^[a-z0-9][a-z0-9._-]{0,63}$"

Modality = Literal["text", "image", "audio", "video", "file", "embeddings"]
Modalities = Annotated[list[Modality], Field(min_length=1, max_length=6)]
Tag = Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=32)]
Tokens = Annotated[int, Field(ge=1, le=100_000_000)]


class _Body(BaseModel):
    model_config = ConfigDict(extra="forbid")


class CataloguePrices(_Body):
    """Token prices in USD per 1M tokens; `per_image`, `per_second` (video) and `per_request`
    (one call or task) in USD. Setting prices also sets the price charged (as
    `PUT /admin/pricing/{model}` does)."""

    input: PerMillion | None = None
    output: PerMillion | None = None
    cached_input: PerMillion | None = None
    cache_write: PerMillion | None = None
    per_image: PerMillion | None = None
    per_second: PerMillion | None = None
    per_request: PerMillion | None = None


class CataloguePatch(_Body):
    """Only the fields sent are changed."""

    vendor: Annotated[str, StringConstraints(pattern=VENDOR_PATTERN)] | None = None
    name: Annotated[str, StringConstraints(strip_whitespace=True, min_length=1, max_length=128)] | None = None
    description: Annotated[str, StringConstraints(max_length=4000)] | None = None
    context_length: Tokens | None = None
    max_output_tokens: Tokens | None = None
    input_modalities: Modalities | None = None
    output_modalities: Modalities | None = None
    prices: CataloguePrices | None = None
    tags: Annotated[list[Tag], Field(max_length=20)] | None = None
    enabled: bool | None = None


class CatalogueCreate(CataloguePatch):
    """A new entry; `vendor` defaults to the one its family suggests, `name` to the id."""

    model: Annotated[str, StringConstraints(pattern=MODEL_PATTERN)]
