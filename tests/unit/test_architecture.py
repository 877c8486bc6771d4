"""The tree shows the architecture: layered packages whose imports only point down."""

from __future__ import annotations

import ast
from pathlib import Path

from ingestion.contract.settings import ROOT

PACKAGE = ROOT / "ingestion"
# Layer of each part of `ingestion`; a module may import its own package and lower layers only.
LAYERS = {"model": 0, "contract": 1, "source": 2, "planning": 2, "warehouse": 2, "rows": 3, "run": 4,
          "ops": 5, "__main__": 6}
# Outside `ingestion`: the lowest layer that may use them.
OUTSIDE = {"utils": 2, "local": 5}


def part_of(module: str) -> str | None:
    """`ingestion.source.fetch` → `source`; modules outside the product → their top package."""
    parts = module.split(".")
    if parts[0] != "ingestion":
        return parts[0] if parts[0] in OUTSIDE else None
    return parts[1] if len(parts) > 1 else "ingestion"


def imports_of(path: Path) -> list[str]:
    """Every module an import statement in `path` names, lazy and TYPE_CHECKING ones included."""
    found = []
    for node in ast.walk(ast.parse(path.read_text())):
        if isinstance(node, ast.Import):
            found += [alias.name for alias in node.names]
        elif isinstance(node, ast.ImportFrom) and node.module:
            found.append(node.module)
            if node.module == "ingestion":
                found += [f"ingestion.{alias.name}" for alias in node.names]
    return found


def test_every_module_lives_in_a_layered_package():
    loose = [p.name for p in PACKAGE.glob("*.py") if p.stem not in ("__init__", "__main__", "model")]
    assert loose == [], "put modules into the package of their responsibility"
    packages = {p.name for p in PACKAGE.iterdir() if (p / "__init__.py").exists()}
    assert packages == set(LAYERS) - {"model", "__main__"}
    for package in packages:
        assert ast.get_docstring(ast.parse((PACKAGE / package / "__init__.py").read_text())), package


def test_imports_only_point_down_the_layers():
    upward = []
    for path in sorted(PACKAGE.rglob("*.py")):
        relative = path.relative_to(PACKAGE)
        mine = relative.parts[0].removesuffix(".py")
        if mine == "__init__":
            continue
        for module in imports_of(path):
            theirs = part_of(module)
            if theirs is None or theirs == mine:
                continue
            allowed = (LAYERS[mine] >= OUTSIDE[theirs] if theirs in OUTSIDE
                       else LAYERS.get(theirs, 99) < LAYERS[mine])
            if not allowed:
                upward.append(f"ingestion/{relative} imports {module}")
    assert upward == []


def test_planning_and_extraction_share_only_the_model():
    """Planning sees slices, windows and jobs as plain values; it never reaches into the API side."""
    for path in (PACKAGE / "planning").glob("*.py"):
        assert not [m for m in imports_of(path) if part_of(m) in ("source", "rows", "warehouse")], path
