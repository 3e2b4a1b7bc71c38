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
        assert p.get("changes") == "{}", f"{name}: the protocol's settings unchanged by default"
        if "scales" in p:
            assert p["scales"] == "None", name
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


SMALL = {  # per notebook: the smallest parameters that still run every cell (SmolLM2, a few items)
    "02_placement": {"n_pairs": 8, "n_boot": 5, "n_dev": 2},
    "03_topk": {"model": "smollm2-135m-instruct", "ks": [1, 2], "n_dev": 2, "n_eval": 2, "scales": [0.5, 1.0]},
    "04_french_examples": {"model": "smollm2-135m-instruct", "n_dev": 2, "n_eval": 4, "scales": [0.5, 1.0],
                           "examples_per_language": 1},
    "05_tasks_models": {"models": ["smollm2-135m-instruct"], "tasks": ["translate_fr", "keyword:lantern"], "n_dev": 2,
                        "n_eval": 2, "scales": [0.5, 1.0]},
    "06_layer_sweep": {"models": ["smollm2-135m-instruct"], "n_dev": 2, "n_eval": 2, "scales": [0.5, 1.0]},
    "07_sae_width": {"models": ["smollm2-135m-instruct"], "n_dev": 2, "n_eval": 2, "scales": [0.5, 1.0]},
    "08_alpha_sweep": {"model": "smollm2-135m-instruct", "sweep": [0.0, 1.0], "n_dev": 2, "scales": [0.5, 1.0]},
    "09_semantic_proximity": {"model": "smollm2-135m-instruct", "tasks": ["translate_fr", "translate_zh"], "draws": 50,
                              "top_tokens": 3},
    "10_baselines": {"model": "smollm2-135m-instruct", "n_dev": 2, "n_eval": 2, "scales": [0.5, 1.0], "resamples": 1},
    "11_tables": {"model": "smollm2-135m-instruct", "tasks": ["translate_fr", "keyword:lantern"], "top_tokens": 2},
}


for _p in SMALL.values():
    _p["changes"] = {"max_new_tokens": 4}


def test_every_built_notebook_has_small_parameters():
    assert sorted(SMALL) == sorted(B.BUILDERS)


@pytest.mark.slow
def test_the_built_series_runs_at_a_small_size(tmp_path, monkeypatch):
    """Every protocol notebook runs end to end on SmolLM2 with a few items, from an empty store."""
    import papermill as pm

    monkeypatch.setenv("SAIF_RESULTS", str(tmp_path / "results"))
    monkeypatch.setenv("SAIF_FIGURES", str(tmp_path / "figures"))
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    (tmp_path / "figures").mkdir()
    B.main(["--out", str(tmp_path / "built")])
    for name, parameters in SMALL.items():
        nb = tmp_path / "built" / f"{name}.ipynb"
        pm.execute_notebook(str(nb), str(tmp_path / f"{name}.out.ipynb"), parameters=parameters, kernel_name="python3",
                            cwd=str(paths.NOTEBOOKS), progress_bar=False)
        summaries = list((tmp_path / "figures").glob(f"{name}*.json"))
        assert summaries, f"{name} saved no summary"
