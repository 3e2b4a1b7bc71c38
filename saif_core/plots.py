"""One shared figure style, and saving a figure with its machine-readable summary.

Every notebook saves ``figures/<notebook>.png`` and ``.pdf`` plus
``figures/<notebook>.json`` (the numbers the figure shows and the verdict on the
paper's claim), so the README gallery and the tests read the same numbers.

Example:
    >>> fig, ax = plt.subplots()
    >>> save_figure(fig, "03_k_sweep", {"claim": "several latents needed", "holds": True})
"""
from __future__ import annotations

import ast
import hashlib
import json
import logging
import re
from pathlib import Path

import matplotlib

matplotlib.use("Agg")
import matplotlib.pyplot as plt  # noqa: E402

from . import paths  # noqa: E402

CONDITION_COLORS = {"original": "#9e9e9e", "prompted": "#4c72b0", "steered": "#dd8452",
                    "prompted+steered": "#55a868", "steered (pre)": "#c44e52", "diff_means": "#8172b3",
                    # the labels notebooks 05 and 10 give conditions (studies.BASELINES)
                    "steered (post)": "#dd8452", "SAIF (k latents)": "#dd8452", "difference of means": "#8172b3",
                    "single latent": "#c44e52"}

STYLE = {
    "figure.dpi": 110, "savefig.dpi": 200, "savefig.bbox": "tight", "font.size": 10,
    "axes.titlesize": 11, "axes.spines.top": False, "axes.spines.right": False,
    "axes.grid": True, "grid.alpha": 0.3, "legend.frameon": False,
}
plt.rcParams.update(STYLE)

# Chinese text (Fig. 4's inputs, translate_zh outputs) needs a CJK font, which matplotlib
# lacks: `make setup` installs the font package ``mplfonts`` (no dependencies), and its
# SimHei (TrueType, so PDFs embed it) is appended to the font families, where matplotlib
# takes glyphs DejaVu lacks from. Text in monospace uses ``MONO`` to keep that fallback.
CJK_FONT = "SimHei"
MONO = ["monospace"]


def _add_cjk_fallback() -> bool:
    import importlib.util

    from matplotlib import font_manager

    spec = importlib.util.find_spec("mplfonts")
    path = spec and Path(spec.submodule_search_locations[0]) / "fonts" / f"{CJK_FONT}.ttf"
    if not path or not path.exists():
        return False
    font_manager.fontManager.addfont(str(path))
    plt.rcParams["font.family"] = ["sans-serif", CJK_FONT]
    # SimHei has no bold face: bold titles would log "Failed to find font weight bold for
    # SimHei" on stderr although their Latin glyphs come from DejaVu Sans Bold.
    logging.getLogger("matplotlib.font_manager").addFilter(
        lambda record: f"for {CJK_FONT}," not in record.getMessage())
    MONO.append(CJK_FONT)
    return True


HAS_CJK_FONT = _add_cjk_fallback()


def save_figure(fig, name: str, summary: dict | None = None, folder: Path | None = None) -> Path:
    """Write ``<name>.png``, ``<name>.pdf`` and, with ``summary``, ``<name>.json``; return the PNG path.
    PDFs carry no creation date, so re-running a notebook changes them only if the figure changed."""
    folder = Path(folder or paths.figures_root())
    folder.mkdir(parents=True, exist_ok=True)
    png = folder / f"{name}.png"
    fig.savefig(png)
    fig.savefig(folder / f"{name}.pdf", metadata={"CreationDate": None})
    if summary is not None:
        (folder / f"{name}.json").write_text(json.dumps(summary, indent=1, ensure_ascii=False, default=float) + "\n")
    return png


def notebook_defaults(notebook: str) -> dict:
    """The literal defaults of a notebook's ``parameters`` cell, read from ``notebooks/<notebook>.ipynb``."""
    nb = json.loads((paths.NOTEBOOKS / f"{notebook}.ipynb").read_text(encoding="utf-8"))
    cell = next(c for c in nb["cells"] if "parameters" in c.get("metadata", {}).get("tags", []))
    out = {}
    for node in ast.parse("".join(cell["source"])).body:
        if isinstance(node, ast.Assign) and len(node.targets) == 1 and isinstance(node.targets[0], ast.Name):
            try:
                out[node.targets[0].id] = ast.literal_eval(node.value)
            except ValueError:
                pass
    return out


