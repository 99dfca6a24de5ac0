"""Console users: creating one (with an account of its own) and confirming its address.
Used by the sign-up and OAuth pages, the start-up admin and the CLI."""

from __future__ import annotations

from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.console import passwords
from hubgate.gateway import Gateway
from hubgate.settings import ConsoleSettings, usd_to_micros
from hubgate.storage.accounts import AccountExists, AccountRepository
from hubgate.storage.keys import utcnow
from hubgate.storage.users import User, UserExists, UserRepository


async def create_user(
    engine: AsyncEngine,
    cfg: ConsoleSettings,
    email: str,
    password: str | None,
    *,
    role: str,
    pending: bool = False,
    language: str | None = None,
) -> User:
    """An account of its own plus its user (sign-up, the start-up admin, the CLI). `pending`:
    the address is still to be confirmed, and the new-account credit waits for that;
    `language`: the console language they signed up in (saved for their pages and mail)."""
    accounts = AccountRepository(engine)
    name = email if len(email) <= 64 else email[:48] + "-" + email[-15:]
    credit = 0 if pending else usd_to_micros(cfg.new_account_credit_usd)
    try:
        account = await accounts.create(
            name, group=cfg.new_account_group, credit_micros=credit, source="console"
        )
    except AccountExists:
        unique = f"{name[:52]}-{utcnow():%H%M%S%f}"[:64]
        account = await accounts.create(
            unique, group=cfg.new_account_group, credit_micros=credit, source="console"
        )
    try:
        return await UserRepository(engine).create(
            email,
            await passwords.hash_password(password) if password is not None else None,  # None: OAuth only
            role=role,
            account_id=account.id,
            verified=not pending,
            language=language,
        )
    except UserExists:
        await accounts.update(account.id, disabled=True)
        raise


async def confirmed(gw: Gateway, users: UserRepository, user_id: int) -> None:
    """The user's address is confirmed now; the first time, their new account gets its credit."""
    if not await users.confirm_email(user_id):
        return
    user = await users.by_id(user_id)
    credit = usd_to_micros(gw.settings.console.new_account_credit_usd)
    if user is not None and credit > 0:
        await AccountRepository(gw.engine).adjust(user.account_id, credit, reference="sign-up credit")
        gw.billing.accounts.invalidate([user.account_id])
