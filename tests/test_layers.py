"""The import structure of src/hubgate: no circles, and no layer importing one above it;
and the house's sizes: no module over 500 lines, no function over 80.

Read with `ast` from the source (every import, function-level and TYPE_CHECKING ones
included), so the test needs nothing installed and sees imports that run late. The
layers are ARCHITECTURE.md's; modules in one layer may import each other as long as
no circle forms.
"""

from __future__ import annotations

import ast
from collections.abc import Iterator
from pathlib import Path

SRC = Path(__file__).resolve().parents[1] / "src"
ROOT = "hubgate"

# Highest first: a module may import its own layer and the ones below it.
LAYERS: tuple[tuple[str, ...], ...] = (
    ("cli", "server", "__main__"),  # commands and process management
    ("app", "bootstrap"),  # wiring: routes, middleware, lifespan; first-run set-up
    ("http", "admin", "console"),  # the edge
    ("relay",),  # the hot path
    ("jobs",),  # background work, mail (the relay's video tasks share its lifecycle)
    ("gateway",),  # the running state object and the per-request keys
    ("access", "payments"),  # keys, budgets, holds and their caches; online top-up
    ("routing", "storage", "observability"),  # channel choice, health, limits; the database; metrics
    ("providers",),  # one folder per upstream kind
    ("formats", "metering"),  # pure: wire codecs, SSE framing; prices, tokens, cost
    ("settings", "errors", ROOT),  # configuration, the error tree, the package itself
)
# Within the edge, one way only: the console may use the admin API's code, not the reverse.
FORBIDDEN = {("admin", "console")}

KNOWN: set[str] = set()  # violations accepted for now: none

MAX_MODULE_LINES = 500
MAX_FUNCTION_LINES = 80  # from the `def` line to the last line of the body
# Sizes accepted anyway, each with its reason: "hubgate.module" or "hubgate.module:Class.function".
TOO_LONG_ALLOWED: dict[str, str] = {}


def _modules() -> dict[str, Path]:
    found = {}
    for path in sorted((SRC / ROOT).rglob("*.py")):
        parts = list(path.relative_to(SRC).with_suffix("").parts)
        if parts[-1] == "__init__":
            parts.pop()
        found[".".join(parts)] = path
    return found


def _typing_only(tree: ast.AST) -> set[int]:
    """The import nodes under `if TYPE_CHECKING:` (layering counts them; circles do not)."""
    inside: set[int] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.If) and "TYPE_CHECKING" in ast.unparse(node.test):
            inside.update(id(n) for stmt in node.body for n in ast.walk(stmt))
    return inside


