"""The evaluation protocol every claim-bearing notebook follows, written once.

1. **Fixed settings** (``SETTINGS``), the same in every notebook: the number of extraction
   pairs, the selection threshold, k, the vector's weighting, the generation length.
2. **Every arm is a unit vector with a strength**: ``alpha = scale x`` the mean residual norm at
   the vector's layer (last prompt token of content-only prompts), so arms of different kinds,
   k, layers or SAEs are compared at matched norm by giving them the same ``scale``.
3. **Choices on the dev split only**: each arm (SAIF post, SAIF pre, each control, each k, each
   layer) gets its own scale, chosen by :func:`tune` on the task's whole dev split (at least
   40 items; best strict accuracy, then loose, then the smallest scale). The evaluation split
   is never looked at to choose anything.
4. **One measurement on the whole evaluation split** (at least 100 items per task): :func:`evaluate`
   runs the tuned arm once, and :func:`outcomes` gives its 0/1 outcome per item, in split order,
   so arms are compared paired (``verdicts``).

Example:
    >>> arm = protocol.tune(protocol.arm("smollm2-135m-instruct", "translate_fr"))
    >>> arm.scale, arm.dev_rows[0]
    >>> protocol.evaluate(arm.cfg, ("original", "steered"))
    >>> steered = protocol.outcomes(arm.cfg, "steered")
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np

from . import data, experiments as E, features
from .config import RunConfig, problem, validate

# the fixed settings, stated once (notebooks print ``SETTINGS``)
N_EXTRACT = 128  # extraction pairs, cycling through the extraction items with the variants dealt in turn
MIN_PROB = 0.5  # a latent must fire on at least half of the positives (and more often than on the negatives)
K = 8  # latents in the SAIF vector
WEIGHTING = "difference"  # each latent by its activation with minus without the instruction (the paper's Fig. 1)
SCALES = (0.25, 0.5, 1.0, 2.0)  # strengths tried on dev, as multiples of the residual norm at the layer
MAX_NEW_TOKENS = 128  # every condition alike; generation stops at the end of turn
MIN_DEV, MIN_EVAL = 40, 100
SETTINGS = {"n_extract": N_EXTRACT, "min_prob": MIN_PROB, "k": K, "weighting": WEIGHTING,
            "scales tried on dev (x residual norm)": SCALES, "max_new_tokens": MAX_NEW_TOKENS,
            "dev items per task": f"the whole dev split (>= {MIN_DEV})",
            "evaluation items per task": f"the whole evaluation split (>= {MIN_EVAL})"}


def arm(model: str, task: str, **changes) -> RunConfig:
    """A run configuration under the protocol: the fixed settings, a unit-norm vector, the whole
    evaluation split; ``changes`` set anything else (``placement``, ``vector``, ``k``, ``sae``, ...)."""
    base = RunConfig(model=model, task=task, k=K, min_prob=MIN_PROB, weighting=WEIGHTING, normalize=True,
                     n_extract=N_EXTRACT, max_new_tokens=MAX_NEW_TOKENS, n_eval=None)
    return base.replace(**changes)


def residual_norm(cfg: RunConfig) -> float:
    """Mean residual norm at ``cfg``'s layer, last prompt token, over the content-only prompts
    of its task's extraction items: the unit a scale multiplies."""
    cfg = validate(cfg)
    model, _ = E.load_cached(cfg.model, cfg.sae)
    prompts = [model.format_prompt(it.text) for it in data.split(cfg.task, "extraction")]
    return features.residual_norm(model, cfg.layer, prompts)


def alpha_at(scale: float, norm: float) -> float:
    """``scale x norm``, to 0.01 (what a run's alpha records)."""
    return round(scale * norm, 2)


class Tuned(NamedTuple):
    cfg: RunConfig  # the arm at its chosen strength (evaluation split)
    scale: float
    norm: float
    dev_rows: list  # {"scale", "alpha", "strict", "loose", "n"} per scale tried


def check_split_sizes(task: str) -> None:
    """Refuse a task whose splits are smaller than the protocol needs (the fix names the file)."""
    n_dev, n_eval = len(data.split(task, "dev")), len(data.split(task, "evaluation"))
    if n_dev < MIN_DEV or n_eval < MIN_EVAL:
        raise data.DataError(f"{task}: dev {n_dev} and evaluation {n_eval} items; the protocol needs at least "
                             f"{MIN_DEV} and {MIN_EVAL}. Fix: add contents for the task (data/contents), raise "
                             "its split sizes in data/tasks/<task>.json and run python -m saif_core.data "
                             "--make-splits (it keeps every item where it is and deals out the new ones).")


