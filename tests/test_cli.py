"""The `hubgate` command line, run in-process against both databases."""

from __future__ import annotations

import asyncio
import json
import uuid
from pathlib import Path

import pytest
import yaml
from typer.testing import CliRunner

from hubgate.cli import app
from hubgate.storage.db import create_engine
from hubgate.storage.usage import UsageRow, UsageWriter
from tests.conftest import free_port

runner = CliRunner()


@pytest.fixture
def config(tmp_path: Path, database_url: str) -> str:
    # A SQLite file of its own: the session's in-process gateways share the other one, and
    # a sync test pauses their event loop, possibly mid-transaction (SQLite locks the file).
    if database_url.startswith("sqlite"):
        database_url = f"sqlite+aiosqlite:///{tmp_path / 'cli.db'}"
    path = tmp_path / "hubgate.yaml"
    path.write_text(
        yaml.safe_dump(
            {
                "database_url": database_url,
                "channels": [
                    {"name": "echo", "type": "echo", "models": ["echo-1"]},
                    {
                        "name": "down",
                        "type": "openai",
                        "base_url": f"http://127.0.0.1:{free_port()}/v1",
                        "api_key": "sk-secret-upstream-key",
                        "models": ["gpt-x"],
                    },
                ],
            }
        )
    )
    return str(path)


def invoke(*args: str) -> tuple[int, str]:
    result = runner.invoke(app, list(args))
    return result.exit_code, result.output


def test_check_config_reports_every_error_with_its_path(tmp_path: Path) -> None:
    bad = tmp_path / "bad.yaml"
    bad.write_text(
        "max_body_mb: -1\n"
        "channels:\n"
        "  - {name: a, type: nosuch, models: [m]}\n"
        "  - {name: b, type: openai, models: [m], weight: -2, colour: red}\n"
    )
    code, out = invoke("check-config", str(bad))
    assert code == 1
    for fragment in (
        "max_body_mb",
        "channels[0].type",
        "channels[1].weight",
        "channels[1].colour",
        "base_url",
    ):
        assert fragment in out
    good = tmp_path / "good.yaml"
    good.write_text("channels:\n  - {name: e, type: echo, models: [m]}\n")
    code, out = invoke("check-config", str(good))
    assert code == 0 and "OK" in out


def test_keys_create_list_revoke(config: str) -> None:
    name = f"cli-{uuid.uuid4().hex[:6]}"
    code, out = invoke(
        "keys", "create", "--name", name, "--budget-usd", "2.5", "--models", "a,b", "--rpm", "60",
        "--expires", "2999-01-01T00:00:00", "--config", config, "--json",
    )  # fmt: skip
    assert code == 0, out
    created = json.loads(out)
    assert created["name"] == name and created["key"].startswith("sk-hg-")
    code, out = invoke("keys", "create", "--name", name, "--config", config)
    assert code == 1 and "already exists" in out
    code, out = invoke("keys", "list", "--config", config, "--json")
    listed = {k["name"]: k for k in json.loads(out)}
    assert created["key"] not in out  # the secret is never shown again
    assert listed[name]["budget_usd"] == "2.500000" and listed[name]["models"] == ["a", "b"]
    assert listed[name]["rpm"] == 60 and not listed[name]["revoked"]
    code, out = invoke("keys", "revoke", name, "--config", config)
    assert code == 0
    code, out = invoke("keys", "list", "--config", config, "--json")
    assert {k["name"]: k for k in json.loads(out)}[name]["revoked"]
    code, out = invoke("keys", "revoke", "nobody-here", "--config", config)
    assert code == 1
    code, out = invoke("keys", "list", "--config", config, "--json", "--limit", "1", "--offset", "0")
    assert code == 0 and len(json.loads(out)) == 1


def test_keys_create_rejects_bad_values(config: str) -> None:
    code, out = invoke("keys", "create", "--name", "x", "--budget-usd", "lots", "--config", config)
    assert code == 2 and "--budget-usd" in out
    code, out = invoke("keys", "create", "--name", "x", "--expires", "someday", "--config", config)
    assert code == 2 and "--expires" in out


def test_channels_list_and_test(config: str) -> None:
    code, out = invoke("channels", "list", "--config", config, "--json")
    assert code == 0
    assert [c["name"] for c in json.loads(out)] == ["echo", "down"]
    assert "sk-secret-upstream-key" not in out
    code, out = invoke("channels", "test", "echo", "--config", config, "--json")
    result = json.loads(out)
    assert code == 0 and result["ok"] and result["status"] == 200
    code, out = invoke("channels", "test", "down", "--config", config)
    assert code == 1 and "FAILED" in out
    assert "sk-secret-upstream-key" not in out


def test_usage_and_migrate(config: str) -> None:
    database_url = yaml.safe_load(Path(config).read_text())["database_url"]
    code, out = invoke("migrate", "--config", config)
    assert code == 0
    key = f"u-{uuid.uuid4().hex[:6]}"

    async def write() -> None:
        engine = create_engine(database_url)
        writer = UsageWriter(engine)
        for status, prompt in ((200, 10), (200, 5), (500, 0)):
            writer.record(
                UsageRow(request_id=uuid.uuid4().hex, endpoint="chat", status=status, stream=False,
                         key_name=key, model="echo-1", prompt_tokens=prompt, completion_tokens=1,
                         cost_micros=7)
            )  # fmt: skip
        await writer.flush()
        await engine.dispose()

    asyncio.run(write())
    code, out = invoke("usage", "--config", config, "--json", "--key", key, "--since", "2000-01-01")
    assert code == 0
    assert json.loads(out) == [
        {"key": key, "model": "echo-1", "requests": 3, "errors": 1, "prompt_tokens": 15,
         "completion_tokens": 3, "cached_tokens": 0, "cost_micros": 21}
    ]  # fmt: skip
    code, out = invoke("usage", "--config", config, "--key", key, "--since", "2999-01-01", "--json")
    assert json.loads(out) == []


def test_users_create_and_invite(config: str) -> None:
    email = f"cli-{uuid.uuid4().hex[:6]}@example.test"
    args = ("users", "create", "--email", email, "--role", "admin", "--password-stdin", "--config", config)
    result = runner.invoke(app, list(args), input="a-long-password-1\n")
    assert result.exit_code == 0 and f"created admin {email}" in result.output, result.output
    result = runner.invoke(app, list(args), input="a-long-password-1\n")
    assert result.exit_code == 1 and "exists" in result.output
    result = runner.invoke(app, [*args[:3], "other@example.test", *args[4:]], input="short\n")
    assert result.exit_code == 2 and "password refused" in result.output
    code, out = invoke("users", "invite", "--hours", "1", "--config", config)
    assert code == 0 and out.strip().startswith("inv-")
