"""The package's imports point one way (see DESIGN.md): cli -> trainer -> (callbacks, inference)
-> engine -> (models, losses, data, distributed) -> config -> (registry, errors, metrics,
fidelity); the package root re-exports the public API on top of all."""

from __future__ import annotations

import ast
import re
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parents[1] / "src" / "ganlab"

LAYERS: dict[str, int] = {
    "ganlab": 7,  # the package root: the version and the public API (SuperResolver)
    "ganlab._version": 0,
    "ganlab._lightning": 0,
    "ganlab.errors": 0,
    "ganlab.files": 0,
    "ganlab.redact": 0,
    "ganlab.registry": 0,
    "ganlab.metrics": 0,
    "ganlab.fidelity": 0,
    "ganlab.devices": 0,
    "ganlab.config": 1,
    "ganlab.models": 2,
    "ganlab.losses": 2,
    "ganlab.data": 2,
    "ganlab.distributed": 2,
    "ganlab.export": 2,
    "ganlab.engine": 3,
    "ganlab.callbacks": 4,
    "ganlab.loggers": 4,
    "ganlab.inference": 4,
    "ganlab.trainer": 5,
    "ganlab.report": 5,
    "ganlab.cli": 6,
}
"""Layer of each top-level part; a module may import only its own layer or lower ones."""


def _module_name(path: Path) -> str:
    parts = path.relative_to(PACKAGE.parent).with_suffix("").parts
    return ".".join(parts[:-1] if parts[-1] == "__init__" else parts)


def _part(module: str) -> str:
    """The entry of :data:`LAYERS` a module belongs to (the longest matching prefix)."""
    candidates = [name for name in LAYERS if module == name or module.startswith(name + ".")]
    if not candidates:
        raise AssertionError(f"{module} is in no layer; add its package to LAYERS")
    return max(candidates, key=len)


def _imports(path: Path) -> set[str]:
    """Every ``ganlab`` module ``path`` imports, at module level or inside functions."""
    found: set[str] = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.Import):
            found.update(alias.name for alias in node.names if alias.name.startswith("ganlab"))
        elif isinstance(node, ast.ImportFrom) and (node.module or "").startswith("ganlab"):
            found.add(str(node.module))
    return found


MODULES = {_module_name(path): path for path in sorted(PACKAGE.rglob("*.py"))}


@pytest.mark.parametrize("module", sorted(MODULES))
def test_module_imports_only_its_layer_or_lower(module: str) -> None:
    own = _part(module)
    higher = sorted(
        f"{imported} (layer {LAYERS[_part(imported)]})"
        for imported in _imports(MODULES[module])
        if LAYERS[_part(imported)] > LAYERS[own]
    )
    assert not higher, f"{module} (layer {LAYERS[own]}) imports a higher layer: {higher}"


def test_parts_import_each_other_without_cycles() -> None:
    graph: dict[str, set[str]] = {part: set() for part in LAYERS}
    for module, path in MODULES.items():
        own = _part(module)
        graph[own].update(_part(i) for i in _imports(path) if _part(i) != own)
    visiting: list[str] = []
    done: set[str] = set()

    def visit(part: str) -> None:
        if part in done:
            return
        if part in visiting:
            cycle = [*visiting[visiting.index(part) :], part]
            raise AssertionError(f"import cycle: {' -> '.join(cycle)}")
        visiting.append(part)
        for neighbour in sorted(graph[part]):
            visit(neighbour)
        visiting.pop()
        done.add(part)

    for part in sorted(graph):
        visit(part)


LIGHTNING_IMPORT = re.compile(
    r"^\s*(from|import)\s+(lightning|pytorch_lightning|lightning_fabric)\b", re.M
)


def test_only_the_compatibility_module_imports_lightning() -> None:
    # every module of the package and every test reaches Lightning through ganlab._lightning
    sources = {module: path for module, path in MODULES.items() if module != "ganlab._lightning"}
    sources.update({str(path): path for path in Path(__file__).parent.rglob("*.py")})
    importing = [
        name for name, path in sources.items() if LIGHTNING_IMPORT.search(path.read_text())
    ]
    assert importing == []
    compat = MODULES["ganlab._lightning"].read_text(encoding="utf-8")
    assert LIGHTNING_IMPORT.search(compat) is not None