def figure_name(notebook: str, namespace: dict) -> str:
    """The name a notebook's figures, tables and summaries are saved under: ``notebook`` when
    every parameter has its default (the committed figures), else ``notebook--name=value...``
    for those that differ, so a papermill run with ``-p model gemma-3-270m`` writes
    ``03_topk--model=gemma-3-270m.png`` beside the committed ``03_topk.png``, never over it.
    Call it right after the parameters cell, before any parameter is reassigned."""
    changed = {k: namespace[k] for k, v in notebook_defaults(notebook).items() if k in namespace and namespace[k] != v}
    if not changed:
        return notebook
    tag = "--".join(f"{k}={re.sub(r'[^A-Za-z0-9._-]+', '_', str(v)).strip('_')}" for k, v in sorted(changed.items()))
    if len(tag) > 80:
        tag = hashlib.sha256(tag.encode()).hexdigest()[:12]
    print(f"non-default parameters {changed}: figures go to {notebook}--{tag}.*, not over the committed ones")
    return f"{notebook}--{tag}"


def save_table(df, name: str, title: str = "", folder: Path | None = None) -> Path:
    """Write ``<name>.csv`` and the table drawn as a figure (``<name>.png``, ``.pdf``); return the PNG path."""
    folder = Path(folder or paths.figures_root())
    folder.mkdir(parents=True, exist_ok=True)
    df.to_csv(folder / f"{name}.csv", index=False)
    return save_figure(table_figure(df, title), name, folder=folder)


# ---------------------------------------------------------------- one function per kind of figure


def framework_diagram():
    """Fig. 1: the SAIF pipeline as boxes and arrows (what each step consumes and makes)."""
    from matplotlib.patches import FancyBboxPatch

    steps = [("pairs", "content + instruction\n(variants: paraphrases,\ntranslations) vs content"),
             ("residual", "blocks.L.hook_resid_post\nat the last prompt token\n[n, d_model]"),
             ("SAE latents", "sae.encode\n[n, d_sae]"),
             ("statistics", "strength, stability,\nprobability, sensitivity"),
             ("top-k latents", "probability >= 0.5,\nranked by sensitivity"),
             ("steering vector", "sum_j strength_j W_dec[j]\n[d_model]"),
             ("steered generation", "content only;\nresid += alpha * v"),
             ("judge", "strict / loose / fail\n-> SA, LA")]
    fig, ax = plt.subplots(figsize=(12, 2.6))
    ax.set_axis_off()
    ax.set_xlim(0, len(steps))
    ax.set_ylim(0, 1)
    for i, (title, body) in enumerate(steps):
        ax.add_patch(FancyBboxPatch((i + 0.06, 0.12), 0.84, 0.76, boxstyle="round,pad=0.02",
                                    fc="#f3f3f3" if i < 5 else "#fde8d8", ec="#555"))
        ax.text(i + 0.48, 0.74, title, ha="center", va="center", weight="bold", fontsize=9)
        ax.text(i + 0.48, 0.42, body, ha="center", va="center", fontsize=7.5)
        if i < len(steps) - 1:
            ax.annotate("", xy=(i + 1.06, 0.5), xytext=(i + 0.92, 0.5), arrowprops={"arrowstyle": "->"})
    ax.set_title("SAIF: find instruction latents (grey), steer with them (orange)")
    return fig


def placement_bars(df):
    """Fig. 2: strength, stability and probability of the top latents, one bar per placement.
    ``df``: columns latent, placement, strength, stability, probability."""
    import numpy as np

    fig, axes = plt.subplots(1, 3, figsize=(13, 3.4))
    latents = list(dict.fromkeys(df["latent"]))
    x = np.arange(len(latents))
    for ax, measure in zip(axes, ("strength", "stability", "probability")):
        for i, (placement, color) in enumerate((("post", "#dd8452"), ("pre", "#4c72b0"))):
            sub = df[df.placement == placement].set_index("latent").reindex(latents)
            ax.bar(x + (i - 0.5) * 0.4, sub[measure], 0.4, label=placement, color=color)
        ax.set_xticks(x, [str(j) for j in latents], rotation=45, fontsize=8)
        ax.set(title=measure, xlabel="latent")
    axes[0].legend(title="instruction")
    return fig


