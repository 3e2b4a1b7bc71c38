import json

import matplotlib.pyplot as plt

from saif_core.plots import save_figure


def test_save_figure_writes_png_pdf_and_summary(tmp_path):
    fig, ax = plt.subplots()
    ax.plot([1, 2, 4], [0.1, 0.3, 0.2])
    png = save_figure(fig, "03_k_sweep", {"claim": "several latents needed", "holds": True, "sa": [0.1, 0.3]}, tmp_path)
    assert png.read_bytes()[:8] == b"\x89PNG\r\n\x1a\n"
    assert (tmp_path / "03_k_sweep.pdf").read_bytes()[:5] == b"%PDF-"
    assert json.loads((tmp_path / "03_k_sweep.json").read_text())["holds"] is True
    pdf1 = (tmp_path / "03_k_sweep.pdf").read_bytes()
    save_figure(fig, "03_k_sweep", folder=tmp_path)
    assert (tmp_path / "03_k_sweep.pdf").read_bytes() == pdf1, "same figure, same bytes"


def test_claims_forest_draws_each_claim_with_its_interval():
    import numpy as np

    from saif_core import claims, plots, verdicts

    rows = [claims.claim_row(verdicts.superiority("a beats b", np.r_[np.ones(30), np.zeros(70)], np.zeros(100)), "x", "m", "03"),
            claims.claim_row(verdicts.above("SA above 30%", np.zeros(100), 0.3), "y", "m", "04")]
    ax = plots.claims_forest(rows)
    assert len(ax.lines) == 2 * len(rows) + 1  # interval and point per claim, and the zero line
    assert [t.get_text() for t in ax.get_yticklabels()] == ["a beats b [m]", "SA above 30% [m]"]
    assert {t.get_text().strip() for t in ax.texts} == {"holds", "contradicted"}
