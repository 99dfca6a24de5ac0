"""Video task routes (SPEC §4): OpenAI's Videos API, and the generic task shape of one-api
style gateways, over one task table. Tasks are the key's own: another key's task id is
answered 404, exactly like an unknown one.

- `POST /v1/videos` (JSON or multipart), `GET /v1/videos`, `GET /v1/videos/{id}`,
  `GET /v1/videos/{id}/content` (streamed from the upstream), `DELETE /v1/videos/{id}`;
- `POST /v1/videos/generations`, `GET /v1/videos/generations/{id}`: statuses queued,
  running, succeeded, failed; a finished video's `data[0].video_url` is our own content
  route (the caller's key fetches it).
"""

from __future__ import annotations

import logging
from typing import Any

from aiohttp import web

from hubgate.errors import InvalidRequest, NotFound, Unavailable, UpstreamTimeout
from hubgate.formats.registry import WireFormat
from hubgate.formats.videos import GENERIC_STATUS, VARIANTS, check_create, check_generic
from hubgate.gateway import GATEWAY, REQUEST_ID, Gateway
from hubgate.http.body import parse_object, read_body
from hubgate.http.common import json_response
from hubgate.http.multipart import read_form, text_fields
from hubgate.jobs import videos as video_tasks
from hubgate.providers.base import (
    UpstreamConnectError,
    UpstreamReadTimeout,
    UpstreamRequest,
    UpstreamResponse,
)
from hubgate.relay.call import Attempt, Call
from hubgate.relay.dispatch import authenticate, relay
from hubgate.relay.upstream import upstream_error
from hubgate.relay.videos import Render, video_call
from hubgate.storage.keys import KeyRecord, utcnow
from hubgate.storage.videos import COMPLETED, VideoStore, VideoTask

log = logging.getLogger("hubgate.videos")

LIST_LIMIT_DEFAULT, LIST_LIMIT_MAX = 20, 100


# -- what callers see --------------------------------------------------------------------------------------


def _epoch(task_time: Any) -> int | None:
    return int(task_time.timestamp()) if task_time is not None else None


def openai_video(task: VideoTask) -> dict[str, Any]:
    """The task as OpenAI's video object: the upstream's latest object with our id, model,
    state and times (fields we do not know pass through)."""
    upstream = task.upstream or {}
    expires = upstream.get("expires_at")
    return {
        **upstream,
        "id": task.id,
        "object": "video",
        "created_at": _epoch(task.created_at),
        "completed_at": _epoch(task.completed_at),
        "expires_at": expires if isinstance(expires, int) and task.status == COMPLETED else None,
        "status": task.status,
        "model": task.model,
        "progress": task.progress,
        "prompt": task.prompt,
        "seconds": str(task.seconds) if task.seconds else upstream.get("seconds"),
        "size": task.size or upstream.get("size"),
        "error": task.error,
        "remixed_from_video_id": None,  # an upstream id would mean nothing to the caller
    }


def generic_task(request: web.Request) -> Render:
    """The generic task shape; its video URL is absolute, on the host the caller used."""
    prefix = "/api" if request.path.startswith("/api/") else ""
    origin = f"{request.url.origin()}{prefix}"

    def render(task: VideoTask) -> dict[str, Any]:
        done = task.status == COMPLETED
        url = f"{origin}/v1/videos/{task.id}/content" if done else None
        return {
            "id": task.id,
            "task_id": task.id,
            "object": "video.generation",
            "model": task.model,
            "status": GENERIC_STATUS[task.status],
            "progress": task.progress,
            "seconds": task.seconds,
            "size": task.size,
            "created_at": _epoch(task.created_at),
            "updated_at": _epoch(task.updated_at),
            "completed_at": _epoch(task.completed_at),
            "url": url,
            "data": [{"video_url": url}] if done else [],
            "error": task.error,
        }

    return render


# -- create --------------------------------------------------------------------------------------------------