def placement_intervals(rows, title: str = ""):
    """Fig. 2 under the protocol: per statistic (strength, stability, probability), the mean over
    each placement's own top-k latents with its 95% bootstrap interval (``rows``: columns
    statistic, placement, value, low, high; ``evidence.placement_statistics``)."""
    stats = list(dict.fromkeys(rows["statistic"]))
    fig, axes = plt.subplots(1, len(stats), figsize=(3.6 * len(stats), 3.2))
    for ax, stat in zip(axes, stats):
        sub = rows[rows.statistic == stat].set_index("placement").reindex(["post", "pre"])
        colors = ["#dd8452", "#4c72b0"]
        ax.bar([0, 1], sub["value"], 0.6, color=colors)
        ax.errorbar([0, 1], sub["value"], yerr=[sub["value"] - sub["low"], sub["high"] - sub["value"]], fmt="none",
                    color="k", lw=0.8, capsize=3)
        ax.set_xticks([0, 1], ["post", "pre"])
        ax.set(title=stat, xlabel="instruction")
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def accuracy_curve(df, x: str, xlabel: str | None = None, ax=None, conditions=("steered",), reference=None,
                   logx: bool = False):
    """SA (solid) and LA (dashed) against ``x``, one colour per condition, with the
    Wilson intervals shaded; ``reference``: {label: (SA, LA)} drawn as horizontal lines."""
    if ax is None:
        _, ax = plt.subplots(figsize=(5.5, 3.6))
    for c in conditions:
        sub = df[df.condition == c].sort_values(x)
        color = CONDITION_COLORS.get(c, None)
        for measure, style in (("strict", "-"), ("loose", "--")):
            ax.plot(sub[x], sub[measure], style, marker="o", color=color, label=f"{c} {'SA' if measure == 'strict' else 'LA'}")
            lo = [ci[0] for ci in sub[f"{measure}_ci"]]
            hi = [ci[1] for ci in sub[f"{measure}_ci"]]
            ax.fill_between(sub[x], lo, hi, color=color, alpha=0.08)
    for label, (sa, la) in (reference or {}).items():
        color = CONDITION_COLORS.get(label, "#4c72b0")
        ax.axhline(sa, color=color, lw=1, ls="-", alpha=0.6)
        ax.axhline(la, color=color, lw=1, ls="--", alpha=0.6)
        ax.text(df[x].max(), la, f"{label} LA ", color=color, fontsize=7, va="bottom", ha="right")
    if logx:
        ax.set_xscale("log", base=2)
    ax.set(xlabel=xlabel or x, ylabel="accuracy", ylim=(-0.02, 1.02))
    ax.legend(fontsize=7)
    return ax


def condition_bars(df, group: str = "task", panel: str = "model", order=None):
    """Fig. 5: SA (solid) and LA (hatched, stacked above SA) per ``group`` and condition, one
    panel per value of ``panel``. ``df``: columns group, panel, condition, strict, loose."""
    import numpy as np

    panels = list(dict.fromkeys(df[panel]))
    fig, axes = plt.subplots(1, len(panels), figsize=(6.5 * len(panels), 3.6), squeeze=False)
    conditions = order or list(dict.fromkeys(df["condition"]))
    for ax, p in zip(axes[0], panels):
        sub = df[df[panel] == p]
        groups = list(dict.fromkeys(sub[group]))
        x = np.arange(len(groups))
        w = 0.8 / len(conditions)
        for i, c in enumerate(conditions):
            rows = sub[sub.condition == c].set_index(group).reindex(groups)
            color = CONDITION_COLORS.get(c, None)
            ax.bar(x + i * w - 0.4 + w / 2, rows["strict"], w, color=color, label=f"{c}")
            ax.bar(x + i * w - 0.4 + w / 2, rows["loose"] - rows["strict"], w, bottom=rows["strict"], color=color,
                   alpha=0.35, hatch="//", edgecolor="white")
        ax.set_xticks(x, groups, fontsize=8)
        ax.set(title=str(p), ylabel="SA (solid) + loose-only (hatched) = LA", ylim=(0, 1.02))
    axes[0][0].legend(fontsize=7)
    return fig


def table_figure(df, title: str = "", col_width: float = 1.6, fontsize: int = 8):
    """A DataFrame drawn as a figure (for the table notebooks' PNG/PDF)."""
    fig, ax = plt.subplots(figsize=(max(4, col_width * len(df.columns)), 0.32 * (len(df) + 2)))
    ax.set_axis_off()
    t = ax.table(cellText=df.astype(str).values, colLabels=list(df.columns), loc="center", cellLoc="left")
    t.auto_set_font_size(False)
    t.set_fontsize(fontsize)
    t.auto_set_column_width(list(range(len(df.columns))))
    if title:
        ax.set_title(title)
    return fig


