"""The studies behind the notebooks: each function gives one set of runs, or the table they
make, that a notebook shows, so that a notebook holds prose, parameters, a call and a look at
the result. Tables read from disk without a model are in ``tables``.

| notebooks | functions |
|---|---|
| 00 | ``steering_sae_recheck`` |
| 03, 07 | ``ks_to_run``, ``steering_vector``, ``vector_norm`` |
| 05 | ``fitted_k``, ``tasks_and_models``, ``post_and_pre_rows``, ``tasks_models_claims`` |
| 06, 07, 10 | ``saes_by_layer``, ``layer_with_most_widths``, ``saes_at_layer``, ``residual_norm``, ``alpha_at``, ``scaled_run``, ``layer_sweep``, ``width_sweep`` |
| 08 | ``output_quality`` |
| 09, 11 | ``latent_lens`` |
| 10 | ``BASELINES``, ``scales_on_dev``, ``baseline_rows`` |

Strength as a fraction of the residual norm (06, 07, 10): the residual stream's norm grows with
depth, so a unit-normalised vector is given ``alpha_at(c, norm)``: ``c`` times the mean norm of
the residual at the last prompt token of content-only prompts at that layer.

Example:
    >>> norms = {L: studies.residual_norm(model, L, "translate_fr", 64) for L in (17, 23)}
    >>> df, not_run = studies.layer_sweep(base, studies.saes_by_layer(model, [17, 23]), norms, [0.25, 0.5])
"""
from __future__ import annotations

import collections
from typing import NamedTuple

import pandas as pd

from . import data, experiments as E, features, protocol as P, quality, sae_metrics, saes, tables
from .config import ConfigError, RunConfig, problem
from .features import SelectionError
from .models import get_spec, load_model

# ---------------------------------------------------------------- SAEs: live check (00), per layer and width (06, 07)


def steering_sae_recheck(models, n_docs: int) -> dict:
    """``{SAE id: sae_metrics.sae_metrics}`` of each model's steering SAE, measured live on the first
    ``n_docs`` documents of its held-out text (checks that the training's activation
    normalisation was folded into the saved weights: the FVU should match ``metrics.json``'s)."""
    live = {}
    for model_id in models:
        m = load_model(model_id)
        sae_id = saes.default_sae_id(model_id)
        live[sae_id] = sae_metrics.sae_metrics(m, saes.load_sae(sae_id, model=m), saes.get_sae_spec(sae_id).layer,
                                               tables.heldout_texts(model_id, n_docs))
    return live


def saes_by_layer(model_id: str, layers=None) -> dict[int, saes.SAESpec]:
    """The narrowest SAE of ``model_id`` at each layer of ``layers`` (None: every layer) that has one, by layer."""
    have = sorted({s.layer for s in saes.saes_of(model_id)})
    return {L: saes.sae_at(model_id, L) for L in have if layers is None or L in layers}


def layer_with_most_widths(model_id: str) -> int:
    """The layer of ``model_id`` with SAEs of the most widths (ties: the deepest)."""
    count = collections.Counter(s.layer for s in saes.saes_of(model_id))
    return max(count, key=lambda L: (count[L], L))


def sweep_width(model_id: str) -> int | None:
    """The narrowest SAE width of ``model_id`` at its last layer that at least one earlier layer
    also has (the layer sweep's equal width), or None when there is none."""
    specs = saes.saes_of(model_id)
    last = get_spec(model_id).last_layer
    for w in sorted({s.d_sae for s in specs if s.layer == last}):
        if any(s.d_sae == w and s.layer != last for s in specs):
            return w
    return None


def saes_at_layer(model_id: str, layer: int) -> list[saes.SAESpec]:
    """Every SAE of ``model_id`` at ``layer``, narrowest first."""
    return [s for s in saes.saes_of(model_id) if s.layer == layer]


# ---------------------------------------------------------------- strength from the residual norm (06, 07, 10)


def residual_norm(model_id: str, layer: int, task: str, n_items: int | None = None) -> float:
    """Mean residual norm at ``layer`` (last prompt token) over the content-only prompts of the
    first ``n_items`` (None: all) extraction items of ``task``."""
    m = load_model(model_id)
    return features.residual_norm(m, layer, [m.format_prompt(it.text) for it in data.split(task, "extraction")[:n_items]])


alpha_at = P.alpha_at  # the alpha giving a unit-normalised vector ``scale`` times the residual norm (to 0.01)


def scaled_run(cfg: RunConfig, scale: float, norm: float, **columns) -> list[dict]:
    """The summary rows of ``cfg`` (a normalised vector) run at |v| = ``scale`` x ``norm``, each
    with ``columns`` and ``scale`` added."""
    summary = E.run(cfg.replace(alpha=alpha_at(scale, norm)), progress=False)
    return [{**r, **columns, "scale": scale} for r in E.summary_rows(summary)]


