"""The `hubgate` command line (SPEC §2)."""

from __future__ import annotations

import asyncio
import json
from collections.abc import Awaitable, Callable
from datetime import UTC, datetime
from decimal import Decimal, InvalidOperation
from typing import TYPE_CHECKING, Annotated, Any, TypeVar

import typer

from hubgate.providers import registry
from hubgate.settings import ConfigError, Settings, usd_to_micros

if TYPE_CHECKING:
    from hubgate.storage.ledger import LedgerReport

app = typer.Typer(no_args_is_help=True, add_completion=False, help="hubgate: a self-hosted LLM API gateway.")
keys_app = typer.Typer(no_args_is_help=True, help="Create, list and revoke API keys.")
channels_app = typer.Typer(no_args_is_help=True, help="List and test upstream channels.")
app.add_typer(keys_app, name="keys")
app.add_typer(channels_app, name="channels")
users_app = typer.Typer(no_args_is_help=True, help="Console users: create people and invite codes.")
app.add_typer(users_app, name="users")
ledger_app = typer.Typer(no_args_is_help=True, help="Prove balances and spend against what justifies them.")
app.add_typer(ledger_app, name="ledger")

ConfigOpt = Annotated[
    str | None,
    typer.Option("--config", "-c", help="Config file (default: $HUBGATE_CONFIG or ./hubgate.yaml)."),
]
JsonOpt = Annotated[bool, typer.Option("--json", help="Machine-readable output.")]
T = TypeVar("T")


def _settings(config: str | None) -> Settings:
    try:
        return registry.load(config)
    except ConfigError as exc:
        for line in exc.errors:
            typer.echo(line, err=True)
        raise typer.Exit(1) from None


def _run(settings: Settings, work: Callable[[Any], Awaitable[T]]) -> T:
    """Run `work(engine)` against the migrated database."""
    from hubgate.storage.db import create_engine, migrate

    async def main() -> T:
        await migrate(settings.database_url)
        engine = create_engine(settings.database_url)
        try:
            return await work(engine)
        finally:
            await engine.dispose()

    return asyncio.run(main())


def _iso(value: datetime | None) -> str | None:
    return value.isoformat() if value is not None else None


def _parse_time(value: str | None, option: str) -> datetime | None:
    if value is None:
        return None
    try:
        parsed = datetime.fromisoformat(value)
    except ValueError:
        typer.echo(f"{option}: not an ISO 8601 date/time: {value!r}", err=True)
        raise typer.Exit(2) from None
    return parsed if parsed.tzinfo else parsed.replace(tzinfo=UTC)


@app.command()
def serve(
    config: ConfigOpt = None,
    host: Annotated[str | None, typer.Option(help="Bind address (default from config: 127.0.0.1).")] = None,
    port: Annotated[int | None, typer.Option(help="Port (default from config: 8000).")] = None,
    workers: Annotated[int | None, typer.Option(help="Worker processes sharing the port.")] = None,
) -> None:
    """Run the gateway."""
    from hubgate.server import serve as run_server

    settings = _settings(config)
    run_server(settings, host or settings.host, port or settings.port, workers or settings.workers)


@app.command("check-config")
def check_config(path: Annotated[str, typer.Argument(help="Config file to validate.")]) -> None:
    """Validate a config file; print every error with its path."""
    try:
        settings = registry.load(path)
    except ConfigError as exc:
        for line in exc.errors:
            typer.echo(line)
        raise typer.Exit(1) from None
    typer.echo(
        f"{path}: OK ({len(settings.channels)} channels, {len(settings.keys)} keys, "
        f"{len(settings.accounts)} accounts)"
    )


@app.command()
def migrate(config: ConfigOpt = None) -> None:
    """Bring the database schema to the current version."""
    from hubgate.storage.db import migrate_sync

    settings = _settings(config)
    migrate_sync(settings.database_url)
    typer.echo("database schema is up to date")


