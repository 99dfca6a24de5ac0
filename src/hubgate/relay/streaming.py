"""Streams back to the caller: the OpenAI byte-level fast path, and the generic
path (same-format passthrough of other formats, or translation event by event)."""

from __future__ import annotations

import time
from typing import Any

import orjson
from aiohttp import web

from hubgate.formats import hub, sealed
from hubgate.formats import openai as oa
from hubgate.formats.errors import stream_error_frame
from hubgate.formats.names import StreamRename, stream_rename
from hubgate.formats.registry import StreamEncoder, WireFormat, stream_decoder
from hubgate.formats.sse import EventSplitter, parse_event
from hubgate.gateway import REQUEST_ID
from hubgate.providers.base import (
    UpstreamConnectError,
    UpstreamInvalid,
    UpstreamReadTimeout,
    UpstreamResponse,
)
from hubgate.relay.call import CLIENT_CLOSED, Attempt, Call, drop_headers, meter, public_name
from hubgate.storage.usage import UsageRow


class _EventStreamResponse(web.StreamResponse):
    """A stream whose status line and headers go out with its first bytes, in one write
    (aiohttp's StreamResponse sends them on their own at `prepare`). Every `prepare` of
    one here is followed at once by a write or by the end of the answer, so the caller
    waits for nothing; on loopback each write is a socket round of its own."""

    _send_headers_immediately = False


def _sse_response(request: web.Request, extra: dict[str, str] | None = None) -> web.StreamResponse:
    return _EventStreamResponse(
        status=200,
        headers={
            "content-type": "text/event-stream; charset=utf-8",
            "cache-control": "no-cache",
            "x-request-id": request[REQUEST_ID],
            **(extra or {}),
        },
    )


class Relayed:
    """Owns an upstream response while its answer is relayed to the caller.

    A caller hanging up (ConnectionResetError on write) marks the row 499. On the
    way out the upstream connection is kept for reuse only if `finished()` was
    called; otherwise it is dropped, so the upstream stops generating.
    """

    def __init__(self, resp: UpstreamResponse, row: UsageRow) -> None:
        self._resp = resp
        self._row = row
        self._finished = False

    def finished(self) -> None:
        self._finished = True

    async def __aenter__(self) -> Relayed:
        return self

    async def __aexit__(
        self, kind: type[BaseException] | None, exc: BaseException | None, tb: object
    ) -> bool:
        if self._finished:
            self._resp.release()
        else:
            self._resp.close()
        if kind is not None and issubclass(kind, ConnectionResetError):
            self._row.status = CLIENT_CLOSED
            self._row.error = "client closed the connection"
            return True
        return False


async def passthrough_openai(
    request: web.Request,
    call: Call,
    resp: UpstreamResponse,
    row: UsageRow,
    started: float,
    rename: StreamRename | None = None,
) -> web.StreamResponse:
    """OpenAI chat/completions to an OpenAI-format upstream: events forwarded as they
    are, usage found by a byte scan, the injected usage chunk removed, the model field
    set to the caller's name by `rename` (None: the names agree). Until usage shows up
    the forwarded events are kept, to estimate from if it never does."""
    strip_usage = not call.include_usage
    kept = call.raw_events
    out = _sse_response(request)
    splitter = EventSplitter()
    last = b""  # the upstream's last events, held to go out with the end of the answer
    async with Relayed(resp, row) as relayed:
        try:
            async for chunk in resp.iter_chunks():
                whole = splitter.feed_whole(chunk)
                if not whole:
                    continue
                batch = oa.whole_events(whole, strip_usage) if rename is None else None
                if batch is not None:  # plain data events (nearly always): checked at once
                    data, final = batch.data, batch.final
                    if batch.usage is not None:
                        meter(row, batch.usage)
                else:
                    data, final = await _event_by_event(call, out, row, whole, strip_usage, rename)
                if not data:
                    continue
                await _begin(out, request, call, row, started)
                if row.completion_tokens == 0:
                    kept.append(data)  # several events each (finish.py splits them)
                if final:  # billed and journaled before the caller sees the answer end
                    row.status = 200
                    await call.finished()
                    last = data  # goes out with the end of the answer, in one write
                    if resp.at_eof():
                        continue  # the loop ends at once
                    break  # an upstream that lingers after its last event is not waited for
                await out.write(data)
            tail = splitter.flush()
            if not out.prepared:
                await out.prepare(request)
            row.status = 200
            await call.finished()
            if tail.strip():
                last += tail
        except (UpstreamConnectError, UpstreamReadTimeout) as exc:
            if not out.prepared:
                raise  # nothing sent yet: the caller gets a plain error (or the next channel)
            frame = _broken(row, exc, WireFormat.OPENAI_CHAT)
            await call.finished()
            await out.write(frame)
        except _StopStream:
            pass
        relayed.finished()
        await call.finished()
        await out.write_eof(last)
    return out


