"""Rebuild the vendored BPE rank files from the npm package `js-tiktoken` (MIT).

js-tiktoken ships each encoding as `dist/ranks/<name>.js`: a JSON object whose
`bpe_ranks` string holds lines of `<prefix> <first rank> <base64 token> ...`, the
tokens taking consecutive ranks. This writes the same ranks in tiktoken's own
`.tiktoken` format (`<base64 token> <rank>` a line, ordered by rank), checks the
result against the SHA-256 that tiktoken pins for OpenAI's published file, and
compresses it with xz. Run it by hand; nothing imports it:

    npm pack js-tiktoken@1.0.21 && tar xzf js-tiktoken-1.0.21.tgz
    python convert_ranks.py package/dist/ranks/o200k_base.js o200k_base
    python convert_ranks.py package/dist/ranks/cl100k_base.js cl100k_base
"""

from __future__ import annotations

import hashlib
import json
import lzma
import sys
from pathlib import Path

# The hashes tiktoken_ext/openai_public.py pins for openaipublic's .tiktoken files.
EXPECTED_SHA256 = {
    "o200k_base": "446a9538cb6c348e3516120d7c08b09f57c36495e2acfffe59a5bf8b0cfb1a2d",
    "cl100k_base": "223921b76ee99bde995b7ff738513eef100fb51d18c93597a113bcffe865b2a7",
}


def tiktoken_text(js_source: str) -> bytes:
    """The `.tiktoken` file content encoded in a js-tiktoken ranks module."""
    body = js_source[js_source.index("{") : js_source.rindex("}") + 1]
    ranks: list[tuple[int, str]] = []
    for line in json.loads(body)["bpe_ranks"].split("\n"):
        if not line:
            continue
        _prefix, first, *tokens = line.split(" ")
        ranks.extend((int(first) + i, token) for i, token in enumerate(tokens))
    ranks.sort()
    return "".join(f"{token} {rank}\n" for rank, token in ranks).encode()


def main(source: str, name: str) -> None:
    data = tiktoken_text(Path(source).read_text(encoding="utf-8"))
    digest = hashlib.sha256(data).hexdigest()
    if digest != EXPECTED_SHA256[name]:
        raise SystemExit(f"{name}: sha256 {digest} is not tiktoken's {EXPECTED_SHA256[name]}")
    target = Path(__file__).with_name(f"{name}.tiktoken.xz")
    target.write_bytes(lzma.compress(data, preset=9 | lzma.PRESET_EXTREME))
    print(f"{target.name}: {len(data)} bytes, sha256 {digest} (matches tiktoken)")


if __name__ == "__main__":
    main(sys.argv[1], sys.argv[2])
