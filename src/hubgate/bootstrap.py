"""Apply the config file to the database: schema, channels and bootstrap keys."""

from __future__ import annotations

import logging
from dataclasses import dataclass, field
from decimal import Decimal

from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.settings import KeySettings, Settings, usd_to_micros
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.channels import ChannelRepository
from hubgate.storage.db import migrate
from hubgate.storage.keys import KeyRepository

log = logging.getLogger("hubgate.bootstrap")


@dataclass
class BootstrapResult:
    created_keys: list[tuple[str, str]] = field(default_factory=list)  # (name, secret) of new keys


def _key_fields(k: KeySettings) -> dict[str, object]:
    return {
        "account": k.account,
        "models": list(k.models) if k.models is not None else None,
        "budget_micros": usd_to_micros(k.budget_usd) if k.budget_usd is not None else None,
        "budget_period": k.budget_period,
        "max_concurrency": k.max_concurrency,
        "allowed_ips": list(k.allowed_ips) if k.allowed_ips is not None else None,
        "price_multiplier": k.price_multiplier,
        "rpm": k.rpm,
        "tpm": k.tpm,
        "expires_at": k.expires_at,
        "max_request_cost_micros": _micros(k.max_request_cost_usd),
    }


def _micros(usd: Decimal | None) -> int | None:
    return usd_to_micros(usd) if usd is not None else None


async def apply_config(
    settings: Settings, engine: AsyncEngine, *, run_migrations: bool = True
) -> BootstrapResult:
    """Create what the file declares and re-apply its settings; running state is left alone."""
    if run_migrations:
        await migrate(settings.database_url)
    result = BootstrapResult()
    await ChannelRepository(engine).sync_from_config(settings.channels)
    accounts = AccountRepository(engine)
    default = await accounts.ensure_default()
    account_ids = {default.name: default.id}
    for a in settings.accounts:
        existing_account = await accounts.by_name(a.name)
        if existing_account is None:
            # balance_usd is the initial credit only: the database owns the balance after that.
            created = await accounts.create(
                a.name,
                group=a.group,
                credit_micros=usd_to_micros(a.balance_usd),
                source="config",
                max_request_cost_micros=_micros(a.max_request_cost_usd),
            )
            account_ids[a.name] = created.id
        else:
            await accounts.update(
                existing_account.id,
                group_name=a.group,
                max_request_cost_micros=_micros(a.max_request_cost_usd),
            )
            account_ids[a.name] = existing_account.id
    keys = KeyRepository(engine)
    for k in settings.keys:
        fields = _key_fields(k)
        fields["account_id"] = account_ids[k.account or default.name]
        existing = await keys.by_name(k.name)
        if existing is None:
            _, secret = await keys.create(k.name, secret=k.key, source="config", **fields)  # type: ignore[arg-type]
            if k.key is None:
                result.created_keys.append((k.name, secret))
        else:
            await keys.update_settings(k.name, secret=k.key, **fields)
    await _console_admin(settings, engine)
    return result


async def _console_admin(settings: Settings, engine: AsyncEngine) -> None:
    """The console's configured admin: created once (by whoever prepares the database,
    before any worker starts), or given the admin role if the person exists."""
    cfg = settings.console
    if not (cfg.enabled and cfg.admin_email and cfg.admin_password):
        return
    from hubgate.console.users import create_user
    from hubgate.storage.users import UserRepository

    users = UserRepository(engine)
    existing = await users.by_email(cfg.admin_email)
    if existing is None:
        await create_user(engine, cfg, cfg.admin_email, cfg.admin_password, role="admin")
        log.info("console: created the admin %s", cfg.admin_email)
    elif not existing.is_admin:
        await users.update(existing.id, role="admin")
