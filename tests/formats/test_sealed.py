"""The envelope for reasoning state crossing formats (`formats/sealed.py`), and the codecs
carrying it through each caller format's opaque slot and back."""

from __future__ import annotations

import base64
import secrets

from hypothesis import given
from hypothesis import strategies as st

from hubgate.formats import anthropic, gemini, hub, openai_responses
from hubgate.formats.sealed import Sealed, StreamSealer, restore, seal, seal_response, unseal

ANTHROPIC, GEMINI, RESPONSES, CHAT = "anthropic", "gemini", "openai_responses", "openai_chat"
GEMINI_SIG = base64.b64encode(b"\xfb\xef\xbe" + b"gemini-signature").decode()  # starts with "++++"
OPENAI_ENC = "gAAAAAB" + "ab-_cd" * 10  # URL-safe alphabet, not valid base64 of any length


def _req(*parts: hub.Part) -> hub.Request:
    return hub.Request(
        model="m",
        messages=(
            hub.Message("user", (hub.TextPart("hi"),)),
            hub.Message("assistant", parts),
            hub.Message("tool", (hub.ToolResultPart("call_1", (hub.TextPart("ok"),), name="f"),)),
        ),
    )


# ------------------------------------------------------------------------ the envelope


@given(
    st.sampled_from([ANTHROPIC, GEMINI, RESPONSES, CHAT]),
    st.text(),
    st.none() | st.text(),
    st.none() | st.text(min_size=1),
)
def test_seal_round_trips_in_either_base64_alphabet(
    origin: str, sig: str, text: str | None, call: str | None
) -> None:
    value = Sealed(origin, sig, text, call)
    sealed = seal(value)
    base64.b64decode(sealed, validate=True)  # a valid Gemini bytes field
    assert unseal(sealed) == value
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(sealed)).decode()  # what the Python SDK sends back
    assert unseal(urlsafe) == value
    assert unseal(urlsafe.rstrip("=")) == value


def test_values_without_the_mark_are_not_envelopes() -> None:
    for value in (GEMINI_SIG, OPENAI_ENC, "", "skip_thought_signature_validator", "EqQBCkYIBxgCKkD"):
        assert unseal(value) is None
    damaged = seal(Sealed(GEMINI, "x"))[:-6] + "!!!!!!"
    assert unseal(damaged) is None


# --------------------------------------------------------------------- sealing answers


def test_seal_response_seals_thinking_and_call_signatures_but_not_for_the_same_format() -> None:
    resp = hub.Response(
        "r",
        "m",
        (hub.ThinkingPart("because", "SIG"), hub.ToolCallPart("call_1", "f", "{}", signature=GEMINI_SIG)),
    )
    assert seal_response(resp, GEMINI, GEMINI) is resp
    thinking, call = seal_response(resp, ANTHROPIC, GEMINI).parts
    assert isinstance(thinking, hub.ThinkingPart) and isinstance(call, hub.ToolCallPart)
    assert thinking.text == "because"
    assert unseal(thinking.signature or "") == Sealed(ANTHROPIC, "SIG", "because")  # the text it covers
    assert unseal(call.signature or "") == Sealed(ANTHROPIC, GEMINI_SIG, call_id="call_1")
    thinking, _ = seal_response(resp, GEMINI, RESPONSES).parts
    assert isinstance(thinking, hub.ThinkingPart)
    assert unseal(thinking.signature or "") == Sealed(GEMINI, "SIG")  # Gemini's does not cover text


