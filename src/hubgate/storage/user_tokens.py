"""Personal access tokens: a user's credential for the user API (`/api/...`).

Made in the console, shown once, stored as a SHA-256 hash like API keys, with a name,
an optional expiry and when it was last used. A token acts as its user: it manages that
user's account's keys and reads its usage and ledger, never calls models.
"""

from __future__ import annotations

import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta

from sqlalchemy import Column, DateTime, Index, Integer, String, Table, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import as_utc, hash_key, utcnow
from hubgate.storage.tables import metadata

TOKEN_PREFIX = "hgu-"
TOUCH_EVERY = timedelta(minutes=1)  # last_used_at is written at most this often per token

user_tokens = Table(
    "user_tokens",
    metadata,
    Column("id", Integer, primary_key=True, autoincrement=True),
    Column("user_id", Integer, nullable=False),
    Column("name", String(64), nullable=False),
    Column("token_hash", String(64), nullable=False, unique=True),
    Column("token_prefix", String(16), nullable=False),
    Column("created_at", DateTime(timezone=True), nullable=False),
    Column("expires_at", DateTime(timezone=True), nullable=True),
    Column("last_used_at", DateTime(timezone=True), nullable=True),
    Column("revoked_at", DateTime(timezone=True), nullable=True),
    Index("ix_user_tokens_user", "user_id"),
)


@dataclass(frozen=True, slots=True)
class UserToken:
    id: int
    user_id: int
    name: str
    prefix: str
    created_at: datetime
    expires_at: datetime | None
    last_used_at: datetime | None
    revoked_at: datetime | None

    def usable(self, now: datetime) -> bool:
        return self.revoked_at is None and (self.expires_at is None or self.expires_at > now)


def _token(row: object) -> UserToken:
    r = row._mapping  # type: ignore[attr-defined]
    return UserToken(
        id=int(r["id"]),
        user_id=int(r["user_id"]),
        name=r["name"],
        prefix=r["token_prefix"],
        created_at=as_utc(r["created_at"]) or utcnow(),
        expires_at=as_utc(r["expires_at"]),
        last_used_at=as_utc(r["last_used_at"]),
        revoked_at=as_utc(r["revoked_at"]),
    )


class UserTokenRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(self, user_id: int, name: str, expires_at: datetime | None) -> tuple[UserToken, str]:
        """A new token; returns it and its secret, which is never stored."""
        secret = TOKEN_PREFIX + secrets.token_urlsafe(32)
        values = {
            "user_id": user_id,
            "name": name,
            "token_hash": hash_key(secret),
            "token_prefix": secret[:10],
            "created_at": utcnow(),
            "expires_at": expires_at,
        }
        async with self._engine.begin() as conn:
            await conn.execute(insert(user_tokens).values(**values))
            query = select(user_tokens).where(user_tokens.c.token_hash == values["token_hash"])
            row = (await conn.execute(query)).one()
        return _token(row), secret

    async def by_secret(self, secret: str) -> UserToken | None:
        query = select(user_tokens).where(user_tokens.c.token_hash == hash_key(secret))
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _token(row) if row is not None else None

    async def of_user(self, user_id: int) -> list[UserToken]:
        query = select(user_tokens).where(user_tokens.c.user_id == user_id).order_by(user_tokens.c.id)
        async with self._engine.connect() as conn:
            return [_token(r) for r in (await conn.execute(query)).all()]

    async def revoke(self, user_id: int, token_id: int) -> bool:
        """Revoke one of the user's tokens; False when the user has no such live token."""
        now = utcnow()
        query = (
            update(user_tokens)
            .where(
                user_tokens.c.id == token_id,
                user_tokens.c.user_id == user_id,
                user_tokens.c.revoked_at.is_(None),
            )
            .values(revoked_at=now)
        )
        async with self._engine.begin() as conn:
            return bool((await conn.execute(query)).rowcount)

    async def touch(self, token: UserToken, now: datetime) -> None:
        """Record a use, at most once a minute per token (no write on most requests)."""
        if token.last_used_at is not None and now - token.last_used_at < TOUCH_EVERY:
            return
        async with self._engine.begin() as conn:
            await conn.execute(
                update(user_tokens).where(user_tokens.c.id == token.id).values(last_used_at=now)
            )
