"""hubgate: a self-hosted LLM API gateway."""

from __future__ import annotations

import sys
from importlib.abc import Loader, MetaPathFinder
from importlib.machinery import ModuleSpec, SourceFileLoader
from types import ModuleType
from typing import Any

__version__ = "0.1.0"


class _AsyncioExtWithoutOrm(MetaPathFinder, Loader):
    """Imports `sqlalchemy.ext.asyncio` without the ORM, which hubgate never uses.

    That package's `__init__` imports its session module, and with it all of `sqlalchemy.orm`
    (~8 MB of RSS in every worker), for `AsyncSession` and its kin. Installed on
    `sys.meta_path`, this runs that `__init__` without its session and scoping lines: the
    engine, connection and result names are there as usual, and the first use of any other
    name (`AsyncSession`, ...) runs the whole `__init__` in the same module, which then ends
    exactly as a plain import leaves it. Only the package's own source file is read (any other
    kind of install imports as usual), and only once: the finder then leaves `sys.meta_path`."""

    NAME = "sqlalchemy.ext.asyncio"
    ORM_LINES = ("from .scoping import", "from .session import")

    def __init__(self) -> None:
        self._inner: SourceFileLoader | None = None

    def find_spec(self, fullname: str, path: Any = None, target: Any = None) -> ModuleSpec | None:
        if fullname != self.NAME:
            return None
        sys.meta_path.remove(self)
        from importlib.util import find_spec

        spec = find_spec(fullname)
        if spec is None or not isinstance(spec.loader, SourceFileLoader):
            return spec
        self._inner = spec.loader
        spec.loader = self
        return spec

    def create_module(self, spec: ModuleSpec) -> ModuleType | None:
        return None  # the default module

    def exec_module(self, module: ModuleType) -> None:
        inner = self._inner
        assert inner is not None
        try:
            source = inner.get_data(inner.path).decode("utf-8")
            lean = "\n".join(ln for ln in source.splitlines() if not ln.startswith(self.ORM_LINES))
            exec(compile(lean, inner.path, "exec"), module.__dict__)  # the package's own code
        except Exception:  # a SQLAlchemy whose __init__ no longer reads so: the plain import
            inner.exec_module(module)
            return

        def full(name: str) -> Any:
            if name.startswith("__"):
                raise AttributeError(name)
            del module.__getattr__
            inner.exec_module(module)  # the whole __init__: session and scoping too
            return getattr(module, name)

        module.__getattr__ = full  # type: ignore[method-assign]


if "sqlalchemy.ext.asyncio" not in sys.modules:
    sys.meta_path.insert(0, _AsyncioExtWithoutOrm())