async def _event_by_event(
    call: Call,
    out: web.StreamResponse,
    row: UsageRow,
    whole: bytes,
    strip_usage: bool,
    rename: StreamRename | None,
) -> tuple[bytes, bool]:
    """The complete events of a chunk one at a time (what `oa.whole_events` did not take):
    what goes to the caller, and whether the upstream's last event was among them."""
    outgoing: list[bytes] = []
    final = False
    for event in EventSplitter.split(whole):
        if len(event) < 24 and b"[DONE]" in event:  # `data: [DONE]`: no JSON chunk is this short
            final = True
        if not oa.plausible_event(event):
            if not out.prepared:
                raise UpstreamInvalid("event stream")  # nothing sent: another channel may try
            frame = _invalid(row, WireFormat.OPENAI_CHAT)
            await call.finished()
            await out.write(b"".join(outgoing) + frame)
            raise _StopStream
        found = oa.chunk_usage(event)
        if found is not None:
            meter(row, found.usage)
            if strip_usage and found.usage_only:
                continue
        if strip_usage:
            event = oa.drop_null_usage(event)
        if rename is not None:
            event = rename.apply(event)
        outgoing.append(event)
    return b"".join(outgoing), final


async def _begin(
    out: web.StreamResponse, request: web.Request, call: Call, row: UsageRow, started: float
) -> None:
    """Before the first bytes of the answer: the caller's status line and headers (they go
    out with those bytes), and the time to the first byte."""
    if not out.prepared:
        await out.prepare(request)
        call.reached = True
        row.ttfb_ms = int((time.perf_counter() - started) * 1000)


class _StopStream(Exception):
    """The upstream stream turned invalid after bytes reached the caller: end it here."""


def _invalid(row: UsageRow, fmt: WireFormat) -> bytes:
    row.status = 502
    row.error = "upstream sent an invalid event stream"
    return stream_error_frame(fmt, 502, "The upstream sent an invalid event stream.")


def _broken(row: UsageRow, exc: Exception, fmt: WireFormat) -> bytes:
    timed_out = isinstance(exc, UpstreamReadTimeout)
    row.status = 504 if timed_out else 502
    row.error = f"upstream stream broke: {exc}"[:500]
    message = "The upstream stream was interrupted" + (" (timeout)." if timed_out else ".")
    return stream_error_frame(fmt, row.status, message)


_CONTENT = (hub.TextDelta, hub.ThinkingDelta, hub.ToolCallStart, hub.ToolCallDelta, hub.Finish)


def _fails_first(events: list[hub.StreamEvent]) -> bool:
    """The upstream's stream errs before any answer content: safe to try elsewhere."""
    for ev in events:
        if isinstance(ev, hub.StreamError):
            return True
        if isinstance(ev, _CONTENT):
            return False
    return False


class _CompletedWatcher:
    """Finds the final Responses object in a passthrough Responses stream."""

    def __init__(self) -> None:
        self.final: dict[str, Any] | None = None

    def see(self, event: hub.SSEEvent) -> None:
        if event.event in ("response.completed", "response.incomplete") or (
            event.event is None and '"response.completed"' in event.data
        ):
            try:
                data = orjson.loads(event.data)
            except orjson.JSONDecodeError:
                return
            if isinstance(data, dict) and isinstance(data.get("response"), dict):
                self.final = data["response"]


async def relay_stream(
    request: web.Request,
    call: Call,
    attempt: Attempt,
    resp: UpstreamResponse,
    row: UsageRow,
    started: float,
    encoder: StreamEncoder | None,
) -> web.StreamResponse:
    """Any other stream: parsed event by event; forwarded as it is without an `encoder`
    (same format), re-encoded in the caller's format with one (translated). Usage comes
    from the upstream format's decoder either way."""
    return await _EventRelay(request, call, attempt, row, started, encoder).run(resp)


