"""The claims table: every tested claim of the series, gathered from the figure summaries into
``figures/claims.json``, from which the README's claim table is written.

A notebook that tests a claim puts its ``verdicts.Verdict`` rows, with their context, in its
figure summary: ``plots.save_figure(fig, name, {..., "claims": [claim_row(v, model=..., ...)]})``.
``collect`` reads them in notebook order; ``write`` stores them; ``markdown`` is the table.

Example:
    >>> rows = claims.collect()          # from figures/<notebook>.json
    >>> claims.write(rows)               # figures/claims.json
    >>> print(claims.markdown(rows))
"""
from __future__ import annotations

import json
from pathlib import Path

from . import paths
from .verdicts import EQUIVALENCE_MARGIN, LEVEL, MARGIN, VERDICTS, Verdict

FIELDS = ("id", "claim", "model", "verdict", "n", "effect", "interval", "test", "p", "notebook")


def claim_row(v: Verdict, claim_id: str, model: str, notebook: str, **context) -> dict:
    """A claims.json row: an id stable across runs (e.g. ``k_needed``), the model, the notebook
    that tested it, any other context (``task``, ``measure``), and the verdict's fields."""
    return v.with_context(id=claim_id, model=model, notebook=notebook, **context)


def check_row(row: dict, where: str = "") -> dict:
    """A row with every field of ``FIELDS`` and a known verdict (else a ValueError naming the field)."""
    missing = [f for f in FIELDS if f not in row]
    if missing:
        raise ValueError(f"claim row {where}{row.get('id', '?')} lacks {missing}. Fix: build rows with claims.claim_row.")
    if row["verdict"] not in VERDICTS:
        raise ValueError(f"claim row {where}{row['id']}: verdict {row['verdict']!r} is not one of {VERDICTS}")
    return row


def collect(figures: Path | None = None, notebooks=None) -> list[dict]:
    """Every ``claims`` row of the figure summaries, notebook by notebook (``notebooks``: their
    names in order; None: every ``<figures>/*.json`` summary in name order)."""
    figures = Path(figures or paths.figures_root())
    names = notebooks or sorted(p.stem for p in figures.glob("[0-9][0-9]_*.json"))
    rows = []
    for name in names:
        p = figures / f"{name}.json"
        if p.exists():
            tested = json.loads(p.read_text(encoding="utf-8")).get("claims")
            if isinstance(tested, list):  # (summaries made before #16 held a dict of point comparisons there)
                rows += [check_row(r, f"in {p.name}: ") for r in tested]
    return rows


def write(rows: list[dict], figures: Path | None = None) -> Path:
    """``figures/claims.json``: the rows, as a list."""
    path = Path(figures or paths.figures_root()) / "claims.json"
    path.write_text(json.dumps(rows, indent=1, ensure_ascii=False) + "\n", encoding="utf-8")
    return path


def _num(x: float) -> str:
    return f"{x:+.2f}"


def markdown(rows: list[dict]) -> str:
    """The README's claim table: one line per (claim, model), the verdict and its numbers."""
    lines = ["| claim of the paper | model | verdict | effect [95% interval] | n per arm | test, p | notebook |",
             "|---|---|---|---|---|---|---|"]
    for r in rows:
        lo, hi = r["interval"]
        p = "" if r["p"] is None else f", p = {r['p']:.3g}"
        note = f" ({r['note']})" if r.get("note") else ""
        model = r["model"] + (f" ({r['role']})" if r.get("role") else "")
        caveat = f" ({r['caveat']})" if r.get("caveat") else ""
        lines.append(f"| {r['claim']} | {model} | **{r['verdict']}**{caveat} | {_num(r['effect'])} [{lo:.2f}, {hi:.2f}] | "
                     f"{r['n']}{note} | {r['test'].split(';')[0]}{p} | {r['notebook']} |")
    lines += ["", f"Each claim is tested on its own at {LEVEL:g} (no correction for multiplicity); `holds`: the test "
              "rejects no effect in the claimed direction; `contradicted`: the interval excludes the claimed effect "
              f"(for \"A beats B\", an advantage of {MARGIN:g} or more; for \"close to\", a difference within "
              f"±{EQUIVALENCE_MARGIN:g}); "
              "`inconclusive`: the data allow both. Full rows, with each arm's rate: `figures/claims.json`."]
    return "\n".join(lines)


def gallery_verdict(rows: list[dict], notebook: str) -> str | None:
    """The gallery cell of a notebook: its claims' verdicts by model, or None when it tests none."""
    mine = [r for r in rows if r["notebook"] == notebook]
    if not mine:
        return None
    return "; ".join(f"{r['claim']}: {r['verdict']} ({r['model']})" for r in mine)
