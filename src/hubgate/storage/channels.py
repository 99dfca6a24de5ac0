"""Channel rows: the config file's channels (listing and running state) and the channels
created at run time through the admin API (full settings, upstream secrets sealed)."""

from __future__ import annotations

import logging
from dataclasses import dataclass
from datetime import datetime
from typing import Any

from sqlalchemy import delete, insert, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.settings import ChannelSettings
from hubgate.storage.keys import as_utc, utcnow
from hubgate.storage.secrets import SecretBox, SecretsUnavailable
from hubgate.storage.tables import channels

log = logging.getLogger("hubgate.channels")


@dataclass(frozen=True, slots=True)
class ChannelRow:
    id: int
    name: str
    type: str
    base_url: str | None
    models: tuple[str, ...]
    priority: int
    weight: int
    enabled: bool
    source: str
    last_test_status: int | None = None
    last_test_latency_ms: int | None = None
    last_test_error: str | None = None
    last_tested_at: datetime | None = None
    failed_checks: int = 0
    auto_disabled_at: datetime | None = None
    auto_disabled_reason: str | None = None


def _settings_values(ch: ChannelSettings) -> dict[str, Any]:
    # Upstream secrets are not stored here: they stay in the config / environment.
    return {
        "type": ch.type,
        "base_url": ch.base_url,
        "models": list(ch.models),
        "model_map": dict(ch.model_map),
        "priority": ch.priority,
        "weight": ch.weight,
        "timeout_s": ch.timeout_s,
        "headers": {k: "***" for k in ch.headers},
        "api_version": ch.api_version,
        "enabled": ch.enabled,
    }


class ChannelRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def sync_from_config(self, configured: tuple[ChannelSettings, ...]) -> dict[str, int]:
        """Create or update the config file's channels; returns name -> id."""
        now = utcnow()
        async with self._engine.begin() as conn:
            existing = {r.name: r.id for r in (await conn.execute(select(channels.c.name, channels.c.id)))}
            for ch in configured:
                values = _settings_values(ch)
                if ch.name in existing:
                    await conn.execute(
                        update(channels).where(channels.c.name == ch.name).values(**values, updated_at=now)
                    )
                else:
                    result = await conn.execute(
                        insert(channels).values(
                            name=ch.name, source="config", created_at=now, updated_at=now, **values
                        )
                    )
                    pk = result.inserted_primary_key
                    existing[ch.name] = int(pk[0]) if pk else 0
        return existing

    async def all(self) -> list[ChannelRow]:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
        return [
            ChannelRow(
                id=r.id,
                name=r.name,
                type=r.type,
                base_url=r.base_url,
                models=tuple(r.models),
                priority=r.priority,
                weight=r.weight,
                enabled=r.enabled,
                source=r.source,
                last_test_status=r.last_test_status,
                last_test_latency_ms=r.last_test_latency_ms,
                last_test_error=r.last_test_error,
                last_tested_at=as_utc(r.last_tested_at),
                failed_checks=int(r.failed_checks or 0),
                auto_disabled_at=as_utc(r.auto_disabled_at),
                auto_disabled_reason=r.auto_disabled_reason,
            )
            for r in rows
        ]


class ChannelExists(Exception):
    pass


def _public_settings(ch: ChannelSettings) -> dict[str, Any]:
    return ch.model_dump(mode="json", exclude={"api_key", "api_keys", "headers"})


class RuntimeChannels:
    """What the database adds to the config file: admin channels, and on/off switches."""

    def __init__(self, admin: list[ChannelSettings], enabled: dict[str, bool]) -> None:
        self.admin = admin
        self.enabled = enabled


