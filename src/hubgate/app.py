"""create_app(settings): routes, middleware and the lifespan that owns all state."""

from __future__ import annotations

import asyncio
import functools
import logging
import uuid
from collections.abc import AsyncIterator
from typing import Any, NamedTuple

from aiohttp import web
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.access.account_cache import AccountCache
from hubgate.access.auth import KeyCache
from hubgate.access.billing import Billing
from hubgate.access.holds import HoldBackend, LocalHolds
from hubgate.access.network import networks
from hubgate.access.watch import RevisionWatch
from hubgate.bootstrap import apply_config
from hubgate.gateway import GATEWAY, RATE_HEADERS, Gateway
from hubgate.http.middleware import edge
from hubgate.http.payment_routes import sync_payments
from hubgate.http.rate_classes import RATE_CLASSES, RateClasses
from hubgate.http.routes import add_routes
from hubgate.jobs.catalogue import start_catalogue
from hubgate.jobs.channel_checks import follow_refusals
from hubgate.jobs.low_balance import low_balance_mails
from hubgate.jobs.runner import health_checks, usage_retention, video_polling
from hubgate.jobs.system_settings import start_system_settings
from hubgate.metering.prices import price_from_settings
from hubgate.observability.metrics import Metrics
from hubgate.providers import registry
from hubgate.providers.http import HttpTransport
from hubgate.routing.health import Health, HealthPolicy
from hubgate.routing.limits import Limiter, LocalStore, RedisStore
from hubgate.routing.runtime import channel_table, load_runtime
from hubgate.routing.shared_health import SharedHealth
from hubgate.settings import Settings, usd_to_micros
from hubgate.storage.accounts import AccountRepository
from hubgate.storage.channels import AdminChannels
from hubgate.storage.db import create_engine
from hubgate.storage.journal import Journal, default_dir, replay
from hubgate.storage.keys import KeyRepository
from hubgate.storage.responses import ResponseStore
from hubgate.storage.revisions import WATCHED, read_revisions
from hubgate.storage.secrets import SecretBox
from hubgate.storage.usage import UsageRow, UsageWriter, stored_ids

log = logging.getLogger("hubgate")

WATCH_INTERVAL_S = 1.0  # how soon another replica's change to keys, channels, settings shows


async def _rate_limit_headers(request: web.Request, response: web.StreamResponse) -> None:
    """Every answer to a key with limits carries its x-ratelimit-* headers."""
    headers = request.get(RATE_HEADERS)
    if headers:
        response.headers.update(headers)


def _follow_channels(gw: Gateway, admin: AdminChannels, revisions: RevisionWatch) -> None:
    """Rebuild the channel table when any replica changes a channel (within a second)."""

    async def rebuild() -> None:
        gw.channels = channel_table(gw.settings, await load_runtime(admin)).with_aliases(gw.catalogue.aliases)

    revisions.follow("channels", rebuild, "channel")


def hold_backend(settings: Settings, engine: AsyncEngine, redis: Any, billing: Billing) -> HoldBackend:
    """Where holds live: in leases from Redis when there is one; else in leases from the
    database when several processes may share it (PostgreSQL, or workers); else in this
    process's memory."""
    from hubgate.access.leases import LeaseHolds, LeaseSource

    store: LeaseSource
    if redis is not None:
        from hubgate.access.redis_holds import RedisLeases

        store = RedisLeases(redis, settings.redis_prefix, billing.bases, uuid.uuid4().hex)
    elif settings.database_url.startswith("sqlite") and settings.workers == 1:
        return LocalHolds(billing.bases)
    else:
        from hubgate.storage.leases import LeaseStore

        store = LeaseStore(engine, uuid.uuid4().hex)
    return LeaseHolds(store, usd_to_micros(settings.hold_lease_chunk_usd), settings.hold_ttl_s)


