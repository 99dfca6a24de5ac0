"""Stored Responses-API answers: the conversation behind previous_response_id."""

from __future__ import annotations

from dataclasses import dataclass
from typing import Any

from sqlalchemy import delete, insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import utcnow
from hubgate.storage.tables import responses


@dataclass(frozen=True, slots=True)
class StoredResponse:
    id: str
    key_id: int
    model: str
    input_items: list[Any]  # the full input the answer was made from, history included
    response: dict[str, Any]  # the response object as returned to the caller

    @property
    def conversation(self) -> list[Any]:
        """Input and output items: what a follow-up with previous_response_id continues."""
        output = self.response.get("output") or []
        return [*self.input_items, *output]


class ResponseStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def save(
        self, *, key_id: int, model: str, input_items: list[Any], response: dict[str, Any]
    ) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(responses).values(
                    id=str(response["id"]),
                    key_id=key_id,
                    model=model,
                    input_items=input_items,
                    response=response,
                    created_at=utcnow(),
                )
            )

    async def get(self, response_id: str, key_id: int) -> StoredResponse | None:
        """A stored answer, only for the key that created it."""
        async with self._engine.connect() as conn:
            row = (
                await conn.execute(
                    select(responses).where(responses.c.id == response_id, responses.c.key_id == key_id)
                )
            ).first()
        if row is None:
            return None
        return StoredResponse(row.id, row.key_id, row.model, list(row.input_items), dict(row.response))

    async def delete(self, response_id: str, key_id: int) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(responses).where(responses.c.id == response_id, responses.c.key_id == key_id)
            )
        return bool(result.rowcount)
