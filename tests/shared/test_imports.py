"""The shape of the code: no import cycle inside a service, no service importing another, and
`shared/` importing no service. Every import counts, at the top of a module or inside a
function, so a cycle cannot hide behind a late import."""

from __future__ import annotations

import ast
from pathlib import Path

import networkx
import pytest

ROOT = Path(__file__).resolve().parents[2]
PACKAGES = ("services", "shared")


def module_name(path: Path) -> str:
    parts = path.relative_to(ROOT).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def project_modules() -> dict[str, Path]:
    found: dict[str, Path] = {}
    for package in PACKAGES:
        for path in (ROOT / package).rglob("*.py"):
            if "migrations" in path.parts:
                continue  # Alembic loads these by path; they are not part of the import graph
            found[module_name(path)] = path
    return found


MODULES = project_modules()


def imported(name: str, path: Path) -> set[str]:
    """The project modules `name` imports (a package's module when `from pkg import mod`)."""
    tree = ast.parse(path.read_text(), str(path))
    package = name if path.name == "__init__.py" else name.rpartition(".")[0]
    targets: set[str] = set()
    for node in ast.walk(tree):
        if isinstance(node, ast.Import):
            targets.update(alias.name for alias in node.names)
        elif isinstance(node, ast.ImportFrom):
            base = node.module or ""
            if node.level:
                anchor = package.rsplit(".", node.level - 1)[0] if node.level > 1 else package
                base = f"{anchor}.{base}" if base else anchor
            targets.add(base)
            targets.update(f"{base}.{alias.name}" for alias in node.names)
    return {target for target in targets if target in MODULES and target != name}


GRAPH = {name: imported(name, path) for name, path in MODULES.items()}


def service_of(module: str) -> str | None:
    parts = module.split(".")
    return parts[1] if parts[0] == "services" and len(parts) > 1 else None


def cycles(graph: dict[str, set[str]]) -> list[list[str]]:
    """Every group of two or more modules that import each other, directly or not."""
    digraph = networkx.DiGraph(
        [(source, target) for source, targets in graph.items() for target in targets]
    )
    return sorted(
        sorted(group) for group in networkx.strongly_connected_components(digraph) if len(group) > 1
    )


def test_the_walk_finds_the_modules_and_their_imports():
    assert {"services.registration.app", "services.feedback.api", "shared.http"} <= set(MODULES)
    assert "services.registration.extensions" in GRAPH["services.registration.app"]


def test_the_cycle_finder_finds_a_cycle():
    assert cycles({"a": {"b"}, "b": {"c"}, "c": {"a"}, "d": {"a"}}) == [["a", "b", "c"]]
    assert cycles({"a": {"b"}, "b": set()}) == []


def test_no_import_cycle():
    assert cycles(GRAPH) == []


@pytest.mark.parametrize("module", sorted(m for m in MODULES if service_of(m)))
def test_a_service_imports_no_other_service(module):
    others = {t for t in GRAPH[module] if service_of(t) not in (None, service_of(module))}
    assert others == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.startswith("shared")))
def test_shared_imports_no_service(module):
    assert {t for t in GRAPH[module] if t.startswith("services")} == set()


@pytest.mark.parametrize("module", sorted(m for m in MODULES if m.endswith((".api", ".web"))))
def test_blueprints_import_neither_the_factory_nor_each_other(module):
    service = module.rsplit(".", 1)[0]
    forbidden = {f"{service}.app", f"{service}.api", f"{service}.web"} - {module}
    assert GRAPH[module] & forbidden == set()