def sa_la_bars(df, x: str, hue: str | None = None, ax=None, order=None, hue_order=None, colors=None, labels=None,
               ci: bool = False, width: float = 0.8, figsize=(6, 3.6)):
    """SA as solid bars in front of LA as light bars (LA >= SA): a group per value of ``x``, a bar
    per value of ``hue`` in each group (None: one bar per group, coloured by its ``x``). Colours
    from ``colors``, else ``CONDITION_COLORS``, else the colour cycle; ``labels``: legend text
    per hue value; ``ci``: SA's 95% interval (column ``strict_ci``) as error bars.
    ``df``: columns x, hue, strict, loose. Returns the axes."""
    import numpy as np

    if ax is None:
        _, ax = plt.subplots(figsize=figsize)
    groups = list(order if order is not None else dict.fromkeys(df[x]))
    hues = list(hue_order if hue_order is not None else dict.fromkeys(df[hue])) if hue else [None]
    pick = {**CONDITION_COLORS, **(colors or {})}
    w = width / len(hues)
    for i, h in enumerate(hues):
        rows = (df if h is None else df[df[hue] == h]).set_index(x).reindex(groups)
        xs = np.arange(len(groups)) + (i - (len(hues) - 1) / 2) * w
        color = [pick.get(g, f"C{j}") for j, g in enumerate(groups)] if h is None else pick.get(h, f"C{i}")
        ax.bar(xs, rows["loose"], w, color=color, alpha=0.35)
        ax.bar(xs, rows["strict"], w, color=color, label=None if h is None else (labels or {}).get(h, str(h)))
        if ci:
            lo, hi = [c[0] for c in rows["strict_ci"]], [c[1] for c in rows["strict_ci"]]
            ax.errorbar(xs, rows["strict"], yerr=[rows["strict"] - lo, hi - rows["strict"]], fmt="none", color="k",
                        lw=0.8, capsize=3)
    ax.set_xticks(np.arange(len(groups)), [str(g) for g in groups])
    ax.set(ylabel="SA (solid, 95% CI), LA (light)" if ci else "SA (solid), LA (light)", ylim=(0, 1))
    if hue:
        ax.legend(fontsize=7)
    return ax


def training_curves(logs, models):
    """Batch FVU and the % of latents dead in the recent window against training tokens, a row
    of two panels per model, a line per SAE. ``logs``: columns model, layer, d_sae, tokens, fvu, dead."""
    fig, axes = plt.subplots(len(models), 2, figsize=(10, 3.3 * len(models)), squeeze=False)
    for row, m_id in zip(axes, models):
        for (layer, d_sae), log in logs[logs.model == m_id].groupby(["layer", "d_sae"], sort=False):
            label = f"L{layer} w{d_sae}"
            row[0].plot(log.tokens, log.fvu, label=label)
            row[1].plot(log.tokens, 100 * log.dead / d_sae, label=label)
        row[0].set(xlabel="training tokens", ylabel="batch FVU", yscale="log", title=f"{m_id}: reconstruction")
        row[1].set(xlabel="training tokens", ylabel="% latents dead (recent window)", title=f"{m_id}: dead latents")
        row[0].legend(fontsize=7)
        for ax in row:
            ax.ticklabel_format(axis="x", style="sci", scilimits=(0, 0))
    fig.tight_layout()
    return fig


def language_examples(by, examples, title: str, conditions=("original", "prompted", "steered")):
    """Fig. 4: SA / LA by input language and condition (``by``: index lang, columns
    ``(strict|loose, condition)``) above example outputs coloured by their label (``examples``:
    dicts with lang, input, steered output, label)."""
    import textwrap

    import pandas as pd

    height = 2.2 + 1.15 * len(examples)
    fig = plt.figure(figsize=(12, height))
    ax = fig.add_axes([0.05, 1 - 1.9 / height, 0.4, 1.5 / height])
    long = pd.DataFrame([{"lang": lang, "condition": c, "strict": by.loc[lang, ("strict", c)],
                          "loose": by.loc[lang, ("loose", c)]} for c in conditions for lang in by.index])
    sa_la_bars(long, "lang", hue="condition", ax=ax, hue_order=conditions, width=0.81)
    ax.set(title=title)
    ax.legend(fontsize=7, ncol=3)
    text = fig.add_axes([0.0, 0.0, 1.0, 1 - 2.1 / height])
    text.set_axis_off()
    y = 1.0
    for r in examples:
        block = (f"[{r['lang']}] {r['input']}\n  steered ({r['label']}): " +
                 textwrap.shorten(r["steered output"].replace("\n", " "), 150))
        text.text(0.01, y, block, va="top", fontsize=8, family=MONO,
                  color={"strict": "#2a7a2a", "loose": "#a06000", "fail": "#a02020"}[r["label"]])
        y -= 1.0 / max(1, len(examples))
    return fig


