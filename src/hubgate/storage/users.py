"""People who sign in to the console, their sessions, invites and password-reset tokens.

Secrets (session ids, invite codes, reset tokens) are stored only as SHA-256 digests:
a copy of the database does not let anyone in. Password hashes come from
`console/passwords.py`; this module never sees a password.
"""

from __future__ import annotations

import hashlib
import secrets
from dataclasses import dataclass
from datetime import datetime, timedelta
from typing import Any

from sqlalchemy import delete, func, insert, select, update
from sqlalchemy.exc import IntegrityError
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import as_utc, utcnow
from hubgate.storage.tables import invites, password_resets, ui_sessions, user_identities, users

RESET_TTL = timedelta(hours=1)  # how long a password-reset link works
VERIFY_TTL = timedelta(days=1)  # how long an email-confirmation link works


def digest(token: str) -> str:
    return hashlib.sha256(token.encode()).hexdigest()


def new_token() -> str:
    return secrets.token_urlsafe(32)


@dataclass(frozen=True, slots=True)
class User:
    id: int
    email: str
    password_hash: str | None
    role: str  # user | admin
    account_id: int
    totp_secret_enc: str | None
    disabled: bool
    failed_logins: int
    locked_until: datetime | None
    created_at: datetime
    last_login_at: datetime | None
    email_verified_at: datetime | None = None
    language: str | None = None  # the console language they chose (pages and mail); None: not chosen

    @property
    def is_admin(self) -> bool:
        return self.role == "admin"

    def locked(self, now: datetime) -> bool:
        return self.locked_until is not None and self.locked_until > now


@dataclass(frozen=True, slots=True)
class Session:
    user: User
    csrf_token: str
    mfa_pending: bool  # password accepted, TOTP code still owed
    expires_at: datetime


def _user(row: Any) -> User:
    return User(
        id=row.id,
        email=row.email,
        password_hash=row.password_hash,
        role=row.role,
        account_id=row.account_id,
        totp_secret_enc=row.totp_secret_enc,
        disabled=bool(row.disabled),
        failed_logins=row.failed_logins,
        locked_until=as_utc(row.locked_until),
        created_at=as_utc(row.created_at) or utcnow(),
        last_login_at=as_utc(row.last_login_at),
        email_verified_at=as_utc(row.email_verified_at),
        language=row.language,
    )


class UserExists(Exception):
    """The email is taken."""


