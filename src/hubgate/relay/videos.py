"""Creating a video task on the relay.

The create call goes upstream like any other request (channel priority and weights,
health, failover before an answer; OpenAI-format channels only), its body passed through
with only the model changed: JSON as it came, a multipart upload (`input_reference`)
part by part. The upstream's answer is kept as a task under an id of our own, with the
channel and upstream key that made it, and the task's expected cost (seconds x the
per-second price at its size) stays held against the key's budget and account balance
until it finishes (jobs/videos.py): the create request's hold (relay/holds.py) is carried
over to the task. The create request itself is logged like any other
(cost 0); the charge is the usage row written when the task completes.
"""

from __future__ import annotations

from collections.abc import Callable
from datetime import timedelta
from typing import Any

import orjson
from aiohttp import web

from hubgate.formats.registry import WireFormat
from hubgate.formats.videos import VideoRequest, read_video
from hubgate.gateway import Gateway
from hubgate.jobs import videos as video_tasks
from hubgate.providers.base import Endpoint, FormPart, UpstreamInvalid, UpstreamResponse
from hubgate.relay.call import Attempt, Call
from hubgate.relay.media import MediaCall
from hubgate.storage.keys import KeyRecord, utcnow
from hubgate.storage.usage import UsageRow
from hubgate.storage.videos import IN_PROGRESS, UNFINISHED, VideoStore, VideoTask, new_task_id

Render = Callable[[VideoTask], dict[str, Any]]


def video_call(
    gw: Gateway,
    key: KeyRecord,
    video: VideoRequest,
    body: dict[str, Any],
    render: Render,
    form: tuple[FormPart, ...] | None = None,
) -> Call:
    """The relay call that creates a task; its answer is `render(task)` as JSON. `form`: the
    caller's multipart parts, sent on as they are (an `input_reference` file among them)."""

    async def answer(attempt: Attempt, resp: UpstreamResponse, row: UsageRow) -> web.StreamResponse:
        task = await _store(gw, key, video, attempt, resp, row.request_id)
        row.status = 200
        return web.Response(body=orjson.dumps(render(task)), content_type="application/json")

    if form is None:
        return Call(WireFormat.OPENAI_CHAT, Endpoint.VIDEOS, body, video.model, False, answer_with=answer)
    return MediaCall(
        WireFormat.OPENAI_CHAT, Endpoint.VIDEOS, body, video.model, False, answer_with=answer, form=form
    )


async def _store(
    gw: Gateway,
    key: KeyRecord,
    video: VideoRequest,
    attempt: Attempt,
    resp: UpstreamResponse,
    request_id: str,
) -> VideoTask:
    """The upstream's new task, stored under our id; the create request's hold is carried
    over to the task at its expected cost."""
    raw = await resp.read()
    try:
        obj = orjson.loads(raw)
        created = read_video(obj)
    except ValueError as exc:  # nothing reached the caller: the next channel may try
        raise UpstreamInvalid("video object") from exc
    task_id = new_task_id()
    account_id = gw.billing.account_id(key)
    account = await gw.billing.accounts.get(account_id)
    seconds = created.seconds or video.seconds
    size = created.size or video.size
    expected = UsageRow(
        request_id=task_id,
        endpoint="videos",
        status=0,
        stream=False,
        model=video.model,
        upstream_model=attempt.upstream_model,
        units=seconds,
        unit=video_tasks.UNIT,
    )
    price = gw.billing.video_price(size, attempt.upstream_model, video.model)
    hold = gw.billing.quote(expected, key, account, price)
    store = VideoStore(gw.engine)
    first_poll = timedelta(seconds=video_tasks.backoff_s(gw.settings.video_poll_interval_s, 0))
    task = await store.create(
        task_id=task_id,
        upstream_id=created.id,
        channel=attempt.channel.name,
        upstream_key_index=video_tasks.key_index(attempt.channel, attempt.secret),
        key_id=key.id,
        account_id=account_id,
        model=video.model,
        upstream_model=attempt.upstream_model,
        status=created.status if created.status in UNFINISHED else IN_PROGRESS,  # settled below
        progress=created.progress,
        seconds=seconds,
        size=size,
        prompt=video.prompt,
        upstream=obj,
        hold_micros=hold,
        next_poll_at=utcnow() + first_poll,
    )
    ttl = gw.settings.video_task_timeout_s + gw.billing.hold_ttl_s
    gw.billing.keep(request_id, task.id, hold, ttl)
    if created.status not in UNFINISHED:  # an upstream that finished at once: settle now
        await video_tasks.apply(gw, task, created, obj)
        task = await store.get(task.id) or task
    return task
