"""The numbered series is found in order, and the README gallery is rewritten from the
figure summaries (computed verdicts, never hand-written ones)."""
import json

from saif_core import notebook_runner as nr


def test_series_is_numbered_and_ordered():
    names = [p.name for p in nr.numbered_notebooks()]
    assert names == sorted(names) and names[0].startswith("00_") and len(names) >= 12
    assert set(nr.GALLERY) <= {p.stem for p in nr.numbered_notebooks()}


def test_gallery_and_claims_come_from_the_summaries(tmp_path):
    figs = tmp_path / "figures"
    figs.mkdir()
    (figs / "03_topk.json").write_text(json.dumps({"holds": True, "SA": {"1": 0.0, "8": 0.4}}))
    (figs / "03_topk.png").write_bytes(b"png")
    (figs / "06_layer_sweep.json").write_text(json.dumps({"holds": False, "best_layer": 23, "last_layer": 29}))
    readme = tmp_path / "README.md"
    readme.write_text(f"# x\n\n{nr.START}\nSTALE-LINE\n{nr.END}\n\nafter\n")
    assert nr.update_readme_gallery(readme, figs)
    text = readme.read_text()
    assert "STALE-LINE" not in text and text.endswith("after\n")
    assert "| [![03_topk](figures/03_topk.png)](notebooks/03_topk.ipynb) |" in text
    assert "| several latents are needed (k > 1) | holds |" in text
    assert "| the final layer is crucial | does not hold | best layer 23 of 30 |" in text
    assert "| 08_alpha_sweep | " in text and "not run yet" in text
    assert not nr.update_readme_gallery(tmp_path / "figures" / "03_topk.json", figs)  # no markers: untouched


def test_scales_claim_gives_each_models_accuracy_and_the_width_verdict(tmp_path):
    figs = tmp_path / "figures"
    figs.mkdir()
    means = {"original": {"strict": 0.05}, "steered (post)": {"strict": 0.2}}
    (figs / "05_tasks_models.json").write_text(json.dumps({
        "holds_across_models": True, "not_measured": {}, "k_stepped_down": {"m/keyword": {"post": 8, "pre": 7}},
        "claims": {"m": {"post_above_pre": True, "means": means}}}))
    (figs / "07_sae_width.json").write_text(json.dumps({"holds": False, "verdict": "best SA 0.30 vs 0.10"}))
    row = next(r for r in nr.claims(figs) if r["claim"].startswith("scales"))
    assert row["verdict"] == "models: holds; SAE widths: does not hold"
    assert row["evidence"] == ("m: steered SA 0.20 vs original 0.05; k below 8 in 1 (model, task) cells "
                               "(fewer latents pass); widths: best SA 0.30 vs 0.10")


def test_timings_say_whether_the_results_store_was_cold(tmp_path):
    from saif_core.notebook_runner import store_state, write_timings

    results = tmp_path / "results"
    assert store_state(results) == "cold"
    (results / "vectors").mkdir(parents=True)
    assert store_state(results) == "cold", "empty folders hold no result"
    (results / "vectors" / "x.safetensors").write_bytes(b"0")
    assert store_state(results) == "warm"
    path = tmp_path / "timings.json"
    path.write_text(json.dumps({"00_a": 10.0, "01_b": 5.0}))  # the older format: bare seconds
    out = write_timings(path, {"01_b": 7.5}, "cold")
    assert out == {"00_a": {"seconds": 10.0, "store": "unknown"}, "01_b": {"seconds": 7.5, "store": "cold"}}
    assert json.loads(path.read_text()) == out


def test_figures_draw_chinese_text_without_missing_glyphs(tmp_path):
    import warnings

    import matplotlib.pyplot as plt

    from saif_core import plots

    assert plots.HAS_CJK_FONT, "make setup installs mplfonts (requirements-nodeps.txt)"
    fig = plt.figure(figsize=(3, 1))
    fig.text(0.05, 0.6, "[zh] 这座城市的夜景非常漂亮。", family=plots.MONO)
    fig.text(0.05, 0.2, "sans 漂亮")
    with warnings.catch_warnings():
        warnings.simplefilter("error")  # matplotlib warns "Glyph ... missing from font(s)"
        plots.save_figure(fig, "zh", folder=tmp_path)
    assert (tmp_path / "zh.pdf").stat().st_size > 0
    plt.close(fig)


