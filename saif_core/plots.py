"""One shared figure style, and saving a figure with its machine-readable summary.

Every notebook saves ``figures/<notebook>.png`` and ``.pdf`` plus
``figures/<notebook>.json`` (the numbers the figure shows and the verdict on the
paper's claim), so the README gallery and the tests read the same numbers.

Example:
    >>> fig, ax = plt.subplots()
    >>> save_figure(fig, "03_k_sweep", {"claim": "several latents needed", "holds": True})
"""
from __future__ import annotations

import json
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

FIGURES = Path(__file__).resolve().parent.parent / "figures"
CONDITION_COLORS = {"original": "#9e9e9e", "prompted": "#4c72b0", "steered": "#dd8452",
                    "prompted+steered": "#55a868", "steered (pre)": "#c44e52", "diff_means": "#8172b3"}

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "font.size": 10,
    "axes.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "legend.frameon": False,
}
plt.rcParams.update(STYLE)


def save_figure(fig, name: str, summary: dict | None = None, folder: Path | None = None) -> Path:
    """Write ``<name>.png``, ``<name>.pdf`` and, with ``summary``, ``<name>.json``; return the PNG path.
    PDFs carry no creation date, so re-running a notebook changes them only if the figure changed."""
    folder = Path(folder or FIGURES)
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png)
    fig.savefig(folder / f"{name}.pdf", metadata={"CreationDate": None})
    if summary is not None:
        (folder / f"{name}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=float) + "\n")
    return png
