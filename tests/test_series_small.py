"""The whole notebook series, from an empty results store, at a small size (#17).

nbval re-executes the committed notebooks against the shipped record: it proves that the
analysis reproduces the committed figures, but generates almost nothing. This runs every
numbered notebook through papermill with parameters that shrink each cell to a few items and
tokens, on SmolLM2, with empty results and figures folders: the generation path (pairs,
latents, vectors, steering, judging, storing) works end to end. The figures it makes carry
their parameters in their names (``plots.figure_name``), in a scratch folder.
"""
from __future__ import annotations

import os

import pytest

from saif_core import paths
from saif_core.notebook_runner import numbered_notebooks

SMALL = {  # per notebook: the smallest parameters that still run every cell
    "00_train_saes": {"live_eval_docs": 4},
    "01_overview": {"n_pairs": 2},
    "02_placement": {"n_pairs": 8, "n_boot": 5},
    "03_topk": {"ks": [1, 2], "alpha": 2.0, "n_eval": 2, "max_new_tokens": 4},
    "04_french_examples": {"alpha": 2.0, "n_eval": 4, "max_new_tokens": 4, "examples_per_language": 1},
    "05_tasks_models": {"models": ["smollm2-135m-instruct"], "tasks": ["translate_fr", "keyword:lantern"],
                        "alpha": 2.0, "n_eval": 2, "n_extract": 8, "n_dev": 2, "max_new_tokens": 4},
    "06_layer_sweep": {"layers": [11, 23], "scales": [1.0], "n_eval": 2, "n_extract": 8, "max_new_tokens": 4},
    "07_sae_width": {"scales": [1.0], "n_eval": 2, "n_extract": 8, "max_new_tokens": 4},
    "08_alpha_sweep": {"alphas": [0.0, 2.0], "n_eval": 2, "max_new_tokens": 4},
    "09_semantic_proximity": {"tasks": ["translate_fr", "translate_zh"], "n_extract": 8, "top_tokens": 3},
    "10_baselines": {"scales": [0.5], "n_eval": 2, "n_dev": 2, "max_new_tokens": 4},
    "11_tables": {"tasks": ["translate_fr", "keyword:lantern"], "n_extract": 8, "top_tokens": 2},
}


def test_every_notebook_has_small_parameters():
    assert sorted(SMALL) == [p.stem for p in numbered_notebooks()]


@pytest.fixture(scope="module")
def scratch(tmp_path_factory):
    root = tmp_path_factory.mktemp("small_series")
    old = {k: os.environ.get(k) for k in ("SAIF_RESULTS", "SAIF_FIGURES", "HF_HUB_OFFLINE")}
    os.environ.update(SAIF_RESULTS=str(root / "results"), SAIF_FIGURES=str(root / "figures"), HF_HUB_OFFLINE="1")
    yield root
    for k, v in old.items():
        if v is None:
            os.environ.pop(k, None)
        else:
            os.environ[k] = v


@pytest.mark.slow
@pytest.mark.parametrize("name", sorted(SMALL))
def test_the_series_runs_from_an_empty_store_at_a_small_size(name, scratch):
    import papermill as pm

    out = scratch / "executed" / f"{name}.ipynb"
    out.parent.mkdir(exist_ok=True)
    pm.execute_notebook(str(paths.NOTEBOOKS / f"{name}.ipynb"), str(out), parameters=SMALL[name],
                        kernel_name="python3", cwd=str(paths.NOTEBOOKS), progress_bar=False)
    made = sorted(p.name for p in (scratch / "figures").glob(f"{name}--*"))
    assert made and all("--" in m for m in made), f"{name} saved no figure under its parameters' name"
    assert not (scratch / "figures" / f"{name}.png").exists(), "the canonical name is for the default parameters"