def layer_sweep(base: RunConfig, by_layer: dict, norms: dict, scales) -> tuple[pd.DataFrame, dict]:
    """``base`` with the SAE of each layer (``by_layer``: layer -> SAESpec) at each scale of that
    layer's residual norm (``norms``). Returns the rows, and ``{layer: why}`` for layers that
    could not run (e.g. fewer than k latents pass the selection rule at an early layer)."""
    rows, not_run = [], {}
    for L, spec in by_layer.items():
        try:
            for c in scales:
                rows += scaled_run(base.replace(sae=spec.id), c, norms[L])
        except (SelectionError, ConfigError) as err:
            not_run[L] = f"{type(err).__name__}: {problem(err)}"
    return pd.DataFrame(rows), not_run


def width_sweep(base: RunConfig, specs, scales, norm: float) -> pd.DataFrame:
    """``base`` with each SAE of ``specs`` (one layer, several widths) at each scale of ``norm``,
    so that only the vector's direction differs between widths; a ``d_sae`` column added."""
    rows = []
    for s in specs:
        for c in scales:
            rows += scaled_run(base.replace(sae=s.id), c, norm, d_sae=s.d_sae)
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- k and vectors (03, 07)


def ks_to_run(ks, n_candidates: int) -> tuple[list[int], list[int]]:
    """``(k values to run, k values dropped)``: k cannot exceed the latents passing the selection
    rule; when some are dropped, k = ``n_candidates`` takes their place, so the sweep still
    reaches the widest vector the pairs allow."""
    run = [k for k in ks if k <= n_candidates]
    dropped = [k for k in ks if k > n_candidates]
    if dropped and n_candidates not in run:
        run.append(n_candidates)
    return run, dropped


def steering_vector(cfg: RunConfig):
    """``cfg``'s steering vector (built once, then read from the store)."""
    cfg = E.validate(cfg)
    model, sae = E.load_cached(cfg.model, cfg.sae)
    return E.build_vector(cfg, model, sae)[0]


def vector_norm(cfg: RunConfig) -> float:
    """The norm of ``cfg``'s steering vector (it grows with k: the vector is a weighted sum)."""
    return steering_vector(cfg).vector.norm().item()


# ---------------------------------------------------------------- five tasks, two models, two placements (05)

CLOSE_TO_PROMPTED = 0.1  # steered LA "close to" prompted LA: within this much


def fitted_k(cfg: RunConfig) -> tuple[RunConfig, int]:
    """``(cfg with k stepped down to the latents that pass the selection rule when fewer than k
    pass, how many pass)``."""
    n = E.passing_latents(cfg)
    return cfg.replace(k=min(cfg.k, n)), n


class TasksModels(NamedTuple):
    rows: pd.DataFrame  # summary rows, conditions original, prompted, "steered (post)", "steered (pre)"
    stepped_down: dict  # "model/task" -> {"post": k, "pre": k}, where fewer than k latents pass
    not_measured: dict  # model or "model/task" -> why


def tasks_and_models(models, tasks, k: int, alpha, n_eval: int, n_extract: int, n_dev: int, max_new_tokens: int,
                     seed: int) -> TasksModels:
    """Fig. 5's runs: per model (with a steering SAE) and task, the original and prompted
    conditions and the vector of post-placement pairs (alpha a number, or "auto": chosen on the
    first ``n_dev`` dev items), then the vector of pre-placement pairs at the same alpha."""
    rows, not_measured, stepped_down = [], {}, {}
    for model in models:
        try:
            saes.default_sae_id(model)
        except saes.SAEError as err:
            not_measured[model] = problem(err)
            continue
        for task in tasks:
            post, n_post = fitted_k(RunConfig(model=model, task=task, k=k, n_eval=n_eval, max_new_tokens=max_new_tokens,
                                              seed=seed, placement="post", n_extract=n_extract,
                                              conditions=("original", "prompted", "steered")))
            pre, n_pre = fitted_k(post.replace(placement="pre", k=k, conditions=("steered",)))
            if min(n_post, n_pre) < k:
                stepped_down[f"{model}/{task}"] = {"post": post.k, "pre": pre.k}
            if min(n_post, n_pre) == 0:
                not_measured[f"{model}/{task}"] = f"no latent passes the selection rule (post {n_post}, pre {n_pre})"
                continue
            rows += post_and_pre_rows(post, pre, alpha, n_dev)
    return TasksModels(pd.DataFrame(rows), stepped_down, not_measured)


def post_and_pre_rows(post: RunConfig, pre: RunConfig, alpha, n_dev: int) -> list[dict]:
    """Summary rows of ``post`` at ``alpha`` (or the dev split's choice) and of ``pre``'s steered
    condition at the same alpha, labelled "steered (post)" and "steered (pre)"."""
    post, _ = E.with_alpha(post, alpha, n_dev=n_dev)
    rows = [{**r, "condition": {"steered": "steered (post)"}.get(r["condition"], r["condition"])}
            for r in E.summary_rows(E.run(post, progress=False))]
    pre = pre.replace(alpha=post.alpha)
    return rows + [{**r, "condition": "steered (pre)"} for r in E.summary_rows(E.run(pre, progress=False))]