def create_app(settings: Settings, *, bootstrap: bool = True) -> web.Application:
    """The gateway as an aiohttp application.

    With `bootstrap`, start-up migrates the schema and applies the config file; the
    multi-worker server does that once in the parent and passes False.
    """
    settings = registry.check(settings)  # channel types known, default API versions filled
    app = web.Application(middlewares=[edge], client_max_size=int(settings.max_body_mb * 1024 * 1024))
    app.on_response_prepare.append(_rate_limit_headers)
    app[RATE_CLASSES] = RateClasses.from_settings(settings)
    add_routes(app)
    if settings.console.enabled:
        from hubgate.console.routes import add_routes as add_console_routes

        add_console_routes(app)  # /ui: the web console

    async def lifespan(app: web.Application) -> AsyncIterator[None]:
        opened = await _open(settings, bootstrap)
        app[GATEWAY] = opened.gw
        running = await _start(opened)
        # The run-time settings admins stored, over the file's; top-up limits follow at once.
        await start_system_settings(opened.gw, opened.revisions, lambda: sync_payments(app))
        try:
            yield
        finally:
            await _close(opened, running)

    app.cleanup_ctx.append(lifespan)
    return app


class _Opened(NamedTuple):
    gw: Gateway
    journal: Journal
    admin_channels: AdminChannels
    redis: Any
    revisions: RevisionWatch


async def _open(settings: Settings, bootstrap: bool) -> _Opened:
    """Every piece of running state, built (and the journal replayed) before serving."""
    engine = create_engine(
        settings.database_url,
        pool_size=settings.database_pool_size,
        pool_overflow=settings.database_pool_overflow,
    )
    if bootstrap:
        result = await apply_config(settings, engine)
        for name, secret in result.created_keys:
            log.warning("created API key %r from the config file: %s (shown once)", name, secret)
    key_repo = KeyRepository(engine)
    keys = KeyCache(key_repo, ttl_s=settings.key_cache_ttl_s)
    accounts = AccountRepository(engine)
    redis = None
    if settings.redis_url:
        from redis.asyncio import Redis

        redis = Redis.from_url(settings.redis_url)
    billing = await _billing(settings, engine, redis, key_repo, accounts)
    metrics, usage, journal = _usage(settings, engine, billing, keys)
    # Segments left by killed processes: their rows land before this one serves.
    await replay(journal, lambda ids: stored_ids(engine, ids), usage.record, usage.flush)
    admin_channels = AdminChannels(engine, SecretBox(settings.secret_key))
    # Keys, channels, the catalogue and system settings: what other replicas change in
    # them is followed through one poll of their revisions (storage/revisions.py), read
    # first here, before any of them is loaded.
    revisions = RevisionWatch(functools.partial(read_revisions, engine), WATCH_INTERVAL_S, WATCHED)
    await revisions.baseline()
    gw = Gateway(
        settings=settings,
        engine=engine,
        key_repo=key_repo,
        keys=keys,
        channels=channel_table(settings, await load_runtime(admin_channels)),
        usage=usage,
        http=HttpTransport(),
        responses=ResponseStore(engine),
        admin_channels=admin_channels,
        accounts=accounts,
        billing=billing,
        limiter=Limiter(
            RedisStore(redis, prefix=f"{settings.redis_prefix}rl:") if redis is not None else LocalStore(),
            defaults=settings.default_key_limits,
        ),
        trusted_proxies=networks(settings.trusted_proxies),
        health=Health(
            HealthPolicy(
                failures_to_open=settings.cooldown_after_failures,
                base_cooldown_s=settings.cooldown_base_s,
                max_cooldown_s=settings.cooldown_max_s,
            )
        ),
        redis=redis,
        metrics=metrics,
    )
    gw.health.on_cooldown = gw.metrics.cooldown  # observability
    follow_refusals(gw)  # channel_auto_disable_after: a channel whose every key is refused goes off
    gw.limiter.on_refusal = gw.metrics.rate_limited  # observability
    return _Opened(gw, journal, admin_channels, redis, revisions)


