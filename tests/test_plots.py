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