def test_stream_sealer_keeps_the_text_its_signature_covers() -> None:
    sealer = StreamSealer(ANTHROPIC, GEMINI)
    events = [
        hub.ThinkingDelta("Let me "),
        hub.ThinkingDelta("think."),
        hub.ThinkingDelta(signature="SIG1"),
        hub.ThinkingDelta("More."),
        hub.ThinkingDelta(signature="SIG2"),
        hub.ToolCallStart(0, "toolu_1", "f", signature="CALLSIG"),
        hub.TextDelta("x"),
    ]
    out = [sealer.feed(e) for e in events]
    assert out[0:2] == events[0:2] and out[3] == events[3] and out[6] == events[6]
    assert isinstance(out[2], hub.ThinkingDelta) and isinstance(out[4], hub.ThinkingDelta)
    assert unseal(out[2].signature or "") == Sealed(ANTHROPIC, "SIG1", "Let me think.")
    assert unseal(out[4].signature or "") == Sealed(ANTHROPIC, "SIG2", "More.")
    assert isinstance(out[5], hub.ToolCallStart)
    assert unseal(out[5].signature or "") == Sealed(ANTHROPIC, "CALLSIG", call_id="toolu_1")
    same = StreamSealer(GEMINI, GEMINI)
    assert [same.feed(e) for e in events] == events


# ------------------------------------------------------------------- restoring requests


def test_restore_gives_an_anthropic_upstream_its_thinking_block_back() -> None:
    """Gemini CLI keeps only the thoughtSignature: the text comes out of the envelope."""
    sig = seal(Sealed(ANTHROPIC, "SIG", "I should list files."))
    req = restore(_req(hub.ThinkingPart("", sig), hub.ToolCallPart("call_1", "f", "{}")), ANTHROPIC)
    assert req.messages[1].parts == (
        hub.ThinkingPart("I should list files.", "SIG"),
        hub.ToolCallPart("call_1", "f", "{}"),
    )
    assert req.dropped == ()
    # riding on the functionCall part instead, it becomes the thinking block before the call
    req = restore(_req(hub.ToolCallPart("call_1", "f", "{}", signature=sig)), ANTHROPIC)
    assert req.messages[1].parts == (
        hub.ThinkingPart("I should list files.", "SIG"),
        hub.ToolCallPart("call_1", "f", "{}"),
    )


def test_restore_puts_a_gemini_call_signature_back_on_its_call() -> None:
    """Codex returns the reasoning item and a function_call without extra_content."""
    thought = seal(Sealed(GEMINI, "THOUGHT"))
    call_sig = seal(Sealed(GEMINI, GEMINI_SIG, call_id="call_1"))
    parts = (
        hub.ThinkingPart("summary", thought),
        hub.ThinkingPart("", call_sig),
        hub.ToolCallPart("call_1", "f", "{}"),
    )
    req = restore(_req(*parts), GEMINI)
    assert req.messages[1].parts == (
        hub.ThinkingPart("summary", "THOUGHT"),
        hub.ToolCallPart("call_1", "f", "{}", signature=GEMINI_SIG),
    )
    body = gemini.encode_request(req, "g")
    call_part = body["contents"][1]["parts"][-1]
    assert call_part["functionCall"]["name"] == "f" and call_part["thoughtSignature"] == GEMINI_SIG
    # the same envelope on the call itself (chat's extra_content, Anthropic callers) works too
    req = restore(
        _req(hub.ThinkingPart("", call_sig), hub.ToolCallPart("call_1", "f", "{}", signature=call_sig)),
        GEMINI,
    )
    assert req.messages[1].parts == (hub.ToolCallPart("call_1", "f", "{}", signature=GEMINI_SIG),)


def test_restore_gives_back_responses_encrypted_content_byte_for_byte() -> None:
    sealed = seal(Sealed(RESPONSES, OPENAI_ENC))
    urlsafe = base64.urlsafe_b64encode(base64.b64decode(sealed)).decode()
    decoded = gemini.decode_request(
        {
            "model": "m",
            "contents": [
                {"role": "user", "parts": [{"text": "hi"}]},
                {
                    "role": "model",
                    "parts": [{"thoughtSignature": urlsafe}, {"functionCall": {"name": "f", "args": {}}}],
                },
                {
                    "role": "user",
                    "parts": [{"functionResponse": {"name": "f", "response": {"result": "ok"}}}],
                },
            ],
        }
    )
    req = restore(decoded, RESPONSES)
    items = openai_responses.encode_request(req, "up")["input"]
    reasoning = next(i for i in items if i.get("type") == "reasoning")
    assert reasoning["encrypted_content"] == OPENAI_ENC