def test_only_the_cjk_fonts_missing_bold_face_is_silenced(caplog):
    import logging

    from saif_core import plots

    log = logging.getLogger("matplotlib.font_manager")
    with caplog.at_level(logging.WARNING, logger="matplotlib.font_manager"):
        log.warning("findfont: Failed to find font weight bold for %s, now using 400.", plots.CJK_FONT)
        log.warning("findfont: Font family 'Nope' not found.")
    assert [r.getMessage() for r in caplog.records] == ["findfont: Font family 'Nope' not found."]


def test_papermill_paths_are_kept_relative_to_the_repo(tmp_path):
    import nbformat

    from saif_core import notebook_runner

    nb = nbformat.v4.new_notebook()
    nb.metadata["papermill"] = {"input_path": "/elsewhere/checkout/notebooks/03_topk.ipynb",
                                "output_path": "/elsewhere/checkout/notebooks/03_topk.ipynb", "duration": 1.0}
    path = tmp_path / "03_topk.ipynb"
    nbformat.write(nb, path)
    notebook_runner.relative_paths(path)
    meta = nbformat.read(path, as_version=4).metadata["papermill"]
    assert meta["input_path"] == meta["output_path"] == "notebooks/03_topk.ipynb" and meta["duration"] == 1.0


def test_gallery_rows_of_notebooks_without_a_claim_give_no_verdict(tmp_path):
    import json

    from saif_core import notebook_runner as nr

    figs = tmp_path / "figures"
    figs.mkdir()
    for name in ("00_train_saes", "01_overview", "03_topk"):
        (figs / f"{name}.json").write_text(json.dumps({"holds": True, "SA": {}}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{nr.START}\n{nr.END}\n")
    assert nr.update_readme_gallery(readme, figs)
    rows = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in readme.read_text().splitlines()
            if line.startswith("| ") and "|---" not in line and "figure" not in line.split("|")[1]}
    assert rows["00_train_saes"] == rows["01_overview"] == "no claim of the paper tested here"
    assert rows["03_topk"] == "holds"


def test_tested_claims_make_claims_json_and_the_readme_table(tmp_path):
    import numpy as np
    import pytest

    from saif_core import claims, verdicts

    figs = tmp_path / "figures"
    figs.mkdir()
    k = verdicts.superiority("several latents are needed (k = 8 beats k = 1 at matched norm)",
                             np.r_[np.ones(30), np.zeros(70)], np.r_[np.ones(5), np.zeros(95)], names=("k=8", "k=1"))
    close = verdicts.equivalence("steered LA close to prompting (five tasks pooled)", np.r_[np.ones(215), np.zeros(285)],
                                 np.r_[np.ones(325), np.zeros(175)])
    (figs / "03_topk.json").write_text(json.dumps({"claims": [claims.claim_row(k, "k_needed", "m1", "03_topk", task="translate_fr")]}))
    (figs / "05_tasks_models.json").write_text(json.dumps({"claims": [claims.claim_row(close, "close_to_prompting", "m1", "05_tasks_models")]}))
    (figs / "01_overview.json").write_text(json.dumps({"holds": True}))
    readme = tmp_path / "README.md"
    readme.write_text(f"intro\n{nr.START}\n{nr.END}\n")
    assert nr.update_readme_gallery(readme, figs)
    stored = json.loads((figs / "claims.json").read_text())
    assert [r["id"] for r in stored] == ["k_needed", "close_to_prompting"]
    assert stored[0]["verdict"] == "holds" and stored[1]["verdict"] == "contradicted" and stored[0]["task"] == "translate_fr"
    text = readme.read_text()
    assert "| several latents are needed (k = 8 beats k = 1 at matched norm) | m1 | **holds** | +0.25 [" in text
    assert "| steered LA close to prompting (five tasks pooled) | m1 | **contradicted** | -0.22 [" in text
    assert "no correction for multiplicity" in text
    gallery = {line.split("|")[1].strip(): line.split("|")[3].strip() for line in text.splitlines()
               if line.startswith("| 0")}  # figure rows (no PNGs here: the notebook's name)
    assert gallery["01_overview"] == "no claim of the paper tested here"
    assert gallery["03_topk"] == "several latents are needed (k = 8 beats k = 1 at matched norm): holds (m1)"
    with pytest.raises(ValueError, match="lacks"):
        claims.check_row({"id": "x", "verdict": "holds"})
    with pytest.raises(ValueError, match="is not one of"):
        claims.check_row({**stored[0], "verdict": "does not hold"})
