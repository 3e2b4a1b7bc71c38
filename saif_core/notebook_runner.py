"""Run the numbered notebook series with papermill (``saif figures`` / ``make figures``).

Every ``notebooks/NN_*.ipynb`` runs in order with its default parameters and is
written back executed, so the committed notebooks show the figures they made.
Each run is timed; timings go to ``figures/timings.json`` and the cell output of
every notebook to ``figures/figures.log``.
"""
from __future__ import annotations

import json
import re
import time
from pathlib import Path

REPO = Path(__file__).resolve().parent.parent
NOTEBOOKS = REPO / "notebooks"
FIGURES = REPO / "figures"


def numbered_notebooks(folder: Path = NOTEBOOKS, only: list[str] | None = None) -> list[Path]:
    books = sorted(p for p in folder.glob("*.ipynb") if re.match(r"\d\d_", p.name))
    if only:
        books = [p for p in books if any(p.stem.startswith(o) or p.name == o for o in only)]
    return books


def run_all(only: list[str] | None = None, parameters: dict | None = None, kernel: str = "python3") -> dict[str, float]:
    """Execute the series in place; return seconds per notebook."""
    import logging

    import papermill as pm

    books = numbered_notebooks(only=only)
    FIGURES.mkdir(exist_ok=True)
    if not books:
        print(f"no numbered notebooks in {NOTEBOOKS}: nothing to regenerate yet")
        return {}
    log = logging.getLogger("papermill")
    handler = logging.FileHandler(FIGURES / "figures.log", mode="w")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    timings = {}
    try:
        for i, nb in enumerate(books, 1):
            print(f"[{i}/{len(books)}] {nb.name}", flush=True)
            t0 = time.perf_counter()
            pm.execute_notebook(
                str(nb), str(nb), parameters=parameters or {}, kernel_name=kernel,
                cwd=str(nb.parent), progress_bar=True, log_output=True,
            )
            timings[nb.stem] = round(time.perf_counter() - t0, 1)
            print(f"    {timings[nb.stem]:.0f} s", flush=True)
    finally:
        log.removeHandler(handler)
        handler.close()
    timings_path = FIGURES / "timings.json"
    old = json.loads(timings_path.read_text()) if timings_path.exists() else {}
    timings_path.write_text(json.dumps({**old, **timings}, indent=2) + "\n")
    return timings
