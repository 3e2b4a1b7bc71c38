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
