"""The package's layers stay layers: no module of gan_cli imports, even lazily, one that imports
it back, and no subpackage (config/, metrics/, data/, ...) depends on another that depends on it.
Read from the source (every `import` and `from ... import` inside gan_cli, and every package a
module scans with `pkgutil.iter_modules` to import its modules), not by importing."""

from __future__ import annotations

import ast
from collections import defaultdict
from pathlib import Path

import gan_cli

PACKAGE = Path(gan_cli.__file__).resolve().parent


def module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def imports() -> dict[str, set[str]]:
    """module -> the gan_cli modules it imports (a `from pkg import name` counts as pkg.name
    where that is a module, else as pkg)."""
    modules = {module_name(p): p for p in PACKAGE.rglob("*.py")}
    graph: dict[str, set[str]] = {}
    for name, path in modules.items():
        found = set()
        for node in ast.walk(ast.parse(path.read_text())):
            if isinstance(node, ast.Import):
                found |= {a.name for a in node.names}
            elif isinstance(node, ast.ImportFrom) and node.module and node.level == 0:
                subs = {f"{node.module}.{a.name}" for a in node.names} & set(modules)
                found |= subs or {node.module}
        found |= scanned(path.read_text(), modules)
        graph[name] = {m for m in found if m in modules and m != name}
    return graph


def scanned(source: str, modules: dict[str, Path]) -> set[str]:
    """The modules of every gan_cli package a module names in a string and scans with
    `pkgutil.iter_modules` (a discovery loop imports them all: a dependency no `import`
    statement shows)."""
    if "iter_modules" not in source:
        return set()
    named = {n.value for n in ast.walk(ast.parse(source))
             if isinstance(n, ast.Constant) and isinstance(n.value, str)}  # fmt: skip
    packages = named & set(modules)
    return {m for m in modules if any(m == p or m.startswith(f"{p}.") for p in packages)}


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """The strongly connected components of more than one node (Tarjan)."""
    index: dict[str, int] = {}
    low: dict[str, int] = {}
    stack: list[str] = []
    found: list[list[str]] = []

    def visit(v: str) -> None:
        index[v] = low[v] = len(index)
        stack.append(v)
        for w in graph.get(v, ()):
            if w not in index:
                visit(w)
                low[v] = min(low[v], low[w])
            elif w in stack:
                low[v] = min(low[v], index[w])
        if low[v] == index[v]:
            component = []
            while (w := stack.pop()) != v:
                component.append(w)
            if component:
                found.append(sorted([v, *component]))

    for v in graph:
        if v not in index:
            visit(v)
    return found


def test_no_module_imports_one_that_imports_it_back():
    assert cycles(imports()) == []


def test_no_subpackage_depends_on_one_that_depends_on_it():
    def unit(module: str) -> str:  # gan_cli.config.run -> gan_cli.config; gan_cli.cli itself
        return ".".join(module.split(".")[:2])

    graph: dict[str, set[str]] = defaultdict(set)
    for module, deps in imports().items():
        graph[unit(module)] |= {unit(d) for d in deps if unit(d) != unit(module)}
    assert cycles(dict(graph)) == []


def test_the_check_sees_a_package_scan():
    modules = {"gan_cli.models": Path(), "gan_cli.models.dcgan": Path(), "gan_cli.cli": Path()}
    source = 'for m in pkgutil.iter_modules(["gan_cli.models"]): import_module(m.name)'
    assert scanned(source, modules) == {"gan_cli.models", "gan_cli.models.dcgan"}
    assert scanned('PACKAGES = ("gan_cli.models",)', modules) == set()  # named, not scanned


def test_the_check_sees_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