class AdminChannels:
    """Create, change and remove channels at run time; secrets go in sealed."""

    def __init__(self, engine: AsyncEngine, box: SecretBox) -> None:
        self._engine = engine
        self._box = box

    async def create(self, ch: ChannelSettings) -> None:
        now = utcnow()
        sealed = self._box.seal({"api_keys": list(ch.upstream_keys), "headers": dict(ch.headers)})
        async with self._engine.begin() as conn:
            taken = (await conn.execute(select(channels.c.id).where(channels.c.name == ch.name))).first()
            if taken is not None:
                raise ChannelExists(ch.name)
            await conn.execute(
                insert(channels).values(
                    name=ch.name,
                    source="admin",
                    created_at=now,
                    updated_at=now,
                    settings=_public_settings(ch),
                    secrets_enc=sealed,
                    **_settings_values(ch),
                )
            )

    async def settings_of(self, name: str) -> tuple[str, ChannelSettings | None] | None:
        """(source, settings with secrets) of a stored channel; settings None for config ones."""
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(channels).where(channels.c.name == name))).first()
        if row is None:
            return None
        if row.source != "admin" or row.settings is None:
            return row.source, None
        return row.source, self._load(row)

    def _load(self, row: Any) -> ChannelSettings:
        secrets = self._box.open(row.secrets_enc) if row.secrets_enc else {"api_keys": [], "headers": {}}
        data = dict(row.settings, enabled=bool(row.enabled), headers=secrets.get("headers") or {})
        keys = secrets.get("api_keys") or []
        if keys:
            data["api_keys"] = keys
        return ChannelSettings.model_validate(data)

    async def replace(self, ch: ChannelSettings) -> None:
        sealed = self._box.seal({"api_keys": list(ch.upstream_keys), "headers": dict(ch.headers)})
        async with self._engine.begin() as conn:
            await conn.execute(
                update(channels)
                .where(channels.c.name == ch.name, channels.c.source == "admin")
                .values(
                    settings=_public_settings(ch),
                    secrets_enc=sealed,
                    updated_at=utcnow(),
                    **_settings_values(ch),
                )
            )

    async def set_enabled(self, name: str, enabled: bool) -> bool:
        """Switch a channel on or off by hand; switching on clears an automatic switch-off."""
        values: dict[str, Any] = {"enabled": enabled, "updated_at": utcnow()}
        if enabled:
            values.update(failed_checks=0, auto_disabled_at=None, auto_disabled_reason=None)
        async with self._engine.begin() as conn:
            result = await conn.execute(update(channels).where(channels.c.name == name).values(**values))
        return bool(result.rowcount)

    async def auto_disable(self, name: str, reason: str) -> bool:
        """Switch off a channel that kept failing its checks; False if it was already off."""
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(channels)
                .where(channels.c.name == name, channels.c.enabled.is_(True))
                .values(
                    enabled=False, auto_disabled_at=now, auto_disabled_reason=reason[:512], updated_at=now
                )
            )
        return bool(result.rowcount)

    async def delete(self, name: str) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                delete(channels).where(channels.c.name == name, channels.c.source == "admin")
            )
        return bool(result.rowcount)

    async def record_test(self, name: str, status: int | None, latency_ms: int, error: str | None) -> int:
        """Record a check; returns how many checks in a row have now failed (0 after a pass)."""
        failed = channels.c.failed_checks + 1 if error else 0
        async with self._engine.begin() as conn:
            await conn.execute(
                update(channels)
                .where(channels.c.name == name)
                .values(
                    failed_checks=failed,
                    last_test_status=status,
                    last_test_latency_ms=latency_ms,
                    last_test_error=(error or None) and error[:512],
                    last_tested_at=utcnow(),
                )
            )
            count = await conn.scalar(select(channels.c.failed_checks).where(channels.c.name == name))
        return int(count or 0)

    async def runtime(self) -> RuntimeChannels:
        async with self._engine.connect() as conn:
            rows = (await conn.execute(select(channels).order_by(channels.c.id))).all()
        admin: list[ChannelSettings] = []
        for r in rows:
            if r.source != "admin" or r.settings is None:
                continue
            try:
                admin.append(self._load(r))
            except SecretsUnavailable:
                if not self._box.available:
                    raise  # no secret_key at all: none of them can be served
                # One row sealed under another key must not take every other channel down.
                log.error("channel %r was sealed with another secret_key; it is not served", r.name)
        return RuntimeChannels(admin, {r.name: bool(r.enabled) for r in rows})
