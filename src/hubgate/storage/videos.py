"""Video generation tasks: created through one channel, polled until they finish, billed once.

Every state change is a conditional UPDATE on a task that is still unfinished, so two
replicas (or a poller and a caller's GET) racing on one task change it once: the one whose
UPDATE matched a row wins, and only the winner bills or releases a hold.
"""

from __future__ import annotations

import secrets
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import datetime
from types import SimpleNamespace
from typing import Any

from sqlalchemy import and_, insert, or_, select, update
from sqlalchemy.ext.asyncio import AsyncEngine

from hubgate.storage.keys import as_utc, utcnow
from hubgate.storage.tables import video_tasks

QUEUED, IN_PROGRESS, COMPLETED, FAILED = "queued", "in_progress", "completed", "failed"
UNFINISHED = (QUEUED, IN_PROGRESS)


def new_task_id() -> str:
    """Our id for a task, shown to the caller (never the upstream's)."""
    return f"video_{secrets.token_hex(16)}"


@dataclass(frozen=True, slots=True)
class VideoTask:
    id: str
    upstream_id: str
    channel: str
    upstream_key_index: int  # which of the channel's upstream keys created it (and must poll it)
    key_id: int
    account_id: int | None
    model: str  # the public name the caller asked for
    upstream_model: str
    status: str  # queued | in_progress | completed | failed
    progress: int
    seconds: int | None
    size: str | None
    prompt: str | None
    upstream: dict[str, Any] | None  # the upstream's latest video object
    error: dict[str, Any] | None  # {"code", "message"} once failed
    hold_micros: int  # the expected cost held against the budget while it runs
    cost_micros: int
    billed: bool
    poll_attempts: int
    next_poll_at: datetime | None
    created_at: datetime
    updated_at: datetime
    completed_at: datetime | None

    @property
    def finished(self) -> bool:
        return self.status not in UNFINISHED


def _task(row: Any) -> VideoTask:
    return VideoTask(
        id=row.id,
        upstream_id=row.upstream_id,
        channel=row.channel,
        upstream_key_index=int(row.upstream_key_index),
        key_id=int(row.key_id),
        account_id=row.account_id,
        model=row.model,
        upstream_model=row.upstream_model,
        status=row.status,
        progress=int(row.progress),
        seconds=row.seconds,
        size=row.size,
        prompt=row.prompt,
        upstream=dict(row.upstream) if row.upstream is not None else None,
        error=dict(row.error) if row.error is not None else None,
        hold_micros=int(row.hold_micros),
        cost_micros=int(row.cost_micros),
        billed=bool(row.billed),
        poll_attempts=int(row.poll_attempts),
        next_poll_at=as_utc(row.next_poll_at),
        created_at=as_utc(row.created_at) or utcnow(),
        updated_at=as_utc(row.updated_at) or utcnow(),
        completed_at=as_utc(row.completed_at),
    )


_LIVE = video_tasks.c.deleted_at.is_(None)
_OPEN = video_tasks.c.status.in_(UNFINISHED)


