"""Run the numbered notebook series with papermill (``saif figures`` / ``make figures``).

Every ``notebooks/NN_*.ipynb`` runs in order with its default parameters and is
written back executed, so the committed notebooks show the figures they made.
Each run is timed; timings go to ``figures/timings.json`` and the cell output of
every notebook to ``figures/figures.log``. A timing says whether the series began
on an empty results store (``cold``: every generation made in the run) or on one
holding earlier results (``warm``: cached records skipped), since the two differ
several-fold.
"""
from __future__ import annotations

import json
import logging
import re
import time
from pathlib import Path

import nbformat
import papermill as pm

from . import claims as claims_table, paths
from .paths import NOTEBOOKS, REPO


def numbered_notebooks(folder: Path = NOTEBOOKS, only: list[str] | None = None) -> list[Path]:
    books = sorted(p for p in folder.glob("*.ipynb") if re.match(r"\d\d_", p.name))
    if only:
        books = [p for p in books if any(p.stem.startswith(o) or p.name == o for o in only)]
    return books


def run_all(only: list[str] | None = None, parameters: dict | None = None, kernel: str = "python3") -> dict[str, float]:
    """Execute the series in place; return seconds per notebook."""
    books = numbered_notebooks(only=only)
    figures = paths.figures_root()
    figures.mkdir(exist_ok=True)
    if not books:
        print(f"no numbered notebooks in {NOTEBOOKS}: nothing to regenerate yet")
        return {}
    log = logging.getLogger("papermill")
    handler = logging.FileHandler(figures / "figures.log", mode="w")
    log.addHandler(handler)
    log.setLevel(logging.INFO)
    timings = {}
    store = store_state()
    print(f"results store: {store} ({'every generation is made now' if store == 'cold' else 'cached records are reused'})",
          flush=True)
    try:
        for i, nb in enumerate(books, 1):
            print(f"[{i}/{len(books)}] {nb.name}", flush=True)
            t0 = time.perf_counter()
            pm.execute_notebook(
                str(nb), str(nb), parameters=parameters or {}, kernel_name=kernel,
                cwd=str(nb.parent), progress_bar=True, log_output=True,
            )
            timings[nb.stem] = round(time.perf_counter() - t0, 1)
            relative_paths(nb)
            print(f"    {timings[nb.stem]:.0f} s", flush=True)
    finally:
        log.removeHandler(handler)
        handler.close()
    write_timings(figures / "timings.json", timings, store)
    if figures == REPO / "figures":
        update_readme_gallery()
    return timings


def relative_paths(nb: Path) -> None:
    """Papermill records the notebook's absolute path in its metadata; keep it relative to the
    repo, so a re-run in another checkout changes only the timings."""
    book = nbformat.read(nb, as_version=4)
    meta = book.metadata.get("papermill", {})
    changed = False
    for key in ("input_path", "output_path"):
        path = Path(meta.get(key) or "")
        if path.is_absolute() and path.parent.name == NOTEBOOKS.name:  # in this or another checkout
            meta[key], changed = f"{NOTEBOOKS.name}/{path.name}", True
    if changed:
        nbformat.write(book, nb)


def store_state(results: Path | None = None) -> str:
    """``cold`` when the results store holds no file yet (dotfiles such as ``.gitkeep``
    aside), else ``warm``."""
    root = results or paths.results_root()
    return "warm" if root.exists() and any(p.is_file() and not p.name.startswith(".")
                                           for p in root.rglob("*")) else "cold"


def write_timings(path: Path, timings: dict[str, float], store: str) -> dict:
    """Merge this run's seconds into ``path`` as ``{notebook: {"seconds", "store"}}``,
    ``store`` being the results store's state when the run began (an older file of bare
    numbers is read as of unknown state). Returns what was written."""
    old = json.loads(path.read_text()) if path.exists() else {}
    old = {k: v if isinstance(v, dict) else {"seconds": v, "store": "unknown"} for k, v in old.items()}
    new = {**old, **{k: {"seconds": v, "store": store} for k, v in timings.items()}}
    path.write_text(json.dumps(new, indent=2) + "\n")
    return new


# ---------------------------------------------------------------- README gallery

GALLERY = {  # notebook -> what its figure shows (the verdict comes from its figures/<name>.json)
    "00_train_saes": "SAE training curves: batch FVU and dead latents along training",
    "01_overview": "Fig. 1: the pipeline, pairs -> residual -> SAE latents -> top-k -> vector -> judged generation",
    "02_placement": "Fig. 2: strength, stability, probability of the top latents, instruction after vs before the content",
    "03_topk": "Fig. 3: SA and LA against k, the number of latents in the vector",
    "04_french_examples": "Fig. 4: the French vector on inputs in four languages, with strict / loose examples",
    "05_tasks_models": "Fig. 5: original, steered (post / pre vectors) and prompted, five tasks, both models",
    "06_layer_sweep": "Layer sweep: SA and LA when reading and steering at each layer with an SAE",
    "07_sae_width": "SAE width: 8x vs 32x d_model at the last layer",
    "08_alpha_sweep": "Alpha sweep: accuracy, repetition and perplexity against steering strength",
    "09_semantic_proximity": "Semantic proximity: logit-lens tokens of each task's vector",
    "10_baselines": "Baselines on the same prompts: prompting, difference of means, a single latent",
}
NO_CLAIM = ("00_train_saes", "01_overview")  # they show the method's pieces; no claim of the paper is tested there
START, END = "<!-- gallery:start -->", "<!-- gallery:end -->"


