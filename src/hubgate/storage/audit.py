"""The admin audit log: who changed what, when, with the state before and after.

Secrets never reach this table: fields named like secrets are replaced by "***",
and so is any string that looks like an API key or a redemption code.
"""

from __future__ import annotations

from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import insert, select
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.accounts import CODE_PREFIX
from hubgate.storage.keys import KEY_PREFIX, as_utc, utcnow
from hubgate.storage.tables import audit_log

REDACTED = "***"
SECRET_FIELDS = frozenset(
    {
        "secret",
        "key",
        "api_key",
        "api_keys",
        "code",
        "codes",
        "password",
        "token",
        "authorization",
        "admin_key",
        "secret_key",
        "headers",
    }
)


def _looks_secret(value: str) -> bool:
    # Display prefixes ("sk-hg-abcd...") are fine; whole keys and codes are not.
    if value.endswith("..."):
        return False
    return value.startswith(CODE_PREFIX) or (value.startswith(("sk-", KEY_PREFIX)) and len(value) >= 20)


def redact(value: Any) -> Any:
    """A copy of a JSON-like value with every secret replaced by "***"."""
    if isinstance(value, dict):
        return {k: REDACTED if str(k).lower() in SECRET_FIELDS else redact(v) for k, v in value.items()}
    if isinstance(value, list | tuple):
        return [redact(v) for v in value]
    if isinstance(value, str) and _looks_secret(value):
        return REDACTED
    return value


@dataclass(frozen=True, slots=True)
class AuditEntry:
    id: int
    created_at: datetime
    actor: str
    action: str
    target: str | None
    before: Any
    after: Any


class AuditRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def record(
        self, actor: str, action: str, target: str | None, *, before: Any = None, after: Any = None
    ) -> None:
        """Append one entry; `before` and `after` are redacted on the way in."""
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(audit_log).values(
                    created_at=utcnow(),
                    actor=actor[:64],
                    action=action[:64],
                    target=target[:128] if target is not None else None,
                    before=redact(before),
                    after=redact(after),
                )
            )

    async def page(
        self,
        *,
        limit: int,
        cursor: int | None = None,
        action: str | None = None,
        target: str | None = None,
    ) -> tuple[list[AuditEntry], int | None]:
        """Newest first; returns the entries and the cursor of the next page (None at the end)."""
        t = audit_log.c
        query = select(audit_log).order_by(t.id.desc()).limit(limit + 1)
        if cursor is not None:
            query = query.where(t.id < cursor)
        if action is not None:
            query = query.where(t.action == action)
        if target is not None:
            query = query.where(t.target == target)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        entries = [
            AuditEntry(
                id=int(r.id),
                created_at=as_utc(r.created_at) or utcnow(),
                actor=r.actor,
                action=r.action,
                target=r.target,
                before=r.before,
                after=r.after,
            )
            for r in rows[:limit]
        ]
        return entries, (entries[-1].id if len(rows) > limit else None)