def arms_by_model(rows, title: str = ""):
    """SA (solid, 95% CI) and LA (light) of each steered arm, a panel per model (``rows``: an
    ``evidence`` table: columns model, arm, condition, strict, loose, strict_ci)."""
    if rows.empty:  # e.g. no model had SAEs to sweep: say so in the figure
        fig, ax = plt.subplots(figsize=(4.5, 1.5))
        ax.set_axis_off()
        ax.text(0.5, 0.5, "no arm was measured", ha="center", va="center")
        return fig
    steered = rows[rows.condition == "steered"]
    models = list(dict.fromkeys(steered.model))
    fig, axes = plt.subplots(1, max(1, len(models)), figsize=(4.5 * max(1, len(models)), 3.4), squeeze=False)
    for ax, m in zip(axes[0], models):
        sa_la_bars(steered[steered.model == m], "arm", ax=ax, ci=True)
        ax.set_title(m, fontsize=9)
    if title:
        fig.suptitle(title, fontsize=10)
    return fig


def layer_curves(df, scales, last_layer: int, title: str):
    """SA and LA against the layer steered at, a line per scale of the residual norm (``df``:
    columns layer, scale, strict, loose), the last layer dotted."""
    fig, axes = plt.subplots(1, 2, figsize=(11, 3.6), sharey=True)
    for ax, measure in zip(axes, ("strict", "loose")):
        for c in scales:
            sub = df[df.scale == c].sort_values("layer")
            ax.plot(sub.layer, sub[measure], marker="o", label=f"|v| = {c:g} x residual norm")
        ax.axvline(last_layer, color="#999", ls=":", lw=1)
        ax.set(xlabel="layer (steered and read)", ylabel="SA" if measure == "strict" else "LA",
               title=f"{title}: {measure} accuracy", ylim=(-0.02, 1.02))
    axes[0].legend(fontsize=7)
    return fig


def alpha_quality(df, title: str):
    """Accuracy, repetition and median perplexity against alpha (``df``: columns alpha,
    strict, loose, strict_ci, loose_ci, distinct_trigrams, perplexity, and optionally loops:
    the share of outputs that are repetition loops, drawn beside the distinct trigrams)."""
    fig, axes = plt.subplots(1, 3, figsize=(13, 3.5))
    accuracy_curve(df.assign(condition="steered"), "alpha", "alpha", ax=axes[0])
    axes[0].set_title(f"{title}: accuracy")
    axes[1].plot(df.alpha, df.distinct_trigrams, marker="o", color="#55a868", label="distinct word trigrams")
    if "loops" in df:
        axes[1].plot(df.alpha, df.loops, marker="s", color="#8172b2", label="share of outputs that loop")
        axes[1].legend(fontsize=7)
    axes[1].set(xlabel="alpha", ylabel="share", ylim=(0, 1.05), title="repetition")
    axes[2].plot(df.alpha, df.perplexity, marker="o", color="#c44e52")
    axes[2].set(xlabel="alpha", ylabel="median perplexity", yscale="log", title="perplexity under the unsteered model")
    return fig


VERDICT_COLORS = {"holds": "#55a868", "contradicted": "#c44e52", "inconclusive": "#9e9e9e"}


def claims_forest(rows, ax=None, title: str = ""):
    """Each tested claim (``claims.claim_row`` rows) as its effect with its 95% interval, coloured
    by verdict, with the zero line: what the verdicts rest on, in one picture."""
    if ax is None:
        _, ax = plt.subplots(figsize=(7, 0.45 * len(rows) + 1.2))
    for i, r in enumerate(rows):
        lo, hi = r["interval"]
        color = VERDICT_COLORS[r["verdict"]]
        ax.plot([lo, hi], [i, i], color=color, lw=2)
        ax.plot([r["effect"]], [i], "o", color=color)
        ax.text(hi, i, f"  {r['verdict']}", va="center", fontsize=7, color=color)
    ax.axvline(0, color="k", lw=0.8)
    ax.set_yticks(range(len(rows)), [f"{r['claim']} [{r['model']}]" for r in rows], fontsize=7)
    ax.invert_yaxis()
    ax.set(xlabel="effect (difference of accuracies, or above the threshold / null), 95% interval", title=title)
    return ax