def _verdict(summary: dict | None) -> str:
    if summary is None:
        return "not run yet"
    holds = summary.get("holds")
    return {True: "holds", False: "does not hold", None: "not testable yet"}.get(holds, str(holds))


def claims(figures: Path | None = None) -> list[dict]:
    """The paper's headline claims with this project's verdicts, read from the figure summaries."""
    figures = figures or paths.figures_root()

    def load(name):
        p = figures / f"{name}.json"
        return json.loads(p.read_text()) if p.exists() else None

    f2, f3, f4, f5, f6, f7 = (load(n) for n in ("02_placement", "03_topk", "04_french_examples", "05_tasks_models",
                                                 "06_layer_sweep", "07_sae_width"))
    rows = [{"claim": "several latents are needed (k > 1)", "source": "03_topk", "verdict": _verdict(f3),
             "evidence": f3 and f"SA by k {f3['SA']}"},
            {"claim": "the final layer is crucial", "source": "06_layer_sweep", "verdict": _verdict(f6),
             "evidence": f6 and f"best layer {f6['best_layer']} of {f6['last_layer'] + 1}"},
            {"claim": "post placement is better than pre", "source": "02_placement, 05_tasks_models",
             "verdict": _verdict(f2) + (f" (latent statistics); post vector above pre in steering: "
                                        + ", ".join(f"{m}: {c['post_above_pre']}" for m, c in f5["claims"].items()) if f5 else ""),
             "evidence": f2 and f"post better on {f2['post_better']}"}]
    scales = None if f5 is None else f5.get("holds_across_models")
    rows.append({"claim": "scales across model and SAE sizes", "source": "05_tasks_models, 07_sae_width",
                 "verdict": f"models: {_verdict(None if f5 is None or f5.get('not_measured') else {'holds': scales})}; "
                            f"SAE widths: {_verdict(f7)}",
                 "evidence": "; ".join(_scales_evidence(f5, f7))})
    if f4:
        sa = sum(v["steered"]["SA"] for v in f4["by_language"].values()) / len(f4["by_language"])
        la = {c: sum(v[c]["LA"] for v in f4["by_language"].values()) / len(f4["by_language"]) for c in ("steered", "prompted")}
        rows.append({"claim": "steered SA above 30% (translate_fr)", "source": "04_french_examples",
                     "verdict": "holds" if sa >= 0.3 else "does not hold", "evidence": f"steered SA {sa:.2f} (n={f4['n']})"})
        rows.append({"claim": "steered LA close to prompting (translate_fr)", "source": "04_french_examples",
                     "verdict": "holds" if abs(la["steered"] - la["prompted"]) <= 0.1 else "does not hold",
                     "evidence": f"steered LA {la['steered']:.2f} vs prompted {la['prompted']:.2f}"})
    return rows


def _scales_evidence(f5: dict | None, f7: dict | None) -> list[str]:
    """Steered (post) vs original SA per model (Fig. 5), and the width comparison (07)."""
    out = []
    if f5:
        out += [f"{m}: steered SA {c['means']['steered (post)']['strict']:.2f} vs original "
                f"{c['means']['original']['strict']:.2f}" for m, c in f5.get("claims", {}).items()
                if "means" in c and "steered (post)" in c["means"] and "original" in c["means"]]
        if f5.get("not_measured"):
            out.append(f"not measured: {list(f5['not_measured'])}")
        if f5.get("k_stepped_down"):
            out.append(f"k below 8 in {len(f5['k_stepped_down'])} (model, task) cells (fewer latents pass)")
    if f7 and f7.get("verdict"):
        out.append(f"widths: {f7['verdict']}")
    return out


def update_readme_gallery(readme: Path = paths.README, figures: Path | None = None) -> bool:
    """Rewrite the README's gallery and claims table (between the gallery markers) from
    the figure summaries; returns whether the README has the markers."""
    figures = figures or paths.figures_root()
    text = readme.read_text(encoding="utf-8")
    if START not in text or END not in text:
        return False
    tested = claims_table.collect(figures, list(GALLERY))  # the claims notebooks tested with verdicts.py
    if tested:
        claims_table.write(tested, figures)
    lines = [START, "", "| figure | what it shows | the paper's claim here |", "|---|---|---|"]
    for name, what in GALLERY.items():
        p = figures / f"{name}.json"
        summary = json.loads(p.read_text()) if p.exists() else None
        img = f"[![{name}](figures/{name}.png)](notebooks/{name}.ipynb)" if (figures / f"{name}.png").exists() else name
        if tested:
            verdict = claims_table.gallery_verdict(tested, name) or "no claim of the paper tested here"
        else:
            verdict = "no claim of the paper tested here" if name in NO_CLAIM else _verdict(summary)
        lines.append(f"| {img} | {what} | {verdict} |")
    lines += ["", "Tables (`notebooks/11_tables.ipynb`): instruction variants, selected latents with their logit-lens "
              "tokens, SA / LA by model, SAE and task, hyperparameters, the judge rubric (`figures/11_tables-*`).", ""]
    if tested:  # generated from figures/claims.json
        lines.append(claims_table.markdown(tested))
    else:  # summaries made before the claims were tested with verdicts.py (#16): point comparisons
        lines += ["| claim of the paper | verdict on the embedded default | evidence | notebook |", "|---|---|---|---|"]
        for c in claims(figures):
            lines.append(f"| {c['claim']} | {c['verdict']} | {c['evidence'] or ''} | {c['source']} |")
    lines += ["", END]
    head, rest = text.split(START, 1)
    tail = rest.split(END, 1)[1]
    readme.write_text(head + "\n".join(lines) + tail, encoding="utf-8")
    return True