def tasks_models_claims(df: pd.DataFrame) -> dict:
    """Fig. 5's claims per model, on the means over its tasks: steered (post) SA above the
    original's; post above pre on SA + LA; steered LA within ``CLOSE_TO_PROMPTED`` of prompted LA."""
    mean = df.groupby(["model", "condition"])[["strict", "loose"]].mean()
    claims = {}
    for model in df.model.unique():
        g = mean.loc[model]
        claims[model] = {
            "steered_above_original_SA": bool(g.loc["steered (post)", "strict"] > g.loc["original", "strict"]),
            "post_above_pre": bool(g.loc["steered (post)"].sum() > g.loc["steered (pre)"].sum()),
            "steered_LA_close_to_prompted": bool(abs(g.loc["steered (post)", "loose"] - g.loc["prompted", "loose"])
                                                 <= CLOSE_TO_PROMPTED),
            "means": g.round(3).to_dict(orient="index"),
        }
    return claims


# ---------------------------------------------------------------- output quality (08)


def output_quality(cfg: RunConfig) -> dict:
    """Measures of a run's stored outputs that need no reference: the mean share of distinct word
    trigrams, the share of outputs that are repetition loops (``quality.is_loop``: it also
    sees loops without spaces, which have no word trigrams), and the median perplexity under
    the unsteered model (median: robust to a few huge values; empty outputs left out)."""
    recs = E.records(cfg)
    m = load_model(cfg.model)
    ppl = quality.perplexity(m, [m.format_prompt(x["prompt"]) for x in recs], [x["output"] for x in recs])
    ppl = [p for p in ppl if p == p]
    return {"distinct_trigrams": sum(quality.distinct_trigrams(x["output"]) for x in recs) / len(recs),
            "loops": sum(quality.is_loop(x["output"]) for x in recs) / len(recs),
            "perplexity": sorted(ppl)[len(ppl) // 2] if ppl else float("nan")}


# ---------------------------------------------------------------- selected latents and their tokens (09, 11)

LATENT_STATS = ("strength", "stability", "probability", "sensitivity")


def latent_lens(model: str, tasks, k: int, n_extract: int, seed: int, top_tokens: int, sae: str | None = None,
                vector: bool = True, digits: int = 2, notes: list | None = None, **changes) -> pd.DataFrame:
    """Each task's selected latents: their statistics (to ``digits``) and the ``top_tokens``
    tokens their decoder directions promote (logit lens); with ``vector``, a row with latent
    "vector" after each task's latents, for the whole steering vector. ``changes``: other run
    settings (e.g. ``weighting``, ``min_prob``: the protocol's). With a ``notes`` list, a task
    where fewer than k latents pass gets those that do, and a note (``protocol.fit_k``);
    without, a ``SelectionError``."""
    rows = []
    for task in tasks:
        cfg = E.validate(RunConfig(model=model, sae=sae, task=task, k=k, n_extract=n_extract, seed=seed).replace(**changes))
        cfg = P.fit_k(cfg, notes) if notes is not None else cfg
        m, S = E.load_cached(cfg.model, cfg.sae)
        sv, table = E.build_vector(cfg, m, S)
        tops = features.latent_top_tokens(m, S, sv.latents, top_tokens)
        for r in table:
            rows.append({"task": task, "latent": r["latent"], **{s: round(r[s], digits) for s in LATENT_STATS},
                         "top tokens": tops[r["latent"]]})
        if vector:
            rows.append({"task": task, "latent": "vector", **dict.fromkeys(LATENT_STATS),
                         "top tokens": [t for t, _ in features.logit_lens(m, sv.vector, top_tokens)]})
    return pd.DataFrame(rows)


# ---------------------------------------------------------------- baselines (10)

BASELINES = {"saif": "SAIF (k latents)", "diff_means": "difference of means", "single_latent": "single latent"}


def scales_on_dev(base: RunConfig, scales, norm: float, n_dev: int, kinds=tuple(BASELINES)) -> tuple[dict, dict]:
    """``({kind: base with that vector kind and its alpha}, {kind: dev rows})``: each kind's
    alpha chosen on the first ``n_dev`` dev items among |v| = c x ``norm`` for c in ``scales``."""
    chosen, dev = {}, {}
    for kind in kinds:
        chosen[kind], dev[kind] = E.with_alpha(base.replace(vector=kind), "auto",
                                               alphas=[alpha_at(c, norm) for c in scales], n_dev=n_dev)
    return chosen, dev


def baseline_rows(chosen: dict) -> list[dict]:
    """The evaluation rows of ``scales_on_dev``'s choices on the same items: original, prompted,
    then each vector's steered condition, labelled by ``BASELINES``."""
    rows = [{**r, "condition": BASELINES["saif"] if r["condition"] == "steered" else r["condition"]}
            for r in E.summary_rows(E.run(chosen["saif"].replace(conditions=("original", "prompted", "steered")),
                                          progress=False))]
    for kind, cfg in chosen.items():
        if kind != "saif":
            rows += [{**r, "condition": BASELINES[kind]} for r in E.summary_rows(E.run(cfg, progress=False))]
    return rows