class _EventRelay:
    """One parsed-event stream on its way back to the caller."""

    def __init__(
        self,
        request: web.Request,
        call: Call,
        attempt: Attempt,
        row: UsageRow,
        started: float,
        encoder: StreamEncoder | None,
    ) -> None:
        self.request, self.call, self.row, self.started = request, call, row, started
        self.out = _sse_response(request, drop_headers(call))
        if not call.event_stream():
            self.out.content_type = "application/json"
        self.decoder = stream_decoder(attempt.wire)
        self.encoder = encoder
        public = public_name(call, attempt) if encoder is None else None  # translated: named by the encoder
        self.rename = stream_rename(call.fmt, public) if public is not None else None
        self.sealer = sealed.StreamSealer(attempt.wire, call.fmt)
        watch = call.fmt is WireFormat.OPENAI_RESPONSES and encoder is None
        self.watcher = _CompletedWatcher() if watch else None
        self.stored = False
        self.produced = False  # some answer content has come from the upstream

    async def emit(self, data: bytes, last: bool = False) -> None:
        """Send `data` to the caller; `last`: it ends the answer (one write for both)."""
        if not data:
            if last:
                if not self.out.prepared:
                    await self.out.prepare(self.request)
                await self.out.write_eof()
            return
        call, out = self.call, self.out
        if call.on_complete is not None and not self.stored:
            watcher = self.watcher
            final = watcher.final if watcher is not None else getattr(self.encoder, "final_response", None)
            if final is not None:
                self.stored = True
                await call.on_complete(final)  # stored before the caller sees it complete
        await _begin(out, self.request, call, self.row, self.started)
        if last:
            await out.write_eof(data)
        else:
            await out.write(data)

    def translate(self, events: list[hub.StreamEvent]) -> bytes:
        parts = []
        call, row, encoder = self.call, self.row, self.encoder
        for ev in events:
            call.delivered.add(ev)
            if isinstance(ev, hub.UsageUpdate):
                meter(row, ev.usage)
            elif isinstance(ev, hub.StreamError):
                row.status = ev.status
                row.error = ev.message[:500]
            if encoder is not None:
                parts.append(encoder.feed(self.sealer.feed(ev)))
        return b"".join(parts)

    def batch(self, raw_events: list[bytes]) -> tuple[bytes, bool]:
        """What one chunk's events become for the caller, and whether the upstream's last was among them."""
        outgoing = []
        final = False
        rename = self.rename
        for raw in raw_events:
            if rename is not None:
                raw = rename.apply(raw)
            event = parse_event(raw)
            if event is None:
                continue
            final = final or _final(event)
            if self.watcher is not None:
                self.watcher.see(event)
            decoded = self.decoder.feed(event)
            if not self.out.prepared and not self.produced and _fails_first(decoded):
                raise UpstreamInvalid("event stream")  # nothing sent: another channel may try
            self.produced = self.produced or any(isinstance(ev, _CONTENT) for ev in decoded)
            data = self.translate(decoded)
            outgoing.append(data if self.encoder is not None else raw)
        return b"".join(outgoing), final

    async def run(self, resp: UpstreamResponse) -> web.StreamResponse:
        call, row, out = self.call, self.row, self.out
        splitter = EventSplitter()
        held = b""  # the upstream's last events, held to go out with the end of the answer
        async with Relayed(resp, row) as relayed:
            try:
                async for chunk in resp.iter_chunks():
                    raw_events = splitter.feed(chunk)
                    if not raw_events:
                        continue
                    data, final = self.batch(raw_events)
                    if final:  # the upstream's last event: billed and journaled before it goes out
                        await _finishing(call, row)
                        held = data  # goes out with the end of the answer, in one write
                        if resp.at_eof():
                            continue  # the loop ends at once
                        break  # an upstream that lingers after its last event is not waited for
                    await self.emit(data)
                await self.end(held)
            except (UpstreamConnectError, UpstreamReadTimeout) as exc:
                if not out.prepared:
                    raise
                await self.broken(exc)
            relayed.finished()
            await call.finished()
            await out.write_eof()
        return out

    async def end(self, held: bytes) -> None:
        """The upstream's body ended: send what was held back and what the decoder and
        encoder still hold, with the end of the answer."""
        call, row = self.call, self.row
        tail = held + self.translate(self.decoder.close())
        if self.encoder is not None:
            tail += self.encoder.close()
        if self.out.prepared or tail:
            await _finishing(call, row)
        if row.status == 0:
            row.status = 200
        await call.finished()
        await self.emit(tail, last=True)

    async def broken(self, exc: UpstreamConnectError | UpstreamReadTimeout) -> None:
        """The upstream broke mid-stream: end the caller's stream with an error in its format."""
        call, row = self.call, self.row
        if self.encoder is not None:
            status = 504 if isinstance(exc, UpstreamReadTimeout) else 502
            frame = self.translate([hub.StreamError(status, "The upstream stream was interrupted.")])
            row.error = f"upstream stream broke: {exc}"[:500]
            await call.finished()
            await self.out.write(frame + self.encoder.close())
        else:
            frame = _broken(row, exc, call.fmt)
            await call.finished()
            await self.out.write(frame)


async def _finishing(call: Call, row: UsageRow) -> None:
    """The answer is about to end: it reached the caller, complete unless it said otherwise."""
    call.reached = True
    if row.status == 0:
        row.status = 200
    await call.finished()


_FINAL_EVENTS = ("message_stop", "response.completed", "response.incomplete", "response.failed")


def _final(event: hub.SSEEvent) -> bool:
    """The upstream's last event of a complete answer (after it, only the end of the body):
    OpenAI's [DONE], Anthropic's message_stop, a Responses stream's terminal event."""
    return event.data == "[DONE]" or event.event in _FINAL_EVENTS