def test_restore_drops_and_names_another_upstreams_state() -> None:
    anthropic_sig = seal(Sealed(ANTHROPIC, "SIG", "thought text"))
    gemini_call = seal(Sealed(GEMINI, GEMINI_SIG, call_id="call_1"))
    parts = (
        hub.ThinkingPart("thought text", anthropic_sig),
        hub.ToolCallPart("call_1", "f", "{}", signature=gemini_call),
    )
    req = restore(_req(*parts), RESPONSES)
    assert req.messages[1].parts == (hub.ThinkingPart("thought text"), hub.ToolCallPart("call_1", "f", "{}"))
    assert req.dropped == (
        hub.Drop("messages[1].parts[0]", "reasoning", "content"),
        hub.Drop("messages[1].parts[1]", "reasoning", "content"),
    )
    # an Anthropic upstream then turns thinking off rather than be refused
    body = anthropic.encode_request(
        restore(_req(hub.ThinkingPart("", gemini_call), parts[1]), ANTHROPIC), "c"
    )
    assert body["messages"][1]["content"] == [{"type": "tool_use", "id": "call_1", "name": "f", "input": {}}]


def test_restore_leaves_values_without_the_mark_alone() -> None:
    req = _req(hub.ThinkingPart("t", "RAW"), hub.ToolCallPart("call_1", "f", "{}", signature=GEMINI_SIG))
    assert restore(req, ANTHROPIC) is req
    assert restore(req, GEMINI) is req


# ------------------------------------------------------------- through the caller codecs


def _round_trip_gemini_caller(origin: str, resp: hub.Response) -> hub.Request:
    """An answer from `origin` to a Gemini caller that, like Gemini CLI, sends back the
    model turn without its thought parts (keeping other parts' signatures)."""
    answer = gemini.encode_response(seal_response(resp, origin, "gemini"), "m")
    parts = [p for p in answer["candidates"][0]["content"]["parts"] if not p.get("thought")]
    body = {
        "model": "m",
        "contents": [
            {"role": "user", "parts": [{"text": "hi"}]},
            {"role": "model", "parts": parts},
            {"role": "user", "parts": [{"functionResponse": {"name": "f", "response": {"result": "ok"}}}]},
        ],
    }
    return restore(gemini.decode_request(body), origin)


def test_anthropic_thinking_survives_a_gemini_caller_that_drops_thought_parts() -> None:
    resp = hub.Response(
        "r",
        "m",
        (hub.ThinkingPart("Think.", "SIG"), hub.ToolCallPart("toolu_1", "f", "{}")),
        hub.FinishReason.TOOL_CALLS,
    )
    req = _round_trip_gemini_caller(ANTHROPIC, resp)
    blocks = anthropic.encode_request(req, "c")["messages"][1]["content"]
    assert blocks[0] == {"type": "thinking", "thinking": "Think.", "signature": "SIG"}
    assert blocks[1]["type"] == "tool_use"


def test_gemini_call_signature_survives_a_responses_caller_that_drops_extra_content() -> None:
    resp = hub.Response(
        "r",
        "m",
        (hub.ThinkingPart("Think.", "THOUGHT"), hub.ToolCallPart("call_1", "f", "{}", signature=GEMINI_SIG)),
        hub.FinishReason.TOOL_CALLS,
    )
    output = openai_responses.encode_response(seal_response(resp, GEMINI, RESPONSES), "m")["output"]
    kept = [{k: v for k, v in item.items() if k not in ("extra_content", "id", "status")} for item in output]
    body = {"model": "m", "input": [{"role": "user", "content": "hi"}, *kept]}
    body["input"].append({"type": "function_call_output", "call_id": "call_1", "output": "ok"})
    req = restore(openai_responses.decode_request(body), GEMINI)
    contents = gemini.encode_request(req, "g")["contents"]
    calls = [p for p in contents[1]["parts"] if "functionCall" in p]
    assert calls[0]["thoughtSignature"] == GEMINI_SIG


def test_sealed_values_are_fresh_per_signature() -> None:
    a, b = secrets.token_hex(8), secrets.token_hex(8)
    assert seal(Sealed(GEMINI, a)) != seal(Sealed(GEMINI, b))