async def create(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        if request.content_type == "multipart/form-data":
            parts = await read_form(request, gw.max_body_bytes)
            fields = {k: v for k, v in text_fields(parts).items() if k != "input_reference"}
            return video_call(gw, key, check_create(fields), dict(fields), openai_video, tuple(parts))
        body = parse_object(await read_body(request, gw.max_body_bytes))
        return video_call(gw, key, check_create(body), body, openai_video)

    return await relay(gw, request, "videos", prepare)


async def create_generic(request: web.Request) -> web.StreamResponse:
    gw = request.app[GATEWAY]

    async def prepare(key: KeyRecord) -> Call:
        video, upstream = check_generic(parse_object(await read_body(request, gw.max_body_bytes)))
        return video_call(gw, key, video, upstream, generic_task(request))

    return await relay(gw, request, "videos", prepare)


# -- the key's own tasks -------------------------------------------------------------------------------------


async def _own(request: web.Request) -> tuple[Gateway, VideoTask]:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    task_id = request.match_info["video_id"]
    task = await VideoStore(gw.engine).get(task_id, key.id)
    if task is None:
        raise NotFound(f"No video found with id '{task_id}'.", param="video_id", code="video_not_found")
    return gw, task


async def _fresh(gw: Gateway, task: VideoTask) -> VideoTask:
    """A running task whose poll is due is polled now, so callers polling us see progress
    without waiting for the background round (not more often than the task's back-off)."""
    due = task.next_poll_at is None or task.next_poll_at <= utcnow()
    return await video_tasks.refresh(gw, task) if not task.finished and due else task


async def retrieve(request: web.Request) -> web.Response:
    gw, task = await _own(request)
    return json_response(openai_video(await _fresh(gw, task)))


async def retrieve_generic(request: web.Request) -> web.Response:
    gw, task = await _own(request)
    return json_response(generic_task(request)(await _fresh(gw, task)))


def _limit(raw: str | None) -> int:
    if raw is None:
        return LIST_LIMIT_DEFAULT
    try:
        limit = int(raw)
    except ValueError:
        limit = 0
    if not 1 <= limit <= LIST_LIMIT_MAX:
        raise InvalidRequest(
            f"Invalid 'limit': expected a whole number from 1 to {LIST_LIMIT_MAX}.", param="limit"
        )
    return limit


async def list_videos(request: web.Request) -> web.Response:
    gw = request.app[GATEWAY]
    key = await authenticate(gw, request)
    limit = _limit(request.query.get("limit"))
    order = request.query.get("order", "desc")
    if order not in ("asc", "desc"):
        raise InvalidRequest("Invalid 'order': expected 'asc' or 'desc'.", param="order")
    store = VideoStore(gw.engine)
    after = None
    if "after" in request.query:
        after = await store.get(request.query["after"], key.id)
        if after is None:
            raise InvalidRequest(
                f"Invalid 'after': no video with id '{request.query['after']}'.", param="after"
            )
    tasks, more = await store.page(key.id, limit=limit, after=after, newest_first=order == "desc")
    data = [openai_video(t) for t in tasks]
    return json_response(
        {
            "object": "list",
            "data": data,
            "first_id": data[0]["id"] if data else None,
            "last_id": data[-1]["id"] if data else None,
            "has_more": more,
        }
    )


async def delete(request: web.Request) -> web.Response:
    """Deletes a finished video here and upstream (an upstream that already forgot it is fine)."""
    gw, task = await _own(request)
    if not task.finished:
        raise InvalidRequest(
            f"Video '{task.id}' is still {task.status}; only completed or failed videos can be deleted.",
            param="video_id",
        )
    upstream = video_tasks.upstream_of(gw, task)
    if upstream is None:
        raise Unavailable(f"The channel of video '{task.id}' is not serving; retry later.")
    resp = await _send(gw, upstream, upstream.request(task, "DELETE"))
    if resp.status >= 400 and resp.status != 404:
        raise await upstream_error(resp, _attempt(upstream, task))
    await resp.read()
    await VideoStore(gw.engine).delete(task.id, task.key_id)
    return json_response({"id": task.id, "object": "video.deleted", "deleted": True})


# -- content ------------------------------------------------------------------------------------------------


async def content(request: web.Request) -> web.StreamResponse:
    """The finished video (or its thumbnail or spritesheet), relayed chunk by chunk as the
    upstream sends it, with the upstream's content type."""
    gw, task = await _own(request)
    task = await _fresh(gw, task)
    variant = request.query.get("variant", "video")
    if variant not in VARIANTS:
        choices = ", ".join(f"'{v}'" for v in VARIANTS)
        raise InvalidRequest(f"Invalid 'variant': expected one of {choices}.", param="variant")
    if task.status != COMPLETED:
        raise InvalidRequest(
            f"Video '{task.id}' is {task.status}; its content is available once it is completed.",
            param="video_id",
            code="video_not_ready",
        )
    upstream = video_tasks.upstream_of(gw, task)
    if upstream is None:
        raise Unavailable(f"The channel of video '{task.id}' is not serving; retry later.")
    query = f"variant={variant}" if "variant" in request.query else ""
    resp = await _send(gw, upstream, upstream.request(task, "GET", "/content", query, stream=True))
    if resp.status >= 400:
        raise await upstream_error(resp, _attempt(upstream, task))
    return await _stream_back(request, resp)


async def _stream_back(request: web.Request, resp: UpstreamResponse) -> web.StreamResponse:
    headers = {
        "content-type": resp.headers.get("content-type", "application/octet-stream"),
        "x-request-id": request[REQUEST_ID],
    }
    length = resp.headers.get("content-length")
    if length is not None and "content-encoding" not in resp.headers:
        headers["content-length"] = length
    out = web.StreamResponse(status=200, headers=headers)
    finished = False
    try:
        async for chunk in resp.iter_chunks():
            if not out.prepared:
                await out.prepare(request)
            await out.write(chunk)
        if not out.prepared:
            await out.prepare(request)
        finished = True
    except (UpstreamConnectError, UpstreamReadTimeout):
        if not out.prepared:
            raise Unavailable("The upstream broke off the video download; retry.") from None
        if request.transport is not None:  # cut, so a truncated file never looks complete
            request.transport.close()
        return out
    finally:
        if finished:
            resp.release()
        else:
            resp.close()
    await out.write_eof()
    return out


async def _send(gw: Gateway, upstream: video_tasks.TaskUpstream, req: UpstreamRequest) -> UpstreamResponse:
    try:
        return await upstream.send(gw, req)
    except UpstreamConnectError as exc:
        log.warning("video upstream unreachable: %s", exc)
        raise Unavailable("The upstream of this video could not be reached.") from exc
    except UpstreamReadTimeout as exc:
        raise UpstreamTimeout(f"The upstream of this video did not answer in time ({exc}).") from exc


def _attempt(upstream: video_tasks.TaskUpstream, task: VideoTask) -> Attempt:
    return Attempt(upstream.channel, WireFormat.OPENAI_CHAT, task.upstream_model, False, upstream.secret)


def add_routes(router: web.UrlDispatcher, prefix: str) -> None:
    """The video routes under `prefix` ("" or "/api"), with and without `/v1`."""
    for version in ("/v1", ""):
        base = f"{prefix}{version}/videos"
        router.add_post(base, create)
        router.add_get(base, list_videos)
        router.add_post(f"{base}/generations", create_generic)
        router.add_get(f"{base}/generations/{{video_id}}", retrieve_generic)
        router.add_get(f"{base}/{{video_id}}", retrieve)
        router.add_delete(f"{base}/{{video_id}}", delete)
        router.add_get(f"{base}/{{video_id}}/content", content)
