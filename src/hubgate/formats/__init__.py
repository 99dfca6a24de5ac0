"""Wire formats: pure codecs and validation, no I/O, no web framework, no database.

`hub.py` holds the canonical shapes. Each translating codec module
(`openai_chat`, `anthropic`, `gemini`, `openai_responses`) exposes the same names:

    decode_request(body: dict) -> hub.Request          caller body -> hub (400 naming a malformed field;
                                                       what the hub cannot carry is in `dropped`)
    encode_request(req, model, drops=None) -> dict     hub -> upstream body; what the upstream cannot
                                                       carry is appended to `drops` (see policy.py)
    decode_response(body: dict) -> hub.Response        upstream's JSON answer -> hub
    encode_response(resp: hub.Response, model: str) -> dict   hub -> caller's JSON answer
    class StreamDecoder                                upstream stream -> hub events
        feed(event: hub.SSEEvent) -> list[hub.StreamEvent]
        close() -> list[hub.StreamEvent]               the upstream stream ended
    class StreamEncoder                                hub events -> caller's stream bytes
        feed(event: hub.StreamEvent) -> bytes          complete SSE frames (b"" if nothing yet)
        close() -> bytes                               end of stream ([DONE], message_stop, ...)
    decode_error(status: int, body: bytes) -> str      the upstream's error message

`openai.py` keeps the checks and usage reading of the same-format passthrough path.
"""
