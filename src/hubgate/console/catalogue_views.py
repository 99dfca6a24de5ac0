"""The model pages: the public list `/ui/models` (vendors, their models and prices, with
copyable samples for curl, Python and JavaScript) and the admin's catalogue editor
`/ui/admin/catalogue` (changes go through `/admin/catalogue`, like every admin page)."""

from __future__ import annotations

import json
from dataclasses import dataclass
from typing import Any

from aiohttp import web

from hubgate.admin.routes_catalogue import entry_view
from hubgate.console.web import gateway, load_session, render, secure, signed_in
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


def samples(base: str, model: str, outputs: list[str]) -> dict[str, str]:
    """A first request for `model` (a chat completion, or an embedding for embedding models)."""
    body: dict[str, Any]
    if "embeddings" in outputs:
        path, method = "embeddings", "embeddings.create"
        body = {"model": model, "input": "Hello"}
        py_args = f'model="{model}", input="Hello"'
        js_args = f'{{ model: "{model}", input: "Hello" }}'
        py_out = "print(result.data[0].embedding[:5])"
        js_out = "console.log(result.data[0].embedding.slice(0, 5));"
    else:
        path, method = "chat/completions", "chat.completions.create"
        body = {"model": model, "messages": [{"role": "user", "content": "Hello"}]}
        py_args = f'model="{model}", messages=[{{"role": "user", "content": "Hello"}}]'
        js_args = f'{{ model: "{model}", messages: [{{ role: "user", content: "Hello" }}] }}'
        py_out = "print(result.choices[0].message.content)"
        js_out = "console.log(result.choices[0].message.content);"
    curl = (
        f"curl {base}/{path} \\\n"
        '  -H "Authorization: Bearer $HUBGATE_API_KEY" \\\n'
        '  -H "Content-Type: application/json" \\\n'
        f"  -d '{json.dumps(body)}'"
    )
    python = (
        "import os\n\nfrom openai import OpenAI\n\n"
        f'client = OpenAI(base_url="{base}", api_key=os.environ["HUBGATE_API_KEY"])\n'
        f"result = client.{method}({py_args})\n{py_out}"
    )
    javascript = (
        'import OpenAI from "openai";\n\n'
        f'const client = new OpenAI({{ baseURL: "{base}", apiKey: process.env.HUBGATE_API_KEY }});\n'
        f"const result = await client.{method}({js_args});\n{js_out}"
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
        card = ModelCard(shown, samples(base, shown["ids"][-1], shown["output_modalities"]))
        by_vendor.setdefault(item.entry.vendor, []).append(card)
    return render(request, "models.html", vendors=sorted(by_vendor.items()), base_url=base)


async def _catalogue(request: web.Request) -> web.StreamResponse:
    gw = gateway(request)
    entries = [entry_view(gw, e) for e in await CatalogueRepository(gw.engine).all()]
    served = [e for e in entries if e["channels"]]
    others = [e for e in entries if not e["channels"]]
    return render(request, "admin/catalogue.html", served=served, others=others, dumps=json.dumps)


catalogue = signed_in(_catalogue, admin=True)

PAGES = [
    ("GET", "/ui/models", models_page),
    ("GET", "/ui/admin/catalogue", catalogue),
]