class VideoStore:
    def __init__(self, engine: AsyncEngine) -> None:
        self._engine = engine

    async def create(
        self,
        *,
        task_id: str,
        upstream_id: str,
        channel: str,
        upstream_key_index: int,
        key_id: int,
        account_id: int | None,
        model: str,
        upstream_model: str,
        status: str,
        progress: int,
        seconds: int | None,
        size: str | None,
        prompt: str | None,
        upstream: dict[str, Any],
        hold_micros: int,
        next_poll_at: datetime,
    ) -> VideoTask:
        now = utcnow()
        values = dict(
            id=task_id,
            upstream_id=upstream_id,
            channel=channel,
            upstream_key_index=upstream_key_index,
            key_id=key_id,
            account_id=account_id,
            model=model,
            upstream_model=upstream_model,
            status=status,
            progress=progress,
            seconds=seconds,
            size=size,
            prompt=prompt,
            upstream=upstream,
            error=None,
            hold_micros=hold_micros,
            cost_micros=0,
            billed=False,
            poll_attempts=0,
            next_poll_at=next_poll_at,
            created_at=now,
            updated_at=now,
            completed_at=None,
        )
        async with self._engine.begin() as conn:
            await conn.execute(insert(video_tasks).values(**values))
        return _task(SimpleNamespace(**values))

    async def get(self, task_id: str, key_id: int | None = None) -> VideoTask | None:
        """A task that was not deleted; with `key_id`, only if that key created it."""
        query = select(video_tasks).where(video_tasks.c.id == task_id, _LIVE)
        if key_id is not None:
            query = query.where(video_tasks.c.key_id == key_id)
        async with self._engine.connect() as conn:
            row = (await conn.execute(query)).first()
        return _task(row) if row is not None else None

    async def page(
        self, key_id: int, *, limit: int, after: VideoTask | None = None, newest_first: bool = True
    ) -> tuple[list[VideoTask], bool]:
        """A key's tasks by creation time (then id), after `after`; and whether more follow."""
        c = video_tasks.c
        query = select(video_tasks).where(c.key_id == key_id, _LIVE)
        if after is not None:
            if newest_first:
                later = or_(
                    c.created_at < after.created_at, and_(c.created_at == after.created_at, c.id < after.id)
                )
            else:
                later = or_(
                    c.created_at > after.created_at, and_(c.created_at == after.created_at, c.id > after.id)
                )
            query = query.where(later)
        order = (c.created_at.desc(), c.id.desc()) if newest_first else (c.created_at.asc(), c.id.asc())
        async with self._engine.connect() as conn:
            rows = (await conn.execute(query.order_by(*order).limit(limit + 1))).all()
        return [_task(r) for r in rows[:limit]], len(rows) > limit

    async def due(self, now: datetime, limit: int, channels: Iterable[str]) -> list[VideoTask]:
        """Unfinished tasks of these channels whose next poll is due, the longest waiting first."""
        c = video_tasks.c
        query = (
            select(video_tasks)
            .where(_OPEN, c.channel.in_(list(channels)), or_(c.next_poll_at.is_(None), c.next_poll_at <= now))
            .order_by(c.next_poll_at)
            .limit(limit)
        )
        async with self._engine.connect() as conn:
            return [_task(r) for r in (await conn.execute(query)).all()]

    async def expired(self, created_before: datetime, limit: int) -> list[VideoTask]:
        """Unfinished tasks created before `created_before`, whatever their channel."""
        query = select(video_tasks).where(_OPEN, video_tasks.c.created_at < created_before).limit(limit)
        async with self._engine.connect() as conn:
            return [_task(r) for r in (await conn.execute(query)).all()]

    async def claim_poll(self, task: VideoTask, next_poll_at: datetime) -> bool:
        """Move an unfinished task's next poll forward, unless someone else already did: True
        means this caller polls it now (so two replicas never poll one task for one due time)."""
        c = video_tasks.c
        seen = c.next_poll_at.is_(None) if task.next_poll_at is None else c.next_poll_at == task.next_poll_at
        return await self._update(
            and_(c.id == task.id, _OPEN, seen),
            next_poll_at=next_poll_at,
            poll_attempts=task.poll_attempts + 1,
        )

    async def progress(self, task_id: str, *, status: str, progress: int, upstream: dict[str, Any]) -> bool:
        """What the upstream says of a task still running."""
        c = video_tasks.c
        return await self._update(
            and_(c.id == task_id, _OPEN), status=status, progress=progress, upstream=upstream
        )

    async def complete(
        self,
        task_id: str,
        *,
        seconds: int | None,
        size: str | None,
        cost_micros: int,
        upstream: dict[str, Any],
        completed_at: datetime,
    ) -> bool:
        """Finish a task as completed and billed; True for the one caller whose update won."""
        c = video_tasks.c
        return await self._update(
            and_(c.id == task_id, _OPEN, c.billed.is_(False)),
            status=COMPLETED,
            progress=100,
            seconds=seconds,
            size=size,
            cost_micros=cost_micros,
            billed=True,
            upstream=upstream,
            completed_at=completed_at,
        )

    async def fail(
        self, task_id: str, *, error: dict[str, Any], upstream: dict[str, Any] | None, completed_at: datetime
    ) -> bool:
        """Finish a task as failed (nothing is billed); True for the one caller whose update won."""
        c = video_tasks.c
        values: dict[str, Any] = {"status": FAILED, "error": error, "completed_at": completed_at}
        if upstream is not None:
            values["upstream"] = upstream
        return await self._update(and_(c.id == task_id, _OPEN), **values)

    async def delete(self, task_id: str, key_id: int) -> bool:
        c = video_tasks.c
        return await self._update(and_(c.id == task_id, c.key_id == key_id, _LIVE), deleted_at=utcnow())

    async def finished_among(self, task_ids: Iterable[str]) -> list[str]:
        """Which of these tasks are no longer running (their holds can go)."""
        ids = list(task_ids)
        if not ids:
            return []
        query = select(video_tasks.c.id).where(video_tasks.c.id.in_(ids), ~_OPEN)
        async with self._engine.connect() as conn:
            return [r.id for r in (await conn.execute(query)).all()]

    async def _update(self, where: Any, **values: Any) -> bool:
        async with self._engine.begin() as conn:
            result = await conn.execute(
                update(video_tasks).where(where).values(updated_at=utcnow(), **values)
            )
        return bool(result.rowcount)
