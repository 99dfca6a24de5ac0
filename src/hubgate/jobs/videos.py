"""Video tasks after creation: asking their upstream about them, and finishing them once.

A task is polled through the channel and upstream key that created it (the upstream
knows it under that key only). Polls back off per task: the first comes
`video_poll_interval_s` after creation, each next one twice as late, up to a minute.
A task still unfinished after `video_task_timeout_s` is failed here and never billed.

Finishing is a conditional UPDATE of a still-unfinished task (storage/videos.py), so
however many pollers race, one wins: a completed task writes one usage row (endpoint
`videos`, `units` = seconds, `unit` = `video_second`, priced per second at the video's
size) and a failed one charges nothing. Either way the budget hold taken at creation
goes (`release_finished_holds` finds those settled by another replica).
"""

from __future__ import annotations

import asyncio
import logging
from dataclasses import dataclass, replace
from datetime import timedelta
from typing import Any
from urllib.parse import quote

import orjson

from hubgate.formats.videos import UpstreamVideo, read_video
from hubgate.gateway import Gateway
from hubgate.providers import provider_for
from hubgate.providers.base import (
    Endpoint,
    Provider,
    UpstreamConnectError,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.providers.channel import Channel
from hubgate.storage.keys import utcnow
from hubgate.storage.usage import UsageRow
from hubgate.storage.videos import COMPLETED, FAILED, VideoStore, VideoTask

log = logging.getLogger("hubgate.videos")

POLL_BACKOFF_MAX_S = 60.0
POLL_BATCH = 100  # tasks taken per round
POLL_CONCURRENCY = 8  # upstream polls in flight per round
UNIT = "video_second"


def backoff_s(base_s: float, attempts: int) -> float:
    """The wait before a task's next poll after `attempts` polls."""
    return min(POLL_BACKOFF_MAX_S, base_s * float(2 ** min(attempts, 16)))


@dataclass(frozen=True, slots=True)
class TaskUpstream:
    """Where a task lives: its channel, that channel's provider, the upstream key that made it."""

    channel: Channel
    provider: Provider
    secret: str

    def request(
        self, task: VideoTask, method: str, suffix: str = "", query: str = "", stream: bool = False
    ) -> UpstreamRequest:
        """`{base}/videos/{upstream id}{suffix}` on this channel with this key."""
        built = self.provider.build(
            self.channel, Endpoint.VIDEOS, task.upstream_model, b"", stream, self.secret
        )
        path, _, params = built.url.partition("?")
        params = "&".join(p for p in (params, query) if p)
        url = f"{path}/{quote(task.upstream_id, safe='')}{suffix}" + (f"?{params}" if params else "")
        headers = {k: v for k, v in built.headers.items() if k.lower() not in ("content-type", "accept")}
        return replace(built, url=url, headers=headers, method=method)

    async def send(self, gw: Gateway, request: UpstreamRequest) -> UpstreamResponse:
        return await self.provider.transport(gw.http).send(request)


def upstream_of(gw: Gateway, task: VideoTask) -> TaskUpstream | None:
    """The task's channel and key, or None while that channel is disabled or gone."""
    channel = gw.channels.channel(task.channel)
    if channel is None:
        return None
    keys = (*channel.api_keys, "")  # a keyless channel: ""
    # Should the channel's keys have changed since, its first key is the best guess.
    secret = keys[task.upstream_key_index] if task.upstream_key_index < len(keys) - 1 else keys[0]
    return TaskUpstream(channel, provider_for(channel.type), secret)


def key_index(channel: Channel, secret: str) -> int:
    return channel.api_keys.index(secret) if secret in channel.api_keys else 0


async def refresh(gw: Gateway, task: VideoTask) -> VideoTask:
    """Poll an unfinished task once, unless another poller just did, and apply the answer.
    Never raises for upstream trouble (the task just waits for its next poll)."""
    store = VideoStore(gw.engine)
    now = utcnow()
    if now - task.created_at > timedelta(seconds=gw.settings.video_task_timeout_s):
        await time_out(gw, task)
        return await store.get(task.id) or task
    upstream = upstream_of(gw, task)
    if upstream is None:  # its channel is off (here): polled once it is back, or timed out
        return task
    wait = timedelta(seconds=backoff_s(gw.settings.video_poll_interval_s, task.poll_attempts + 1))
    if not await store.claim_poll(task, now + wait):
        return await store.get(task.id) or task
    try:
        resp = await upstream.send(gw, upstream.request(task, "GET"))
        raw = await resp.read()
    except (UpstreamConnectError, UpstreamReadTimeout) as exc:
        log.warning("video task %s: the upstream could not be polled (%s)", task.id, exc)
        return task
    if resp.status == 404:  # the upstream no longer knows it: it will never finish
        error = {"code": "upstream_not_found", "message": "The upstream no longer knows this video task."}
        await fail(gw, task, error, None)
    elif resp.status >= 400:
        log.warning("video task %s: poll answered HTTP %d: %s", task.id, resp.status, raw[:200])
        return task
    else:
        try:
            obj = orjson.loads(raw)
            video = read_video(obj)
        except ValueError as exc:
            log.warning("video task %s: the upstream answered with no video object (%s)", task.id, exc)
            return task
        await apply(gw, task, video, obj)
    return await store.get(task.id) or task


async def apply(gw: Gateway, task: VideoTask, video: UpstreamVideo, obj: dict[str, Any]) -> None:
    """What the upstream says of a task: progress, or its end."""
    if video.status == COMPLETED:
        await complete(gw, task, video, obj)
    elif video.status == FAILED:
        await fail(gw, task, video.error or {}, obj)
    else:
        await VideoStore(gw.engine).progress(
            task.id, status=video.status, progress=video.progress, upstream=obj
        )


async def complete(gw: Gateway, task: VideoTask, video: UpstreamVideo, obj: dict[str, Any]) -> None:
    """Mark the task completed and bill it, once: only the poller whose update wins charges."""
    seconds = video.seconds or task.seconds or 0
    size = video.size or task.size
    key = await gw.key_repo.by_id(task.key_id)
    account = await gw.billing.accounts.get(task.account_id) if task.account_id is not None else None
    now = utcnow()
    row = UsageRow(
        request_id=task.id,
        endpoint="videos",
        status=200,
        stream=False,
        key_id=task.key_id,
        key_name=key.name if key is not None else None,
        model=task.model,
        upstream_model=task.upstream_model,
        channel=task.channel,
        latency_ms=int((now - task.created_at).total_seconds() * 1000),
        units=seconds,
        unit=UNIT,
    )
    price = gw.billing.video_price(size, task.upstream_model, task.model)
    cost = gw.billing.quote(row, key, account, price) if key is not None else 0
    won = await VideoStore(gw.engine).complete(
        task.id, seconds=seconds or None, size=size, cost_micros=cost, upstream=obj, completed_at=now
    )
    if won and key is not None:
        gw.billing.charge(row, key, account, price)  # settles the task's hold to its cost
        gw.usage.record(row)
        gw.metrics.observe(row)
    elif won:
        gw.billing.release(task.id, task.key_id, task.account_id)
    else:
        gw.billing.forget(task.id)  # another poller billed it


async def fail(gw: Gateway, task: VideoTask, error: dict[str, Any], obj: dict[str, Any] | None) -> None:
    """Mark the task failed: nothing is charged and its hold goes."""
    if await VideoStore(gw.engine).fail(task.id, error=error, upstream=obj, completed_at=utcnow()):
        log.info("video task %s failed: %s", task.id, error.get("message"))
        gw.billing.release(task.id, task.key_id, task.account_id)
    else:
        gw.billing.forget(task.id)  # another poller finished it


async def time_out(gw: Gateway, task: VideoTask) -> None:
    message = f"The video task did not finish within {gw.settings.video_task_timeout_s:g} s."
    await fail(gw, task, {"code": "timeout", "message": message}, None)


async def poll_due(gw: Gateway) -> int:
    """One poller round: every task of a channel served here whose poll is due, a few at a
    time, and every task past its time limit (whatever its channel). Returns how many polled."""
    store = VideoStore(gw.engine)
    now = utcnow()
    for task in await store.expired(now - timedelta(seconds=gw.settings.video_task_timeout_s), POLL_BATCH):
        await time_out(gw, task)
    tasks = await store.due(now, POLL_BATCH, [c.name for c in gw.channels.channels])
    gate = asyncio.Semaphore(POLL_CONCURRENCY)

    async def one(task: VideoTask) -> None:
        async with gate:
            try:
                await refresh(gw, task)
            except Exception:
                log.exception("video task %s: poll failed", task.id)

    await asyncio.gather(*(one(t) for t in tasks))
    return len(tasks)


async def release_finished_holds(gw: Gateway) -> None:
    """Drop this replica's holds of tasks another replica finished."""
    held = gw.billing.holds
    if held:
        for task_id in await VideoStore(gw.engine).finished_among(held):
            gw.billing.forget(task_id)
