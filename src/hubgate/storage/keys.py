"""API key repository: keys are stored as SHA-256 hashes, never in clear."""

from __future__ import annotations

import hashlib
import ipaddress
import secrets
from dataclasses import dataclass
from datetime import UTC, datetime
from decimal import Decimal
from typing import Any

from sqlalchemy import insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.tables import api_keys

KEY_PREFIX = "sk-hg-"


def hash_key(secret: str) -> str:
    """Keys are long random strings, so one SHA-256 is a sound and cheap fingerprint."""
    return hashlib.sha256(secret.encode()).hexdigest()


def new_secret() -> str:
    return KEY_PREFIX + secrets.token_urlsafe(32)


def display_prefix(secret: str) -> str:
    return secret[:10] + "..."


def as_utc(value: datetime | None) -> datetime | None:
    """SQLite hands timestamps back naive; every timestamp we store is UTC."""
    if value is None or value.tzinfo is not None:
        return value
    return value.replace(tzinfo=UTC)


def utcnow() -> datetime:
    return datetime.now(UTC)


@dataclass(frozen=True, slots=True)
class KeyRecord:
    id: int
    name: str
    key_hash: str
    key_prefix: str
    account: str | None
    models: frozenset[str] | None
    budget_micros: int | None
    spent_micros: int
    rpm: int | None
    tpm: int | None
    expires_at: datetime | None
    revoked_at: datetime | None
    source: str
    created_at: datetime
    account_id: int | None = None
    budget_period: str | None = None  # daily | weekly | monthly; None: the budget is for life
    period_spent_micros: int = 0
    period_started_at: datetime | None = None
    price_multiplier: Decimal | None = None
    allowed_ips: tuple[str, ...] | None = None
    max_concurrency: int | None = None
    max_request_cost_micros: int | None = None  # caps an uncapped request's hold; None: the account's

    def allows(self, model: str) -> bool:
        return self.models is None or model in self.models

    def admits_ip(self, address: str | None) -> bool:
        """Whether a caller address is inside the key's allowed CIDR ranges (if it has any)."""
        if self.allowed_ips is None:
            return True
        if not address:
            return False
        try:
            ip = ipaddress.ip_address(address)
        except ValueError:
            return False
        return any(ip in ipaddress.ip_network(cidr, strict=False) for cidr in self.allowed_ips)

    def refusal(self, now: datetime) -> str | None:
        """Why this key may not be used right now, or None if it may."""
        if self.revoked_at is not None:
            return "API key has been revoked"
        if self.expires_at is not None and self.expires_at <= now:
            return "API key has expired"
        return None


def _record(row: Any) -> KeyRecord:
    return KeyRecord(
        id=row.id,
        name=row.name,
        key_hash=row.key_hash,
        key_prefix=row.key_prefix,
        account=row.account,
        models=frozenset(row.models) if row.models is not None else None,
        budget_micros=row.budget_micros,
        spent_micros=row.spent_micros,
        rpm=row.rpm,
        tpm=row.tpm,
        expires_at=as_utc(row.expires_at),
        revoked_at=as_utc(row.revoked_at),
        source=row.source,
        created_at=as_utc(row.created_at) or utcnow(),
        account_id=row.account_id,
        budget_period=row.budget_period,
        period_spent_micros=int(row.period_spent_micros or 0),
        period_started_at=as_utc(row.period_started_at),
        price_multiplier=Decimal(row.price_multiplier) if row.price_multiplier is not None else None,
        allowed_ips=tuple(row.allowed_ips) if row.allowed_ips is not None else None,
        max_concurrency=row.max_concurrency,
        max_request_cost_micros=row.max_request_cost_micros,
    )


class KeyExists(Exception):
    pass


class KeyRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def by_hash(self, key_hash: str) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.key_hash == key_hash))).first()
        return _record(row) if row is not None else None

    async def by_id(self, key_id: int) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.id == key_id))).first()
        return _record(row) if row is not None else None

    async def by_name(self, name: str) -> KeyRecord | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(api_keys).where(api_keys.c.name == name))).first()
        return _record(row) if row is not None else None

    async def by_account(self, account_id: int) -> list[KeyRecord]:
        """An account's keys, newest first (revoked ones included)."""
        query = select(api_keys).where(api_keys.c.account_id == account_id).order_by(api_keys.c.id.desc())
        async with self._engine.connect() as conn:
            return [_record(r) for r in (await conn.execute(query)).all()]

    async def all(self, *, limit: int | None = None, offset: int = 0) -> list[KeyRecord]:
        query = select(api_keys).order_by(api_keys.c.id).offset(offset).limit(limit)
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query)).all()
        return [_record(r) for r in rows]

    async def create(
        self,
        name: str,
        *,
        secret: str | None = None,
        account: str | None = None,
        models: list[str] | None = None,
        budget_micros: int | None = None,
        rpm: int | None = None,
        tpm: int | None = None,
        expires_at: datetime | None = None,
        source: str = "cli",
        account_id: int | None = None,
        budget_period: str | None = None,
        price_multiplier: Decimal | None = None,
        allowed_ips: list[str] | None = None,
        max_concurrency: int | None = None,
        max_request_cost_micros: int | None = None,
    ) -> tuple[KeyRecord, str]:
        """Create a key; returns the record and the secret, which is never stored."""
        secret = secret or new_secret()
        now = utcnow()
        values = {
            "name": name,
            "key_hash": hash_key(secret),
            "key_prefix": display_prefix(secret),
            "account": account,
            "models": sorted(models) if models is not None else None,
            "budget_micros": budget_micros,
            "spent_micros": 0,
            "rpm": rpm,
            "tpm": tpm,
            "expires_at": expires_at,
            "revoked_at": None,
            "source": source,
            "created_at": now,
            "updated_at": now,
            "account_id": account_id,
            "budget_period": budget_period,
            "period_spent_micros": 0,
            "period_started_at": None,
            "price_multiplier": price_multiplier,
            "allowed_ips": allowed_ips,
            "max_concurrency": max_concurrency,
            "max_request_cost_micros": max_request_cost_micros,
        }
        async with self._engine.begin() as conn:
            exists = (await conn.execute(select(api_keys.c.id).where(api_keys.c.name == name))).first()
            if exists is not None:
                raise KeyExists(name)
            await conn.execute(insert(api_keys).values(**values))
        record = await self.by_name(name)
        assert record is not None
        return record, secret

    async def update_settings(self, name: str, /, *, secret: str | None = None, **fields: Any) -> None:
        """Re-apply settings (from the config file) without touching running state."""
        values = dict(fields, updated_at=utcnow())
        if "models" in values and values["models"] is not None:
            values["models"] = sorted(values["models"])
        if secret is not None:
            values["key_hash"] = hash_key(secret)
            values["key_prefix"] = display_prefix(secret)
        async with self._engine.begin() as conn:
            await conn.execute(update(api_keys).where(api_keys.c.name == name).values(**values))

    async def revoke(self, name: str) -> KeyRecord | None:
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                update(api_keys)
                .where(api_keys.c.name == name, api_keys.c.revoked_at.is_(None))
                .values(revoked_at=now, updated_at=now)
            )
        return await self.by_name(name)
