"""A fake of OpenAI's Videos API (Sora) that speaks the real wire format (``openai.types.Video``).

Each video belongs to the upstream key that created it (another key is answered 404, as a
project-scoped API would). A video moves on one step per ``GET /v1/videos/{id}``: ``queued`` on
create, then ``in_progress`` (progress 33, 66), then ``completed`` (100, with ``completed_at`` and
``expires_at``). Magic prompts: ``[fail]`` fails on the second poll (``moderation_blocked``),
``[stuck]`` never finishes. Model ``fail-500`` answers the create with HTTP 500.
``GET /v1/videos/{id}/content`` sends :func:`video_bytes` in :data:`CONTENT_CHUNKS` chunks
(``video/mp4``; the thumbnail is ``image/webp``, the spritesheet ``image/jpeg``).
``input_reference`` uploads are kept in :attr:`FakeVideos.uploads`.
"""

from __future__ import annotations

import asyncio
import hashlib
import math
import secrets
import time
from typing import Any

from aiohttp import web

from ._server import FakeServer, json_response
from .openai_media import Part, read_fields

JSONDict = dict[str, Any]

API_KEY = "sk-video-upstream-one"
SECOND_API_KEY = "sk-video-upstream-two"
SECONDS = ("4", "8", "12")
SIZES = ("720x1280", "1280x720", "1024x1792", "1792x1024")
PRO_SIZES = ("1024x1792", "1792x1024")  # sora-2-pro only
CONTENT_SIZE = 300_000
CONTENT_CHUNKS = 6
CONTENT_CHUNK_DELAY_S = 0.02
ASSET_TYPES = {"video": "video/mp4", "thumbnail": "image/webp", "spritesheet": "image/jpeg"}
EXPIRES_AFTER_S = 3600


def video_bytes(video_id: str, variant: str = "video") -> bytes:
    """The fake's "render" of a video: deterministic bytes, an MP4 header first."""
    size = CONTENT_SIZE if variant == "video" else 20_000
    out = bytearray(b"\x00\x00\x00\x18ftypmp42" if variant == "video" else b"RIFF")
    counter = 0
    while len(out) < size:
        out += hashlib.sha256(f"{video_id}/{variant}/{counter}".encode()).digest()
        counter += 1
    return bytes(out[:size])


def _error(status: int, message: str, *, param: str | None = None, code: str | None = None) -> web.Response:
    body = {"error": {"message": message, "type": "invalid_request_error", "param": param, "code": code}}
    return json_response(body, status)