@keys_app.command("create")
def keys_create(
    name: Annotated[str, typer.Option("--name", help="Unique key name.")],
    budget_usd: Annotated[str | None, typer.Option("--budget-usd", help="Spend limit in USD.")] = None,
    models: Annotated[str | None, typer.Option("--models", help="Comma-separated allow-list.")] = None,
    rpm: Annotated[int | None, typer.Option("--rpm", min=1)] = None,
    tpm: Annotated[int | None, typer.Option("--tpm", min=1)] = None,
    expires: Annotated[str | None, typer.Option("--expires", help="ISO 8601 expiry.")] = None,
    account: Annotated[
        str | None, typer.Option("--account", help="Owning account (default: default).")
    ] = None,
    budget_period: Annotated[
        str | None, typer.Option("--budget-period", help="daily, weekly or monthly (default: lifetime).")
    ] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Create an API key and print its secret once."""
    from hubgate.metering.budget import PERIODS
    from hubgate.storage.accounts import AccountRepository
    from hubgate.storage.keys import KeyExists, KeyRepository

    settings = _settings(config)
    if budget_period is not None and budget_period not in PERIODS:
        typer.echo(f"--budget-period: expected one of {', '.join(PERIODS)}", err=True)
        raise typer.Exit(2)
    budget = None
    if budget_usd is not None:
        try:
            budget = usd_to_micros(Decimal(budget_usd))
        except InvalidOperation:
            typer.echo(f"--budget-usd: not a number: {budget_usd!r}", err=True)
            raise typer.Exit(2) from None
    model_list = [m.strip() for m in models.split(",") if m.strip()] if models else None
    expires_at = _parse_time(expires, "--expires")

    async def work(engine: Any) -> Any:
        accounts = AccountRepository(engine)
        owner = await accounts.by_name(account) if account else await accounts.ensure_default()
        if owner is None:
            raise LookupError(account)
        return await KeyRepository(engine).create(
            name,
            account=owner.name,
            account_id=owner.id,
            models=model_list,
            budget_micros=budget,
            budget_period=budget_period,
            rpm=rpm,
            tpm=tpm,
            expires_at=expires_at,
            source="cli",
        )

    try:
        record, secret = _run(settings, work)
    except LookupError:
        typer.echo(f"no account named {account!r}", err=True)
        raise typer.Exit(1) from None
    except KeyExists:
        typer.echo(f"a key named {name!r} already exists", err=True)
        raise typer.Exit(1) from None
    if as_json:
        typer.echo(json.dumps({"name": record.name, "key": secret, "id": record.id}))
    else:
        typer.echo(f"created key {record.name!r}; its secret is shown only now:\n{secret}")


@keys_app.command("list")
def keys_list(
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
    limit: Annotated[int | None, typer.Option("--limit", min=1, help="At most this many keys.")] = None,
    offset: Annotated[int, typer.Option("--offset", min=0, help="Skip this many keys first.")] = 0,
) -> None:
    """List API keys (never their secrets), oldest first; page with --limit/--offset."""
    from hubgate.admin.common import usd
    from hubgate.storage.keys import KeyRepository

    records = _run(_settings(config), lambda engine: KeyRepository(engine).all(limit=limit, offset=offset))
    rows: list[dict[str, Any]] = [
        {
            "name": r.name,
            "prefix": r.key_prefix,
            "account": r.account,
            "models": sorted(r.models) if r.models is not None else None,
            "budget_usd": usd(r.budget_micros) if r.budget_micros is not None else None,
            "rpm": r.rpm,
            "tpm": r.tpm,
            "expires_at": _iso(r.expires_at),
            "revoked": r.revoked_at is not None,
            "source": r.source,
            "created_at": _iso(r.created_at),
        }
        for r in records
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for row in rows:
        state = "revoked" if row["revoked"] else "active"
        models = ",".join(row["models"]) if row["models"] else "*"
        typer.echo(f"{row['name']:<24} {row['prefix']:<14} {state:<8} models={models}")


@keys_app.command("revoke")
def keys_revoke(name: Annotated[str, typer.Argument()], config: ConfigOpt = None) -> None:
    """Revoke a key; running gateways stop accepting it within a second."""
    from hubgate.storage.keys import KeyRepository

    record = _run(_settings(config), lambda engine: KeyRepository(engine).revoke(name))
    if record is None:
        typer.echo(f"no key named {name!r}", err=True)
        raise typer.Exit(1)
    typer.echo(f"revoked key {name!r}")


@channels_app.command("list")
def channels_list(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """List configured channels."""
    settings = _settings(config)
    rows: list[dict[str, Any]] = [
        {
            "name": c.name,
            "type": c.type,
            "base_url": c.base_url,
            "models": list(c.models),
            "priority": c.priority,
            "weight": c.weight,
            "enabled": c.enabled,
        }
        for c in settings.channels
    ]
    if as_json:
        typer.echo(json.dumps(rows))
        return
    for r in rows:
        state = "enabled" if r["enabled"] else "disabled"
        typer.echo(
            f"{r['name']:<20} {r['type']:<18} {state:<9} p={r['priority']} w={r['weight']} "
            f"{','.join(r['models'])}"
        )


@channels_app.command("test")
def channels_test(
    name: Annotated[str, typer.Argument()],
    model: Annotated[str | None, typer.Option(help="Model to try (default: the channel's first).")] = None,
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Send one tiny request through the channel, print and record latency or the error."""
    from hubgate.routing.probe import ChannelTestResult, test_channel
    from hubgate.storage.channels import AdminChannels
    from hubgate.storage.secrets import SecretBox, SecretsUnavailable

    settings = _settings(config)

    async def work(engine: Any) -> ChannelTestResult | None:
        admin = AdminChannels(engine, SecretBox(settings.secret_key))
        chosen = next((c for c in settings.channels if c.name == name), None)
        if chosen is None:  # perhaps one created through the admin API
            stored = await admin.settings_of(name)
            chosen = stored[1] if stored is not None else None
        if chosen is None:
            return None
        outcome = await test_channel(chosen, model)
        await admin.record_test(name, outcome.status, outcome.latency_ms, outcome.error)
        return outcome

    try:
        result = _run(settings, work)
    except SecretsUnavailable as exc:
        typer.echo(f"{name}: {exc}", err=True)
        raise typer.Exit(1) from None
    if result is None:
        typer.echo(f"no channel named {name!r}", err=True)
        raise typer.Exit(1)
    if as_json:
        typer.echo(json.dumps(result.as_dict()))
    elif result.ok:
        typer.echo(f"{name}: OK {result.model} HTTP {result.status} in {result.latency_ms} ms")
    else:
        typer.echo(f"{name}: FAILED {result.model}: {result.error} ({result.latency_ms} ms)")
    if not result.ok:
        raise typer.Exit(1)


@app.command()
def usage(
    key: Annotated[str | None, typer.Option("--key", help="Only this key.")] = None,
    since: Annotated[str | None, typer.Option("--since", help="ISO 8601 start time.")] = None,
    group_by: Annotated[
        str, typer.Option("--group-by", help="Comma-separated: key, model, channel, day.")
    ] = "key,model",
    config: ConfigOpt = None,
    as_json: JsonOpt = False,
) -> None:
    """Spend and tokens grouped by key, model, channel and/or day."""
    from hubgate.storage.admin_usage import GROUP_FIELDS, UsageFilter, aggregate

    fields = [f.strip() for f in group_by.split(",") if f.strip()]
    unknown = [f for f in fields if f not in GROUP_FIELDS]
    if unknown or not fields:
        typer.echo(f"--group-by: expected some of {', '.join(GROUP_FIELDS)}", err=True)
        raise typer.Exit(2)
    since_at = _parse_time(since, "--since")
    groups, _ = _run(
        _settings(config), lambda engine: aggregate(engine, fields, UsageFilter(key=key, since=since_at))
    )
    out: list[dict[str, Any]] = [
        {
            **{f: getattr(g, f) for f in fields},
            "requests": g.requests,
            "errors": g.errors,
            "prompt_tokens": g.prompt_tokens,
            "completion_tokens": g.completion_tokens,
            "cached_tokens": g.cached_tokens,
            "cost_micros": g.cost_micros,
        }
        for g in groups
    ]
    if as_json:
        typer.echo(json.dumps(out))
        return
    typer.echo(
        " ".join(f"{f:<24}" for f in fields)
        + f" {'requests':>8} {'errors':>6} {'prompt':>10} {'completion':>10} {'cost $':>12}"
    )
    for r in out:
        typer.echo(
            " ".join(f"{r[f] or '-':<24}" for f in fields)
            + f" {r['requests']:>8} {r['errors']:>6} {r['prompt_tokens']:>10} {r['completion_tokens']:>10}"
            + f" {Decimal(r['cost_micros']) / 1_000_000:>12.6f}"
        )


def main() -> None:
    app()


async def _check_ledger(settings: Settings, engine: Any) -> LedgerReport:
    from dataclasses import replace

    from hubgate.storage.ledger import check_ledger

    if settings.redis_url is None:
        return await check_ledger(engine)
    from redis.asyncio import Redis

    from hubgate.access.redis_holds import read_leases

    redis = Redis.from_url(settings.redis_url)
    try:
        first = await check_ledger(engine, lambda: read_leases(redis, settings.redis_prefix))
        if first.ok:
            return first
        # A usage flush commits a cost to the database, then shrinks its lease in Redis: a
        # check between the two counts that cost twice. Such a difference is gone a moment
        # later; a real one stays, so only what both readings show is reported.
        await asyncio.sleep(0.3)
        again = await check_ledger(engine, lambda: read_leases(redis, settings.redis_prefix))
        seen = {(d.subject, d.id, d.check) for d in first.differences}
        kept = [d for d in again.differences if (d.subject, d.id, d.check) in seen]
        return replace(again, differences=kept)
    finally:
        await redis.aclose()


@ledger_app.command("check")
def ledger_check(config: ConfigOpt = None, as_json: JsonOpt = False) -> None:
    """Every account: balance = credits - costs, leased = open leases, not below zero; every
    key: spent = costs, leased = open leases. With `redis_url` set, the leases held in Redis
    count as open holds too. Lists the differences; exit 1 if any."""
    from redis.exceptions import RedisError

    settings = _settings(config)
    try:
        report = _run(settings, lambda engine: _check_ledger(settings, engine))
    except RedisError as exc:
        typer.echo(f"ledger check: cannot read the holds in Redis ({settings.redis_url}): {exc}", err=True)
        raise typer.Exit(2) from None
    if as_json:
        typer.echo(
            json.dumps(
                {
                    "ok": report.ok,
                    "accounts": report.accounts,
                    "keys": report.keys,
                    "differences": [d.as_dict() for d in report.differences],
                }
            )
        )
    else:
        for d in report.differences:
            typer.echo(
                f"{d.subject} {d.name!r} (id {d.id}): {d.check} is {d.stored}, expected {d.expected} "
                f"(micro-dollars, off by {d.stored - d.expected})"
            )
        verdict = "OK" if report.ok else f"{len(report.differences)} differences"
        typer.echo(f"ledger check: {report.accounts} accounts, {report.keys} keys: {verdict}")
    if not report.ok:
        raise typer.Exit(1)


@users_app.command("create")
def users_create(
    email: Annotated[str, typer.Option("--email", help="The person's email (their log-in).")],
    role: Annotated[str, typer.Option("--role", help="user or admin.")] = "user",
    password_stdin: Annotated[
        bool, typer.Option("--password-stdin", help="Read the password from standard input.")
    ] = False,
    config: ConfigOpt = None,
) -> None:
    """Create a console user with an account of their own (asks for the password)."""
    import sys

    from hubgate.console import passwords
    from hubgate.console.users import create_user
    from hubgate.storage.users import UserExists

    if role not in ("user", "admin"):
        typer.echo("--role: expected user or admin", err=True)
        raise typer.Exit(2)
    settings = _settings(config)
    if password_stdin:
        password = sys.stdin.readline().rstrip("\n")
    else:
        password = typer.prompt("Password", hide_input=True, confirmation_prompt=True)
    problem = passwords.check(password, passwords.own_words(email))
    if problem is not None:
        typer.echo(f"password refused: {problem}", err=True)
        raise typer.Exit(2)

    async def work(engine: Any) -> Any:
        return await create_user(engine, settings.console, email, password, role=role)

    try:
        user = _run(settings, work)
    except UserExists:
        typer.echo(f"a user with the email {email!r} exists", err=True)
        raise typer.Exit(1) from None
    typer.echo(f"created {user.role} {user.email} (account id {user.account_id})")


@users_app.command("invite")
def users_invite(
    hours: Annotated[float, typer.Option("--hours", help="Valid for this long.", min=0.1)] = 168,
    config: ConfigOpt = None,
) -> None:
    """Print a one-time invite code for sign-up in invite-only mode."""
    from datetime import timedelta

    from hubgate.storage.users import UserRepository

    settings = _settings(config)

    async def work(engine: Any) -> str:
        return await UserRepository(engine).create_invite(None, ttl=timedelta(hours=hours))

    typer.echo(_run(settings, work))
