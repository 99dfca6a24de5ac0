"""What a worker imports (issue 17: each worker under 100 MB RSS): libraries used only by rare
paths are imported at their first use, not with the app. Each check runs in a fresh interpreter,
since this test process has imported everything already."""

from __future__ import annotations

import json
import subprocess
import sys
import types
from multiprocessing import spawn

import pytest

# Imported at first use only: (module, what needs it)
LAZY = (
    ("sqlalchemy.orm", "AsyncSession and the ORM (hubgate uses Core)"),
    ("cryptography", "sealing or opening stored upstream keys and flash cookies"),
    ("tiktoken", "counting tokens an upstream did not report"),
    ("sqlalchemy.dialects.postgresql", "a PostgreSQL database"),
)


def _modules_after(code: str) -> set[str]:
    out = subprocess.run(
        [sys.executable, "-c", f"{code}\nimport json, sys\nprint(json.dumps(sorted(sys.modules)))"],
        capture_output=True,
        text=True,
        check=True,
    )
    return set(json.loads(out.stdout.splitlines()[-1]))


def test_the_app_imports_no_rarely_used_library() -> None:
    loaded = _modules_after("import hubgate.server, hubgate.app")
    assert "sqlalchemy.ext.asyncio" in loaded
    assert [name for name, _ in LAZY if name in loaded] == []


def test_sqlalchemy_asyncio_is_whole_at_the_first_orm_name() -> None:
    code = (
        "import hubgate, sys\n"
        "from sqlalchemy.ext.asyncio import AsyncEngine, create_async_engine\n"
        "assert 'sqlalchemy.orm' not in sys.modules\n"
        "import sqlalchemy.ext.asyncio as m\n"
        "from sqlalchemy.ext.asyncio import AsyncSession, async_sessionmaker\n"
        "assert AsyncSession.__module__ == 'sqlalchemy.ext.asyncio.session'\n"
        "assert m.async_scoped_session and '__getattr__' not in vars(m)\n"
        "assert not hasattr(m, 'no_such_name')\n"
    )
    assert "sqlalchemy.orm" in _modules_after(code)


def test_workers_do_not_rerun_the_hubgate_script(monkeypatch: pytest.MonkeyPatch) -> None:
    """While `serve` starts its workers, multiprocessing finds no main file to re-run (the
    `hubgate` script and its whole command line); it is back right after."""
    from hubgate.server import _main_not_rerun

    script = types.ModuleType("__main__")
    script.__file__ = "/venv/bin/hubgate"
    script.__spec__ = None
    monkeypatch.setitem(sys.modules, "__main__", script)
    assert spawn.get_preparation_data("w")["init_main_from_path"] == "/venv/bin/hubgate"
    with _main_not_rerun():
        data = spawn.get_preparation_data("w")
        assert "init_main_from_path" not in data and "init_main_from_name" not in data
    assert script.__file__ == "/venv/bin/hubgate"