class FakeVideos(FakeServer):
    """The Videos API on 127.0.0.1, as an async context manager."""

    def __init__(self) -> None:
        super().__init__()
        self.api_keys = {API_KEY, SECOND_API_KEY}
        self.videos: dict[str, JSONDict] = {}
        self.owners: dict[str, str] = {}  # video id -> the upstream key that created it
        self.polls: dict[str, int] = {}
        self.uploads: list[list[Part]] = []

    def routes(self, app: web.Application) -> None:
        app.router.add_post("/v1/videos", self._create)
        app.router.add_get("/v1/videos", self._list)
        app.router.add_get("/v1/videos/{video_id}", self._retrieve)
        app.router.add_delete("/v1/videos/{video_id}", self._delete)
        app.router.add_get("/v1/videos/{video_id}/content", self._content)

    def _key(self, request: web.Request) -> str | None:
        auth = request.headers.get("Authorization", "")
        key = auth[7:].strip() if auth[:7].lower() == "bearer " else ""
        return key if key in self.api_keys else None

    def _owned(self, request: web.Request) -> JSONDict | web.Response:
        """The caller's video named in the path, or the 401/404 the real API answers."""
        key = self._key(request)
        if key is None:
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        video = self._own(request, key)
        if video is None:
            return _error(
                404, f"Video with id '{request.match_info['video_id']}' not found.", code="not_found"
            )
        return video

    def _own(self, request: web.Request, key: str) -> JSONDict | None:
        video_id = request.match_info["video_id"]
        return self.videos.get(video_id) if self.owners.get(video_id) == key else None

    # -- POST /v1/videos ---------------------------------------------------------------------------------

    async def _create(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if key is None:
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        read = await read_fields(request, self.uploads)
        if isinstance(read, web.Response):
            return read
        body, _ = read
        model = body.get("model", "sora-2")
        if model == "fail-500":
            return json_response(
                {"error": {"message": "The server had an error.", "type": "server_error", "param": None,
                           "code": None}},
                500,
            )  # fmt: skip
        if not isinstance(model, str) or not model.startswith("sora-2"):
            return _error(400, f"Invalid model: {model!r}.", param="model", code="invalid_value")
        prompt = body.get("prompt")
        if not isinstance(prompt, str) or not prompt:
            return _error(
                400,
                "Missing required parameter: 'prompt'.",
                param="prompt",
                code="missing_required_parameter",
            )
        seconds = body.get("seconds", "4")
        if seconds not in SECONDS:
            return _error(400, f"Invalid value: '{seconds}'.", param="seconds", code="invalid_value")
        size = body.get("size", "720x1280")
        if size not in SIZES or (size in PRO_SIZES and not model.startswith("sora-2-pro")):
            return _error(400, f"Invalid value for size: '{size}' with model {model}.", param="size",
                          code="invalid_value")  # fmt: skip
        video_id = f"video_{secrets.token_hex(16)}"
        self.videos[video_id] = {
            "id": video_id,
            "object": "video",
            "created_at": int(time.time()),
            "completed_at": None,
            "expires_at": None,
            "status": "queued",
            "model": model,
            "progress": 0,
            "prompt": prompt,
            "seconds": seconds,
            "size": size,
            "error": None,
            "remixed_from_video_id": None,
        }
        self.owners[video_id] = key
        return json_response(self.videos[video_id])

    # -- GET /v1/videos/{id}: one step on per poll -------------------------------------------------------

    async def _retrieve(self, request: web.Request) -> web.StreamResponse:
        video = self._owned(request)
        if isinstance(video, web.Response):
            return video
        polls = self.polls[video["id"]] = self.polls.get(video["id"], 0) + 1
        self._advance(video, polls)
        return json_response(video)

    def _advance(self, video: JSONDict, polls: int) -> None:
        if video["status"] in ("completed", "failed"):
            return
        prompt = video["prompt"]
        if "[fail]" in prompt and polls >= 2:
            video.update(
                status="failed",
                error={
                    "code": "moderation_blocked",
                    "message": "Your request was blocked by our moderation system.",
                },
            )
        elif polls >= 3 and "[stuck]" not in prompt:
            now = int(time.time())
            video.update(status="completed", progress=100, completed_at=now, expires_at=now + EXPIRES_AFTER_S)
        else:
            video.update(status="in_progress", progress=min(99, 33 * polls))

    # -- GET /v1/videos ----------------------------------------------------------------------------------

    async def _list(self, request: web.Request) -> web.StreamResponse:
        key = self._key(request)
        if key is None:
            return _error(401, "Incorrect API key provided.", code="invalid_api_key")
        mine = [v for vid, v in self.videos.items() if self.owners[vid] == key]
        if request.query.get("order", "desc") == "desc":
            mine.reverse()
        after = request.query.get("after")
        if after is not None:
            ids = [v["id"] for v in mine]
            mine = mine[ids.index(after) + 1 :] if after in ids else []
        limit = int(request.query.get("limit", "20"))
        page = mine[:limit]
        return json_response(
            {
                "object": "list",
                "data": page,
                "first_id": page[0]["id"] if page else None,
                "last_id": page[-1]["id"] if page else None,
                "has_more": len(mine) > limit,
            }
        )

    # -- DELETE /v1/videos/{id} --------------------------------------------------------------------------

    async def _delete(self, request: web.Request) -> web.StreamResponse:
        video = self._owned(request)
        if isinstance(video, web.Response):
            return video
        del self.videos[video["id"]]
        return json_response({"id": video["id"], "object": "video.deleted", "deleted": True})

    # -- GET /v1/videos/{id}/content ---------------------------------------------------------------------

    async def _content(self, request: web.Request) -> web.StreamResponse:
        video = self._owned(request)
        if isinstance(video, web.Response):
            return video
        variant = request.query.get("variant", "video")
        if variant not in ASSET_TYPES:
            return _error(400, f"Invalid value: '{variant}'.", param="variant", code="invalid_value")
        if video["status"] != "completed":
            return _error(400, "Video is not ready yet; wait until its status is completed.",
                          code="video_not_ready")  # fmt: skip
        data = video_bytes(video["id"], variant)
        response = web.StreamResponse(headers={"Content-Type": ASSET_TYPES[variant]})
        response.content_length = len(data)
        await response.prepare(request)
        size = math.ceil(len(data) / CONTENT_CHUNKS)
        for i in range(0, len(data), size):
            if i:
                await asyncio.sleep(CONTENT_CHUNK_DELAY_S)
            await response.write(data[i : i + size])
        await response.write_eof()
        return response