async def _billing(
    settings: Settings, engine: AsyncEngine, redis: Any, key_repo: KeyRepository, accounts: AccountRepository
) -> Billing:
    default_account = await accounts.ensure_default()
    billing = Billing(
        AccountCache(accounts, ttl_s=settings.key_cache_ttl_s),
        default_account_id=default_account.id,
        prices={name: price_from_settings(p) for name, p in settings.pricing.items()},
        groups=settings.groups,
        keys=key_repo,
        hold_ttl_s=settings.hold_ttl_s,
        max_request_cost_micros=(
            usd_to_micros(settings.max_request_cost_usd)
            if settings.max_request_cost_usd is not None
            else None
        ),
        base_ttl_s=settings.key_cache_ttl_s,
    )
    billing.backend = hold_backend(settings, engine, redis, billing)
    return billing


def _usage(
    settings: Settings, engine: AsyncEngine, billing: Billing, keys: KeyCache
) -> tuple[Metrics, UsageWriter, Journal]:
    """The metrics and the usage writer (with its opened journal), which report on each other."""

    def flushing() -> None:
        billing.flushing()
        keys.flushing()

    def settled(batch: list[UsageRow]) -> None:
        keys.spent(billing.settle(batch))

    metrics = Metrics.from_env(backlog=lambda: usage.pending, lag=lambda: usage.lag_s())  # observability
    journal = Journal(
        settings.usage_journal_dir or default_dir(settings.database_url),
        fsync=settings.usage_journal_fsync,
    )
    journal.open()
    usage = UsageWriter(
        engine,
        batch_size=settings.usage_batch_size,
        interval_s=settings.usage_flush_interval_s,
        on_flushed=settled,
        on_flushing=flushing,
        on_quarantined=metrics.quarantined,
        journal=journal,
    )
    return metrics, usage, journal


class _Running(NamedTuple):
    watchers: list[asyncio.Task[None]]
    shared_health: SharedHealth | None


async def _start(opened: _Opened) -> _Running:
    """Start the background parts: flushes, watchers, jobs, shared health."""
    gw, settings = opened.gw, opened.gw.settings
    await gw.billing.backend.start()
    gw.usage.start()
    opened.journal.start()
    gw.metrics.start()  # observability
    revisions = opened.revisions
    revisions.follow("keys", gw.keys.invalidate, "key")
    _follow_channels(gw, opened.admin_channels, revisions)
    await start_catalogue(gw, revisions)  # the model catalogue: seeded, loaded, followed
    watchers = [asyncio.create_task(revisions.run(), name="revision-watch")]
    if settings.health_check_interval_s is not None:
        watchers.append(
            asyncio.create_task(health_checks(gw, settings.health_check_interval_s), name="health-check")
        )
    if settings.usage_retention_days is not None:
        watchers.append(
            asyncio.create_task(usage_retention(gw, settings.usage_retention_days), name="usage-retention")
        )
    watchers.append(asyncio.create_task(video_polling(gw, settings.video_poll_interval_s), name="video-poll"))
    if settings.console.smtp is not None:  # the threshold itself may change at run time
        watchers.append(asyncio.create_task(low_balance_mails(gw), name="low-balance-mail"))
    shared_health = None
    if opened.redis is not None:  # cooldowns seen by one replica are honoured by all
        shared_health = SharedHealth(gw.health, opened.redis, settings.redis_prefix)
        watchers.append(asyncio.create_task(shared_health.run(), name="health-sync"))
    return _Running(watchers, shared_health)


async def _close(opened: _Opened, running: _Running) -> None:
    """Stop in order: watchers, then pending estimates, the last flush, leases, connections."""
    gw = opened.gw
    for watcher in running.watchers:
        watcher.cancel()
    await asyncio.gather(*running.watchers, return_exceptions=True)
    if running.shared_health is not None:
        await running.shared_health.close()
    if gw.background:  # estimates still counting: their rows must not be lost
        await asyncio.gather(*gw.background, return_exceptions=True)
    await gw.usage.close()
    await gw.billing.backend.close()  # after the last flush: leases go back whole
    await gw.metrics.close()  # observability
    await gw.http.close()
    if opened.redis is not None:
        await opened.redis.aclose()
    await gw.engine.dispose()