def tune(cfg: RunConfig, scales=SCALES, n_dev: int | None = None, progress: bool = False) -> Tuned:
    """``cfg``'s strength chosen on the whole dev split (``n_dev``: its first n items, for a
    smoke run only): the steered condition at each scale, best strict accuracy, then loose,
    then the smallest scale. The returned arm keeps ``cfg.n_eval`` (None: the whole split)."""
    if n_dev is None and cfg.n_eval is None:
        check_split_sizes(cfg.task)
    cfg = validate(cfg.replace(normalize=True))
    norm = residual_norm(cfg)
    alphas = [alpha_at(c, norm) for c in scales]
    if len(set(alphas)) < len(alphas):
        raise ValueError(f"scales {list(scales)} give equal strengths at norm {norm:.2f}. Fix: pass distinct scales.")
    best, rows = E.tune_alpha(cfg, alphas, progress=progress, n_dev=n_dev)
    rows = [{"scale": c, **r} for c, r in zip(scales, rows)]
    scale = next(r["scale"] for r in rows if r["alpha"] == best)
    return Tuned(cfg.replace(alpha=best, eval_split="evaluation"), scale, norm, rows)


def at_scale(cfg: RunConfig, scale: float) -> RunConfig:
    """``cfg`` as a unit vector at ``scale`` x its layer's residual norm (a matched-norm arm)."""
    cfg = validate(cfg.replace(normalize=True))
    return cfg.replace(alpha=alpha_at(scale, residual_norm(cfg)))


def evaluate(cfg: RunConfig, conditions=("steered",), progress: bool = False) -> dict:
    """Run ``cfg``'s ``conditions`` once on the evaluation split (``cfg.n_eval``: None, the
    protocol's, is the whole split; a number is for smoke runs); its summary."""
    return E.run(cfg.replace(conditions=tuple(conditions), eval_split="evaluation"), progress=progress)


def outcomes(cfg: RunConfig, condition: str = "steered", measure: str = "strict") -> np.ndarray:
    """0/1 per evaluation item (split order, the first ``cfg.n_eval``) of ``condition``: strict
    (labelled strict) or loose (strict or loose). Every item must have its record (run
    :func:`evaluate` first)."""
    if measure not in ("strict", "loose"):
        raise ValueError(f"measure must be 'strict' or 'loose', got {measure!r}")
    cfg = validate(cfg.replace(eval_split="evaluation", conditions=(condition,)))
    labels = {r["content_id"]: r["label"] for r in E.records(cfg)}
    items = E.eval_items(cfg)
    missing = [it.id for it in items if it.id not in labels]
    if missing:
        raise ValueError(f"{len(missing)} of {len(items)} evaluation items of {cfg.task} have no {condition} record "
                         f"for run {cfg.key()} (first: {missing[0]}). Fix: protocol.evaluate(cfg, ({condition!r},)) first.")
    ok = {"strict": {"strict"}, "loose": {"strict", "loose"}}[measure]
    return np.array([labels[it.id] in ok for it in items], dtype=float)


def fit_k(cfg: RunConfig, notes: list) -> RunConfig:
    """``cfg`` with k lowered to the latents that pass the selection rule when fewer than k pass,
    and a note saying so (a vector kind without selection is returned as is)."""
    if cfg.vector not in ("saif", "single_latent"):
        return cfg
    n = E.passing_latents(cfg)
    if n == 0:
        raise features.SelectionError(f"{cfg.model} / {cfg.task}: no latent passes the selection rule (min_prob "
                                      f"{cfg.min_prob}). Fix: lower min_prob or use more pairs.")
    if n < cfg.k:
        where = f"{cfg.model} / {cfg.task}" + (f" / {cfg.sae.split('/', 1)[-1]}" if cfg.sae else "") + \
            (f" / {cfg.placement} pairs" if cfg.placement != "post" else "")
        notes.append(f"{where}: only {n} latents pass the selection rule (min_prob {cfg.min_prob}); "
                     f"k lowered from {cfg.k} to {n}")
        return cfg.replace(k=n)
    return cfg


def headline_model(models, task: str = "translate_fr", n_dev: int | None = None, **changes) -> tuple[str, list]:
    """The model of the headline notebooks, chosen on the dev split: among ``models`` with a
    steering SAE, the one whose **prompted** strict accuracy on ``task`` is highest (then loose,
    then the order given): steering is judged on a model that can follow the instruction when it
    is written out. Returns ``(model, rows)``, a row per model (``skipped`` says why one was not
    measured: no steering SAE, or no latent passing the selection rule)."""
    from .saes import SAEError, default_sae_id

    rows = []
    for m in models:
        try:
            default_sae_id(m)
            # the run builds its vector too: from the latents that pass when fewer than k do
            cfg = fit_k(arm(m, task, eval_split="dev", n_eval=n_dev, conditions=("prompted",), **changes), [])
        except (SAEError, features.SelectionError) as err:
            rows.append({"model": m, "skipped": problem(err)})
            continue
        s = E.run(cfg, progress=False)
        rows.append({"model": m, "n": s["n"], "strict": s["prompted"]["strict"], "loose": s["prompted"]["loose"]})
    measured = [r for r in rows if "skipped" not in r]
    if not measured:
        raise ValueError(f"none of {list(models)} has a steering SAE: {[r['skipped'] for r in rows]}. Fix: make saes.")
    best = max(measured, key=lambda r: (r["strict"], r["loose"], -measured.index(r)))
    return best["model"], rows
