"""scripts/build_notebooks.py: the protocol notebooks 02-11 are well formed (#16). Executing
them at full size is the series' job (saif figures); this checks what can be checked offline
in a second: one parameters cell, code that parses, stable unique cell ids, a verdict cell
nbval checks, and the protocol's defaults (whole splits, the headline model, dev-chosen scales)."""
import ast
import importlib.util
import json

import pytest

from saif_core import paths

spec = importlib.util.spec_from_file_location("build_notebooks", paths.REPO / "scripts" / "build_notebooks.py")
B = importlib.util.module_from_spec(spec)
spec.loader.exec_module(B)


@pytest.fixture(scope="module")
def built(tmp_path_factory):
    out = tmp_path_factory.mktemp("built")
    assert B.main(["--out", str(out)]) == 0
    return {p.stem: json.loads(p.read_text(encoding="utf-8")) for p in sorted(out.glob("*.ipynb"))}


def params(nb) -> dict:
    cell = next(c for c in nb["cells"] if "parameters" in c["metadata"].get("tags", []))
    tree = ast.parse(cell["source"])
    return {n.targets[0].id: ast.unparse(n.value) for n in tree.body if isinstance(n, ast.Assign)}


def test_every_claim_bearing_notebook_is_built(built):
    assert sorted(built) == [p.stem for p in sorted(paths.NOTEBOOKS.glob("[0-9][0-9]_*.ipynb"))][2:]


def test_notebooks_are_well_formed(built):
    for name, nb in built.items():
        ids = [c["id"] for c in nb["cells"]]
        assert ids == [f"{name}-{i:02d}" for i in range(len(ids))]
        assert sum("parameters" in c["metadata"].get("tags", []) for c in nb["cells"]) == 1, name
        for c in nb["cells"]:
            if c["cell_type"] == "code":
                ast.parse(c["source"])  # a syntax error names the notebook in the traceback
        last = nb["cells"][-1]
        assert last["source"].startswith("# NBVAL_CHECK_OUTPUT") and ("save_figure" in last["source"] or "figures_root" in last["source"]), name
        assert nb["cells"][0]["cell_type"] == "markdown" and nb["cells"][0]["source"].startswith(f"# {name[:2]} ·")


def test_the_protocol_defaults(built):
    for name, nb in built.items():
        p = params(nb)
        assert p["profile"] == "'embedded'" and p["models"] == "None", name
        for key in ("n_dev", "n_eval"):
            if key in p:
                assert p[key] == "None", f"{name}: {key} must default to the whole split"
        if "scales" in p:
            assert p["scales"] == "list(P.SCALES)", name
        if "model" in p:
            assert p["model"] == "None" and "headline_model" in json.dumps(nb), name
        source = "\n".join(c["source"] for c in nb["cells"] if c["cell_type"] == "code")
        assert "alpha = " not in source  # strengths come from the dev split, never written in


def test_a_rebuild_is_identical_and_the_cli_refuses_unknown_names(built, tmp_path, capsys):
    B.main(["--out", str(tmp_path), "03_topk"])
    assert json.loads((tmp_path / "03_topk.ipynb").read_text(encoding="utf-8")) == built["03_topk"]
    with pytest.raises(SystemExit):
        B.main(["--out", str(tmp_path), "99_nope"])
    assert "unknown notebooks ['99_nope']" in capsys.readouterr().err


def test_the_staged_runner_stops_at_its_time_of_day():
    spec = importlib.util.spec_from_file_location("run_staged_series", paths.REPO / "scripts" / "run_staged_series.py")
    R = importlib.util.module_from_spec(spec)
    spec.loader.exec_module(R)
    assert R.past("00:00") is True and R.past(None) is False