def _imports(module: str, path: Path, known: dict[str, Path]) -> Iterator[tuple[str, str]]:
    """Every hubgate module `module` imports, anywhere in its text, with how:
    "direct", "typing" (under TYPE_CHECKING) or "parent" (a package run first)."""
    package = module if path.name == "__init__.py" else module.rpartition(".")[0]
    tree = ast.parse(path.read_text(), str(path))
    typing_only = _typing_only(tree)
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            names = [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.split(".")[: len(package.split(".")) - node.level + 1]
                base = ".".join([*anchor, base] if base else anchor)
            # `from pkg import mod` imports the module; `from mod import name` the module itself
            names = [f"{base}.{a.name}" if f"{base}.{a.name}" in known else base for a in node.names]
        else:
            continue
        how = "typing" if id(node) in typing_only else "direct"
        for name in names:
            while name and name not in known:  # `import a.b.c` where c is a name: the module a.b
                name = name.rpartition(".")[0]
            if not name or name == module:
                continue
            yield name, how
            # importing a.b.c runs the packages a.b first (unless they are the importer's own)
            parent = name.rpartition(".")[0]
            while how == "direct" and parent and parent != ROOT and not module.startswith(parent + "."):
                yield parent, "parent"
                parent = parent.rpartition(".")[0]


def _graph(kinds: tuple[str, ...]) -> dict[str, set[str]]:
    known = _modules()
    return {
        module: {target for target, how in _imports(module, path, known) if how in kinds}
        for module, path in known.items()
    }


def _area(module: str) -> str:
    parts = module.split(".")
    return parts[1] if len(parts) > 1 else ROOT


def _rank(area: str) -> int:
    for rank, names in enumerate(reversed(LAYERS)):
        if area in names:
            return rank
    raise AssertionError(f"hubgate.{area} is in no layer: add it to LAYERS (and ARCHITECTURE.md)")


def _circles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Strongly connected components of more than one module (Tarjan), each as one cycle."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    on_stack: set[str] = set()
    found: list[list[str]] = []

    def visit(node: str) -> None:
        index[node] = low[node] = len(index)
        stack.append(node)
        on_stack.add(node)
        for nxt in sorted(graph.get(node, ())):
            if nxt not in index:
                visit(nxt)
                low[node] = min(low[node], low[nxt])
            elif nxt in on_stack:
                low[node] = min(low[node], index[nxt])
        if low[node] == index[node]:
            component = []
            while True:
                top = stack.pop()
                on_stack.discard(top)
                component.append(top)
                if top == node:
                    break
            if len(component) > 1:
                found.append(sorted(component))

    for node in sorted(graph):
        if node not in index:
            visit(node)
    return found


def _cycle_in(component: list[str], graph: dict[str, set[str]]) -> list[str]:
    """One concrete cycle through the component's first module, for the message."""
    members = set(component)
    start = component[0]
    path = [start]
    seen = {start}
    while True:
        options = sorted(graph[path[-1]] & members)
        if start in options and len(path) > 1:
            return [*path, start]
        nxt = next((o for o in options if o not in seen), None)
        if nxt is None:  # fall back to naming the whole component
            return [*component, start]
        path.append(nxt)
        seen.add(nxt)


def violations() -> set[str]:
    found = set()
    for module, targets in _graph(("direct", "typing")).items():
        here = _area(module)
        for target in targets:
            there = _area(target)
            if (here, there) in FORBIDDEN:
                found.add(f"{module} imports {target}: {here} must not import {there}")
            elif _rank(there) > _rank(here):
                found.add(f"{module} ({here}) imports {target} ({there}), a higher layer")
    runtime = _graph(("direct", "parent"))
    for component in _circles(runtime):
        found.add("import circle: " + " -> ".join(_cycle_in(component, runtime)))
    return found


def test_no_circles_and_no_upward_imports() -> None:
    new = sorted(violations() - KNOWN)
    assert not new, "import structure broken (see ARCHITECTURE.md):\n  " + "\n  ".join(new)


def test_the_checker_sees_what_it_must(tmp_path: Path) -> None:
    """A circle through a function-level import and an upward import are both caught."""
    graph = {
        "hubgate.a": {"hubgate.b"},
        "hubgate.b": {"hubgate.c"},
        "hubgate.c": {"hubgate.a"},
        "hubgate.d": set(),
    }
    assert _circles(graph) == [["hubgate.a", "hubgate.b", "hubgate.c"]]
    assert _cycle_in(["hubgate.a", "hubgate.b", "hubgate.c"], graph) == [
        "hubgate.a",
        "hubgate.b",
        "hubgate.c",
        "hubgate.a",
    ]
    assert _rank("relay") > _rank("access") > _rank("storage") > _rank("formats")
    source = SRC / ROOT / "relay" / "call.py"
    late = (
        "def f():\n    from hubgate.relay.dispatch import relay\nif TYPE_CHECKING:\n    import hubgate.app\n"
    )
    assert "hubgate.relay.dispatch" not in {t for t, _ in _imports("hubgate.relay.call", source, _modules())}
    probe = tmp_path / "probe.py"
    probe.write_text(late)
    seen = set(_imports("hubgate.relay.call", probe, _modules()))
    assert ("hubgate.relay.dispatch", "direct") in seen and ("hubgate.relay", "parent") not in seen
    assert ("hubgate.app", "typing") in seen


def _too_long(module: str, path: Path) -> Iterator[str]:
    """The module itself if over MAX_MODULE_LINES, and each function over MAX_FUNCTION_LINES."""
    text = path.read_text()
    lines = len(text.splitlines())
    if lines > MAX_MODULE_LINES:
        yield f"{module} ({lines} lines)"

    def visit(node: ast.AST, prefix: str) -> Iterator[str]:
        for child in ast.iter_child_nodes(node):
            if isinstance(child, ast.ClassDef):
                yield from visit(child, f"{prefix}{child.name}.")
            elif isinstance(child, ast.FunctionDef | ast.AsyncFunctionDef):
                length = (child.end_lineno or child.lineno) - child.lineno + 1
                if length > MAX_FUNCTION_LINES:
                    yield f"{module}:{prefix}{child.name} ({length} lines)"
                yield from visit(child, f"{prefix}{child.name}.")

    yield from visit(ast.parse(text, str(path)), "")


def test_no_module_over_500_lines_and_no_function_over_80() -> None:
    everything = [problem for module, path in _modules().items() for problem in _too_long(module, path)]
    found = [problem for problem in everything if problem.partition(" (")[0] not in TOO_LONG_ALLOWED]
    assert not found, (
        f"over {MAX_MODULE_LINES} lines per module or {MAX_FUNCTION_LINES} per function "
        "(split it by concern; TOO_LONG_ALLOWED only with a reason):\n  " + "\n  ".join(found)
    )
    stale = set(TOO_LONG_ALLOWED) - {problem.partition(" (")[0] for problem in everything}
    assert not stale, f"allowed but no longer too long (remove them): {sorted(stale)}"


def test_settings_imports_nothing_else_from_hubgate() -> None:
    """The configuration knows providers only through its ChannelKinds protocol."""
    known = _modules()
    outside = {
        f"{module} imports {target}"
        for module, path in known.items()
        if module == f"{ROOT}.settings" or module.startswith(f"{ROOT}.settings.")
        for target, _ in _imports(module, path, known)
        if target != f"{ROOT}.settings" and not target.startswith(f"{ROOT}.settings.")
    }
    assert not outside, sorted(outside)


def test_the_size_check_sees_long_functions_and_modules(tmp_path: Path) -> None:
    probe = tmp_path / "probe.py"
    body = "".join(f"        x{i} = {i}\n" for i in range(MAX_FUNCTION_LINES))
    short = body.partition("\n")[2]  # with its `def`: exactly the limit
    probe.write_text(f"class C:\n    def f(self):\n{body}\n    def g(self):\n{short}")
    assert list(_too_long("hubgate.probe", probe)) == [f"hubgate.probe:C.f ({MAX_FUNCTION_LINES + 1} lines)"]
    probe.write_text("x = 1\n" * (MAX_MODULE_LINES + 1))
    assert list(_too_long("hubgate.probe", probe)) == [f"hubgate.probe ({MAX_MODULE_LINES + 1} lines)"]
