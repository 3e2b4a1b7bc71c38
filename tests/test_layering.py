"""saif_core's imports run one way (saif_core/README.md): a module may import modules of its
own rank or lower, never higher, and no import cycle exists. Function-local imports count."""
import ast
from pathlib import Path

import pytest

PACKAGE = Path(__file__).resolve().parent.parent / "saif_core"

RANK = {
    "paths": 0, "atomic": 0,
    "contents": 0.5,
    "data": 1,
    "assets": 2, "corpus": 2, "tl_configs": 2,
    "models": 3,
    "saes": 4, "sae_metrics": 4.2,
    # side branch: the SAE training pipeline, beside the steering pipeline (never imports it)
    "sae_training": 4.5, "sae_shipping": 4.5, "train_saes": 4.6,
    "features": 5,
    "steering": 6,
    "text": 7, "langid": 7, "details": 7, "synonyms": 7.2,
    "rubric": 7.5, "stats": 7.6, "verdicts": 7.7,
    "evaluate": 8,
    "llm_judge": 9, "quality": 9,
    "config": 10, "store": 10, "record": 10, "unsteered": 10.5,
    "experiments": 11,
    "plots": 12, "tables": 12, "verify": 12, "protocol": 12, "proximity": 12, "claims": 12, "evidence": 12.5,
    "studies": 13,
    # entry points: import anything, imported by no library module
    "doctor": 20, "bench": 20, "notebook_runner": 20, "cli": 21, "__init__": 22, "__main__": 22,
}


def imports_of(path: Path) -> set[str]:
    """saif_core modules imported by a file, anywhere in it."""
    found = set()
    for node in ast.walk(ast.parse(path.read_text(encoding="utf-8"))):
        if isinstance(node, ast.ImportFrom):
            if node.level == 1 and node.module:  # from .x import y
                found.add(node.module.split(".")[0])
            elif node.level == 1:  # from . import x, y
                found.update(a.name for a in node.names)
            elif node.level == 0 and node.module and node.module.startswith("saif_core"):
                parts = node.module.split(".")
                found.update([parts[1]] if len(parts) > 1 else [a.name for a in node.names])
        elif isinstance(node, ast.Import):
            found.update(a.name.split(".")[1] for a in node.names if a.name.startswith("saif_core."))
    return found


def graph(package: Path = PACKAGE) -> dict[str, set[str]]:
    return {p.stem: imports_of(p) - {p.stem} for p in sorted(package.glob("*.py"))}


def problems(g: dict[str, set[str]]) -> list[str]:
    out = [f"{m} has no rank in tests/test_layering.py RANK: place it in the import order" for m in g if m not in RANK]
    for m, deps in g.items():
        for d in sorted(deps):
            if m in RANK and d in RANK and RANK[d] > RANK[m]:
                out.append(f"upward import: {m} (rank {RANK[m]}) imports {d} (rank {RANK[d]})")
    state: dict[str, int] = {}

    def visit(m, trail):
        state[m] = 1
        for d in sorted(g.get(m, ())):
            if state.get(d) == 1:
                out.append("import cycle: " + " -> ".join(trail[trail.index(d):] + [d]) if d in trail else d)
            elif d in g and not state.get(d):
                visit(d, trail + [d])
        state[m] = 2

    for m in g:
        if not state.get(m):
            visit(m, [m])
    return out


def test_package_imports_run_one_way():
    assert problems(graph()) == []


def test_an_upward_import_or_a_cycle_is_caught(tmp_path):
    (tmp_path / "data.py").write_text("from .experiments import run\n")
    (tmp_path / "experiments.py").write_text("def f():\n    from . import data\n")
    found = problems(graph(tmp_path))
    assert any("upward import: data" in p for p in found)
    assert any("import cycle" in p for p in found)


def test_an_unranked_module_is_reported(tmp_path):
    (tmp_path / "newthing.py").write_text("import os\n")
    assert problems(graph(tmp_path)) == ["newthing has no rank in tests/test_layering.py RANK: place it in the import order"]


@pytest.mark.parametrize("path", sorted(PACKAGE.glob("*.py")), ids=lambda p: p.name)
def test_no_module_needs_scrolling(path):
    assert len(path.read_text(encoding="utf-8").splitlines()) <= 400, f"{path.name}: split it along its seams"