class UserRepository:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    # --- users ---

    async def by_email(self, email: str) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.email == email.lower()))).first()
        return _user(row) if row is not None else None

    async def by_id(self, user_id: int) -> User | None:
        async with self._engine.connect() as conn:
            row = (await conn.execute(select(users).where(users.c.id == user_id))).first()
        return _user(row) if row is not None else None

    async def count(self) -> int:
        async with self._engine.connect() as conn:
            return int((await conn.execute(select(func.count()).select_from(users))).scalar_one())

    async def page(self, *, limit: int = 50, offset: int = 0) -> list[User]:
        query = select(users).order_by(users.c.id).limit(limit).offset(offset)
        async with self._engine.connect() as conn:
            return [_user(r) for r in (await conn.execute(query)).all()]

    async def by_account(self, account_ids: set[int]) -> dict[int, list[User]]:
        out: dict[int, list[User]] = {}
        if not account_ids:
            return out
        query = select(users).where(users.c.account_id.in_(sorted(account_ids))).order_by(users.c.id)
        async with self._engine.connect() as conn:
            for row in (await conn.execute(query)).all():
                out.setdefault(row.account_id, []).append(_user(row))
        return out

    async def create(
        self,
        email: str,
        password_hash: str | None,
        *,
        role: str,
        account_id: int,
        verified: bool = True,
        language: str | None = None,
    ) -> User:
        """`verified`: the address needs no confirmation (an admin, the CLI, an OAuth provider's
        verified email, or a gateway that does not ask)."""
        now = utcnow()
        values = {
            "email": email.lower(),
            "password_hash": password_hash,
            "role": role,
            "account_id": account_id,
            "created_at": now,
            "updated_at": now,
            "email_verified_at": now if verified else None,
            "language": language,
        }
        try:
            async with self._engine.begin() as conn:
                await conn.execute(insert(users).values(**values))
        except IntegrityError as exc:
            raise UserExists(email) from exc
        user = await self.by_email(email)
        assert user is not None
        return user

    async def update(self, user_id: int, **values: Any) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                update(users).where(users.c.id == user_id).values(**values, updated_at=utcnow())
            )

    async def replace_totp(self, user_id: int, old: str, new: str | None) -> bool:
        """Swap the sealed TOTP value only if it is still `old` (a recovery code is used once,
        even by two log-ins at the same moment); True if swapped."""
        c = users.c
        async with self._engine.begin() as conn:
            done = await conn.execute(
                update(users).where(c.id == user_id, c.totp_secret_enc == old)
                .values(totp_secret_enc=new, updated_at=utcnow())
            )  # fmt: skip
            return bool(done.rowcount == 1)

    async def login_failed(self, user: User, *, lock_after: int, lock_for: timedelta) -> bool:
        """Count a failed log-in; lock the user when `lock_after` fail in a row. True if locked."""
        c = users.c
        async with self._engine.begin() as conn:
            await conn.execute(update(users).where(c.id == user.id).values(failed_logins=c.failed_logins + 1))
            failed = (await conn.execute(select(c.failed_logins).where(c.id == user.id))).scalar_one()
            if failed >= lock_after:
                await conn.execute(
                    update(users)
                    .where(c.id == user.id)
                    .values(failed_logins=0, locked_until=utcnow() + lock_for)
                )
                return True
        return False

    async def login_succeeded(self, user_id: int) -> None:
        await self.update(user_id, failed_logins=0, locked_until=None, last_login_at=utcnow())

    # --- external identities (OAuth / OpenID Connect) ---

    async def by_identity(self, provider: str, subject: str) -> User | None:
        query = select(users).join(user_identities, user_identities.c.user_id == users.c.id)
        query = query.where(user_identities.c.provider == provider, user_identities.c.subject == subject)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _user(row) if row is not None else None

    async def link_identity(self, provider: str, subject: str, user_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(user_identities).values(
                    provider=provider, subject=subject, user_id=user_id, created_at=utcnow()
                )
            )

    # --- sessions ---

    async def start_session(
        self, user_id: int, *, ttl: timedelta, ip: str | None, user_agent: str | None, mfa_pending: bool
    ) -> tuple[str, str]:
        """A new session; returns (session token for the cookie, CSRF token)."""
        token, csrf = new_token(), new_token()
        now = utcnow()
        s = ui_sessions.c
        async with self._engine.begin() as conn:
            # The user's expired sessions go now: the table holds only live ones (and a few).
            await conn.execute(delete(ui_sessions).where(s.user_id == user_id, s.expires_at < now))
            await conn.execute(
                insert(ui_sessions).values(
                    id_hash=digest(token),
                    user_id=user_id,
                    csrf_token=csrf,
                    mfa_pending=mfa_pending,
                    created_at=now,
                    expires_at=now + ttl,
                    last_seen_at=now,
                    ip=(ip or "")[:64] or None,
                    user_agent=(user_agent or "")[:255] or None,
                )
            )
        return token, csrf

    async def session(self, token: str) -> Session | None:
        """The live session for a cookie value, with its user; None if unknown, expired or disabled."""
        s = ui_sessions.c
        query = select(users, s.csrf_token, s.mfa_pending, s.expires_at).join(
            ui_sessions, s.user_id == users.c.id
        )
        async with self._engine.connect() as conn:
            row = (await conn.execute(query.where(s.id_hash == digest(token)))).first()
        if row is None:
            return None
        expires = as_utc(row.expires_at)
        if expires is None or expires <= utcnow() or row.disabled:
            return None
        return Session(_user(row), row.csrf_token, bool(row.mfa_pending), expires)

    async def end_session(self, token: str) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ui_sessions).where(ui_sessions.c.id_hash == digest(token)))

    async def end_sessions(self, user_id: int) -> None:
        async with self._engine.begin() as conn:
            await conn.execute(delete(ui_sessions).where(ui_sessions.c.user_id == user_id))

    async def prune_sessions(self) -> int:
        async with self._engine.begin() as conn:
            result = await conn.execute(delete(ui_sessions).where(ui_sessions.c.expires_at < utcnow()))
        return int(result.rowcount or 0)

    # --- invites ---

    async def create_invite(self, created_by: int | None, *, ttl: timedelta | None) -> str:
        code = "inv-" + new_token()
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(invites).values(
                    code_hash=digest(code),
                    created_by=created_by,
                    created_at=now,
                    expires_at=now + ttl if ttl is not None else None,
                )
            )
        return code

    async def use_invite(self, code: str, user_id: int | None) -> bool:
        """Mark an invite used by `user_id`; False when unknown, used or expired (exactly once)."""
        i = invites.c
        now = utcnow()
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(invites)
                .where(i.code_hash == digest(code), i.used_at.is_(None))
                .where((i.expires_at.is_(None)) | (i.expires_at > now))
                .values(used_by=user_id, used_at=now)
            )
        return (result.rowcount or 0) == 1

    async def invite_usable(self, code: str) -> bool:
        i = invites.c
        query = select(i.code_hash).where(i.code_hash == digest(code), i.used_at.is_(None))
        query = query.where((i.expires_at.is_(None)) | (i.expires_at > utcnow()))
        async with self._engine.connect() as conn:
            return (await conn.execute(query)).first() is not None

    # --- password resets ---

    async def create_reset(self, user_id: int, *, ttl: timedelta, purpose: str = "reset") -> str:
        """A one-time link's token: `purpose` reset (a new password) or verify (confirm the email)."""
        token = new_token()
        now = utcnow()
        async with self._engine.begin() as conn:
            await conn.execute(
                insert(password_resets).values(
                    token_hash=digest(token), user_id=user_id, created_at=now, expires_at=now + ttl,
                    purpose=purpose,
                )
            )  # fmt: skip
        return token

    async def use_reset(self, token: str, purpose: str = "reset") -> int | None:
        """Spend a one-time token made for `purpose` (once); the user id it was made for, or None."""
        r = password_resets.c
        now = utcnow()
        async with self._engine.begin() as conn:
            row = (
                await conn.execute(
                    select(r.user_id).where(
                        r.token_hash == digest(token), r.used_at.is_(None), r.purpose == purpose
                    )
                )
            ).first()
            expires = (
                await conn.execute(select(r.expires_at).where(r.token_hash == digest(token)))
            ).scalar_one_or_none()
            if row is None or (as_utc(expires) or now) <= now:
                return None
            result = await conn.execute(
                update(password_resets)
                .where(r.token_hash == digest(token), r.used_at.is_(None))
                .values(used_at=now)
            )
            if (result.rowcount or 0) != 1:
                return None
        return int(row.user_id)

    async def confirm_email(self, user_id: int) -> bool:
        """Mark the user's address confirmed; True only for the call that did it (once)."""
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(users)
                .where(users.c.id == user_id, users.c.email_verified_at.is_(None))
                .values(email_verified_at=utcnow(), updated_at=utcnow())
            )
        return (result.rowcount or 0) == 1
