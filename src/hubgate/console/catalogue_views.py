"""The model pages: the public list `/ui/models` (vendors, their models and prices, with
copyable samples for curl, Python and JavaScript) and the admin's catalogue editor
`/ui/admin/catalogue` (changes go through `/admin/catalogue`, like every admin page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hubgate.admin.routes_catalogue import entry_view
from hubgate.admin.session import gateway, load_session, secure
from hubgate.console.web import render, signed_in
from hubgate.http.catalogue_routes import Listed, listed_models, pricing_item
from hubgate.storage.catalogue import CatalogueRepository


@dataclass(frozen=True)
class ModelCard:
    item: dict[str, Any]  # as GET /api/pricing shows it
    samples: dict[str, str]  # language -> code

    @property
    def slug(self) -> str:
        return "".join(c if c.isalnum() else "-" for c in self.item["model_name"])


def base_url(request: web.Request) -> str:
    """The gateway's OpenAI base URL as callers reach it: `public_url` when set, else this request's."""
    public = gateway(request).settings.console.public_url
    if public:
        return public.rstrip("/") + "/v1"
    return f"{'https' if secure(request) else 'http'}://{request.host}/v1"


@dataclass(frozen=True)
class _Call:
    """One kind of first request: the route, the SDK method, its arguments and what to print."""

    path: str
    method: str
    body: dict[str, str]  # besides "model"
    py_out: str
    js_out: str
    upload: bool = False  # multipart with an `audio.mp3` file


_CHAT = _Call(
    "chat/completions",
    "chat.completions.create",
    {},
    "print(result.choices[0].message.content)",
    "console.log(result.choices[0].message.content);",
)
_CALLS = {
    "embeddings": _Call("embeddings", "embeddings.create", {"input": "Hello"},
                        "print(result.data[0].embedding[:5])",
                        "console.log(result.data[0].embedding.slice(0, 5));"),
    "image": _Call("images/generations", "images.generate", {"prompt": "A lighthouse at dawn"},
                   "print(result.data[0])", "console.log(result.data[0]);"),
    "video": _Call("videos", "videos.create", {"prompt": "A lighthouse at dawn"},
                   "print(result.id, result.status)", "console.log(result.id, result.status);"),
    "speech": _Call("audio/speech", "audio.speech.create", {"voice": "alloy", "input": "Hello"},
                    'result.write_to_file("speech.mp3")',
                    'fs.writeFileSync("speech.mp3", Buffer.from(await result.arrayBuffer()));'),
    "transcription": _Call("audio/transcriptions", "audio.transcriptions.create", {}, "print(result.text)",
                           "console.log(result.text);", upload=True),
}  # fmt: skip


def _kind(inputs: list[str], outputs: list[str]) -> _Call:
    for output in ("embeddings", "image", "video"):
        if output in outputs:
            return _CALLS[output]
    if "audio" in outputs:
        return _CALLS["speech"]
    if inputs == ["audio"]:
        return _CALLS["transcription"]
    return _CHAT


def samples(base: str, model: str, inputs: list[str], outputs: list[str]) -> dict[str, str]:
    """A first request for `model` in curl, Python and JavaScript (both with the openai SDK)."""
    call = _kind(inputs, outputs)
    key = "HUBGATE_API_KEY"
    if call.upload:
        curl_body = f'  -F model="{model}" \\\n  -F file="@audio.mp3"'
        py_args = f'model="{model}", file=open("audio.mp3", "rb")'
        js_args = f'{{ model: "{model}", file: fs.createReadStream("audio.mp3") }}'
    else:
        body: dict[str, Any] = {"model": model, **call.body}
        if call is _CHAT:
            body["messages"] = [{"role": "user", "content": "Hello"}]
        curl_body = f"  -H \"Content-Type: application/json\" \\\n  -d '{json.dumps(body)}'"
        py_args = ", ".join(f"{k}={json.dumps(v)}" for k, v in body.items())
        js_args = "{ " + ", ".join(f"{k}: {json.dumps(v)}" for k, v in body.items()) + " }"
    curl = f'curl {base}/{call.path} \\\n  -H "Authorization: Bearer ${key}" \\\n{curl_body}'
    if call.path == "audio/speech":
        curl += " \\\n  --output speech.mp3"
    python = (
        "import os\n\nfrom openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base}", api_key=os.environ["{key}"])\n'
        f"result = client.{call.method}({py_args})\n{call.py_out}"
    )
    needs_fs = 'import fs from "node:fs";\n' if "fs." in js_args + call.js_out else ""
    javascript = (
        f'{needs_fs}import OpenAI from "openai";\n\n'
        f'const client = new OpenAI({{ baseURL: "{base}", apiKey: process.env.{key} }});\n'
        f"const result = await client.{call.method}({js_args});\n{call.js_out}"
    )
    return {"curl": curl, "python": python, "javascript": javascript}


async def models_page(request: web.Request) -> web.StreamResponse:
    """Public: no sign-in needed (a signed-in viewer keeps the navigation)."""
    await load_session(request)
    gw = gateway(request)
    base = base_url(request)
    by_vendor: dict[str, list[ModelCard]] = {}
    items: list[Listed] = listed_models(gw)
    for item in items:
        shown = pricing_item(gw, item)
        card = ModelCard(
            shown, samples(base, shown["ids"][-1], shown["input_modalities"], shown["output_modalities"])
        )
        by_vendor.setdefault(item.entry.vendor, []).append(card)
    return render(request, "models.html", vendors=sorted(by_vendor.items()), base_url=base)


async def _catalogue(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    entries = [entry_view(gw, e) for e in await CatalogueRepository(gw.engine).all()]
    served = [e for e in entries if e["channels"]]
    others = [e for e in entries if not e["channels"]]
    known = {e["model"] for e in entries}
    missing = [m for m, _ in gw.channels.models() if m not in known]  # served, with a guessed face
    return render(request, "admin/catalogue.html", served=served, others=others, missing=missing,
                  dumps=json.dumps)  # fmt: skip


catalogue = signed_in(_catalogue, admin=True)

PAGES = [
    ("GET", "/ui/models", models_page),
    ("GET", "/ui/admin/catalogue", catalogue),
]
