"""The evidence for each claim of the paper: the arms a claim needs, run under ``protocol``
(strength chosen per arm on dev, one measurement on the whole evaluation split), and its
verdicts (``verdicts``), as ``claims.claim_row`` rows a notebook puts in its figure summary.

| notebook | function | claim(s) |
|---|---|---|
| 02 | ``placement_statistics`` | post placement gives stronger, more stable, more probable latents than pre |
| 03 | ``k_sweep`` | several latents are needed: k = K beats k = 1 at matched norm |
| 04 | ``steered_above`` | steered SA above 30% (translate_fr) |
| 05 | ``tasks_models`` | steering beats the original; post beats pre; steered LA close to prompting (pooled over tasks) |
| 06 | ``layer_sweep`` | the last layer beats the best earlier layer (equal SAE width, each layer's strength from dev) |
| 07 | ``width_sweep`` | SAIF steers with each SAE width |
| 09 | ``proximity_claims`` | the selected latents promote their instruction's concept tokens (against random latents) |
| 10 | ``controls`` | SAIF beats a random direction, k random latents, the difference of means, one latent, another task's vector, at matched norm |

Every function returns an :class:`Evidence`: a table of arms (accuracies with Wilson intervals),
the claim rows, notes (what was reduced or could not run, never silently) and the dev rows. The
functions that generate take ``**changes``: run-configuration changes for every arm (``protocol.arm``),
e.g. ``max_new_tokens=4`` for a smoke run; the protocol's values otherwise.

Example:
    >>> ev = evidence.k_sweep("smollm2-135m-instruct", "translate_fr", ks=(1, 2, 4, 8))
    >>> ev.claims[0]["verdict"], ev.notes
"""
from __future__ import annotations

from typing import NamedTuple

import numpy as np
import pandas as pd
import torch

from . import data, experiments as E, features, protocol as P, proximity, saes
from .protocol import fit_k  # re-exported: the steering notebooks and the headline choice share one rule
from .claims import claim_row
from .config import RunConfig, problem, validate
from .models import get_spec
from .verdicts import EQUIVALENCE_MARGIN, Verdict, above, equivalence, every, exceeds_null, pooled, superiority


class Evidence(NamedTuple):
    rows: pd.DataFrame  # one row per (arm, condition): accuracies with intervals, scale, alpha
    claims: list  # claims.claim_row rows
    notes: list  # what was reduced or could not run, and why
    dev: pd.DataFrame = pd.DataFrame()  # where the choices were made: each tuned arm's dev accuracy per scale


def combine(evidences) -> Evidence:
    """One Evidence from several (e.g. one per model): rows and dev rows concatenated, claims and notes in order."""
    evidences = list(evidences)

    def frames(name: str) -> pd.DataFrame:
        parts = [getattr(e, name) for e in evidences if len(getattr(e, name))]
        return pd.concat(parts, ignore_index=True) if parts else pd.DataFrame()

    return Evidence(frames("rows"), [c for e in evidences for c in e.claims], [n for e in evidences for n in e.notes],
                    frames("dev"))


def arm_rows(summary: dict, arm: str, **columns) -> list[dict]:
    """Rows of a run summary: one per condition, labelled ``arm`` (the condition name for
    original / prompted), with the accuracies' intervals."""
    cfg = summary["config"]
    return [{**columns, "model": cfg["model"], "task": cfg["task"], "arm": arm if c.endswith("steered") else c,
             "condition": c, "alpha": cfg["alpha"], "k": cfg["k"], "vector": cfg["vector"], "n": summary[c]["n"],
             "strict": summary[c]["strict"], "strict_ci": summary[c]["strict_ci"], "loose": summary[c]["loose"],
             "loose_ci": summary[c]["loose_ci"]} for c in cfg["conditions"]]


def _tuned(cfg: RunConfig, notes: list, n_dev, scales, dev: list | None = None, **label) -> P.Tuned:
    """``protocol.tune`` of ``cfg`` (k fitted); its dev rows, with ``label``, appended to ``dev``."""
    t = P.tune(fit_k(cfg, notes), scales, n_dev)
    if dev is not None:
        dev += [{"model": cfg.model, "task": cfg.task, **label, **r, "chosen": r["scale"] == t.scale} for r in t.dev_rows]
    return t


# ---------------------------------------------------------------- 02: latent statistics, post vs pre


def placement_statistics(model: str, task: str, sae: str | None = None, k: int = P.K, n_pairs: int = P.N_EXTRACT,
                         n_boot: int = 1000, seed: int = 0) -> Evidence:
    """Post vs pre pairs (the same contents and variants, the instruction after or before): the
    mean strength, stability and probability of each placement's own top-k latents (selected once,
    on all pairs), and the difference's percentile interval over ``n_boot`` resamples of the pairs
    (the same resample for both placements; the selected latents are held fixed, so the interval is
    the measurement's, not the selection's: notebook 10 resamples the selection). Holds per
    statistic when the interval is above 0."""
    rows, claims_, acts = [], [], {}
    for placement in ("post", "pre"):
        cfg = validate(P.arm(model, task, sae=sae, placement=placement, n_extract=n_pairs, seed=seed))
        m, S = E.load_cached(cfg.model, cfg.sae)
        _, pos, neg = E.build_pairs_and_save_residuals(cfg, m)
        with torch.no_grad():
            acts[placement] = (S.encode(pos.to(S.W_dec.device)).cpu(), S.encode(neg.to(S.W_dec.device)).cpu())
    names = ("strength", "stability", "probability")
    n = len(acts["post"][0])
    # each placement's own top-k, selected once on all pairs; the resamples re-measure them
    top = {pl: features.candidates(features.latent_stats(pos, neg), P.MIN_PROB)[:k] for pl, (pos, neg) in acts.items()}

    def means(idx) -> dict:
        out = {}
        for pl, (pos, neg) in acts.items():
            st = features.latent_stats(pos[idx], neg[idx])
            out[pl] = {s: float(getattr(st, s)[top[pl]].mean()) if len(top[pl]) else 0.0 for s in names}
        return out

    full = means(torch.arange(n))
    g = torch.Generator().manual_seed(seed)
    boots = [means(torch.randint(n, (n,), generator=g)) for _ in range(n_boot)]
    for s in names:
        diffs = np.array([b["post"][s] - b["pre"][s] for b in boots])
        lo, hi = np.quantile(diffs, [0.025, 0.975])
        effect = full["post"][s] - full["pre"][s]
        verdict = "holds" if lo > 0 else "contradicted" if hi < 0 else "inconclusive"
        v = Verdict(f"post placement gives instruction latents of higher {s} than pre", verdict, n, effect,
                    (float(lo), float(hi)), f"percentile bootstrap over {n_boot} paired resamples of the pairs, latents fixed "
                    "(holds if the 95% interval is above 0, contradicted if below)", None,
                    {"post": full["post"][s], "pre": full["pre"][s]})
        claims_.append(claim_row(v, f"placement_{s}", model, "02_placement", task=task))
        rows += [{"model": model, "task": task, "placement": pl, "statistic": s, "value": full[pl][s],
                  "low": float(np.quantile([b[pl][s] for b in boots], 0.025)),
                  "high": float(np.quantile([b[pl][s] for b in boots], 0.975))} for pl in ("post", "pre")]
    return Evidence(pd.DataFrame(rows), claims_, [])


# ---------------------------------------------------------------- 03: k at matched norm


def k_sweep(model: str, task: str, ks=(1, 2, 4, 8, 12), n_dev: int | None = None, n_eval: int | None = None,
            scales=P.SCALES, reference_k: int = P.K, **changes) -> Evidence:
    """SAIF at each k at the dev-tuned scale of k = ``reference_k`` (matched norm: every vector is
    unit norm at the same strength); the claim: k = ``reference_k`` beats k = 1."""
    notes, dev = [], []
    ref = _tuned(P.arm(model, task, k=reference_k, n_eval=n_eval, **changes), notes, n_dev, scales, dev, arm=f"k={reference_k}")
    passing = E.passing_latents(ref.cfg)
    k_ref = min(reference_k, passing)
    run_ks = sorted({min(k, passing) for k in ks} | {k_ref})  # the reference arm always runs
    if any(k > passing for k in ks):
        notes.append(f"k above {passing} (the latents that pass) run as k = {passing}: {[k for k in ks if k > passing]}")
    rows, outcome = [], {}
    for k in run_ks:
        cfg = ref.cfg.replace(k=k)
        rows += arm_rows(P.evaluate(cfg), f"k={k}", scale=ref.scale)
        outcome[k] = cfg
    claims_ = []
    if 1 in outcome and k_ref != 1:
        for measure in ("strict", "loose"):
            v = superiority(f"several latents are needed: k = {k_ref} beats k = 1 at matched norm ({measure})",
                            P.outcomes(outcome[k_ref], measure=measure), P.outcomes(outcome[1], measure=measure),
                            names=(f"k={k_ref}", "k=1"))
            claims_.append(claim_row(v, f"k_needed_{measure}", model, "03_topk", task=task, scale=ref.scale))
    return Evidence(pd.DataFrame(rows), claims_, notes, pd.DataFrame(dev))


# ---------------------------------------------------------------- 04, 05: tasks and models


def steered_above(model: str, task: str = "translate_fr", threshold: float = 0.30, n_dev: int | None = None,
                  n_eval: int | None = None, scales=P.SCALES, **changes) -> tuple[Evidence, RunConfig]:
    """SAIF (post pairs, strength from dev) on ``task``: original, prompted and steered on the
    evaluation split; the claim that steered SA is above ``threshold``. Returns the evidence and
    the tuned arm (its records: ``experiments.records``). The same run as ``tasks_models``' post arm."""
    notes, dev = [], []
    t = _tuned(P.arm(model, task, placement="post", n_eval=n_eval, **changes), notes, n_dev, scales, dev, arm="SAIF (post)")
    rows = arm_rows(P.evaluate(t.cfg, ("original", "prompted", "steered")), "SAIF (post)", scale=t.scale)
    v = above(f"steered SA above {threshold:.0%} ({task})", P.outcomes(t.cfg), threshold)
    return Evidence(pd.DataFrame(rows), [claim_row(v, "sa_above_30", model, "04_french_examples", task=task)],
                    notes, pd.DataFrame(dev)), t.cfg


def tasks_models(models, tasks, n_dev: int | None = None, n_eval: int | None = None, scales=P.SCALES, **changes) -> Evidence:
    """Per model and task: original, prompted, SAIF from post pairs and SAIF from pre pairs, each
    vector's strength chosen on dev. Claims per model, pooled over the tasks: steering beats the
    original (strict), post beats pre (strict), steered LA close to prompted LA (equivalence).
    A base model (``ModelSpec.chat`` False) is a contrast (its rows say so); with two or more
    instruction-tuned models, the size claim: SAIF steers at every instruction-tuned size
    (``verdicts.every`` over their "steers" verdicts)."""
    rows, claims_, notes, dev = [], [], [], []
    steers = {}
    for model in models:
        try:
            saes.default_sae_id(model)
        except saes.SAEError as err:
            notes.append(f"{model}: not measured ({problem(err)})")
            continue
        got = {"steered": [], "original": [], "pre": [], "steered_loose": [], "prompted_loose": []}
        done = []
        for task in tasks:
            try:
                post = _tuned(P.arm(model, task, placement="post", n_eval=n_eval, **changes), notes, n_dev, scales, dev,
                              arm="SAIF (post)")
                pre = _tuned(P.arm(model, task, placement="pre", n_eval=n_eval, **changes), notes, n_dev, scales, dev,
                             arm="SAIF (pre)")
            except features.SelectionError as err:  # no vector: the task leaves this model's pool (every arm alike)
                notes.append(f"{model} / {task}: left out of the pool ({problem(err)})")
                continue
            rows += arm_rows(P.evaluate(post.cfg, ("original", "prompted", "steered")), "SAIF (post)", scale=post.scale)
            rows += arm_rows(P.evaluate(pre.cfg), "SAIF (pre)", scale=pre.scale)
            got["steered"].append(P.outcomes(post.cfg, "steered"))
            got["original"].append(P.outcomes(post.cfg, "original"))
            got["pre"].append(P.outcomes(pre.cfg, "steered"))
            got["steered_loose"].append(P.outcomes(post.cfg, "steered", "loose"))
            got["prompted_loose"].append(P.outcomes(post.cfg, "prompted", "loose"))
            done.append(task)
        if not done:
            notes.append(f"{model}: no task has a vector; no claim tested")
            continue
        pool = {k: pooled(*v) for k, v in got.items()}
        where = f"{len(done)} tasks pooled"
        role = {} if get_spec(model).chat else {"role": "base-model contrast"}
        for cid, v in [
            ("steers", superiority(f"SAIF steers: steered SA above the original ({where})", pool["steered"], pool["original"],
                                   names=("steered", "original"))),
            ("post_above_pre", superiority(f"post placement's vector beats pre's ({where}, strict)", pool["steered"], pool["pre"],
                                           names=("post", "pre"))),
            ("close_to_prompting", equivalence(f"steered LA close to prompting ({where})", pool["steered_loose"],
                                               pool["prompted_loose"], names=("steered", "prompted"))),
        ]:
            floor, prompted_la = {}, pool["prompted_loose"].mean()
            if cid == "close_to_prompting" and v.verdict == "holds" and prompted_la < EQUIVALENCE_MARGIN:
                # both arms near zero: the model does not follow the instruction even when it is written out
                floor = {"caveat": f"at the floor: prompted LA {prompted_la:.3f}"}
                notes.append(f"{model}: 'steered LA close to prompting' holds at the floor: prompted LA is {prompted_la:.3f}, "
                             "so the model does not follow the instruction even when it is written out, and the "
                             "equivalence says nothing for steering")
            claims_.append(claim_row(v, cid, model, "05_tasks_models", tasks=done, **role, **floor))
            if cid == "steers" and not role:
                steers[model] = v
    if len(steers) >= 2:
        v = every(f"SAIF steers at every instruction-tuned size ({', '.join(steers)}; each model's tasks pooled)", steers)
        claims_.append(claim_row(v, "steers_every_size", " + ".join(steers), "05_tasks_models", tasks=list(tasks)))
    return Evidence(pd.DataFrame(rows), claims_, notes, pd.DataFrame(dev))


# ---------------------------------------------------------------- 06, 07: layers and widths


def layer_sweep(model: str, task: str, width: int, layers=None, n_dev: int | None = None, n_eval: int | None = None,
                scales=P.SCALES, **changes) -> Evidence:
    """SAIF read and steered at each layer with that layer's SAE of ``width`` latents, each
    layer's strength chosen on dev; the best earlier layer is chosen on dev too. The claim: the
    last layer beats it on the evaluation split."""
    notes: list = []
    last = get_spec(model).last_layer
    specs = {s.layer: s for s in saes.saes_of(model) if s.d_sae == width and (layers is None or s.layer in layers)}
    if len(specs) < 2:
        raise ValueError(f"{model} has SAEs of width {width} at layers {sorted(specs)}: a sweep needs two or more. "
                         "Fix: pass a width every swept layer has (make saes trains them).")
    if last not in specs:
        raise ValueError(f"{model} has no SAE of width {width} at its last layer {last}. Fix: train one (make saes).")
    tuned, dev_rows = {}, []
    for L, spec in sorted(specs.items()):
        try:
            tuned[L] = _tuned(P.arm(model, task, sae=spec.id, n_eval=n_eval, **changes), notes, n_dev, scales, dev_rows, layer=L)
        except features.SelectionError as err:  # no vector to steer with at that layer: said, not swept
            notes.append(f"layer {L}: not swept ({problem(err)})")
    if last not in tuned or len(tuned) < 2:
        notes.append(f"{model}: the last layer and an earlier layer both need a vector; no claim tested")
        return Evidence(pd.DataFrame(), [], notes, pd.DataFrame(dev_rows))
    best_dev = lambda L: max((r for r in dev_rows if r["layer"] == L), key=lambda r: (r["strict"], r["loose"]))  # noqa: E731
    earlier = max((L for L in tuned if L != last), key=lambda L: (best_dev(L)["strict"], best_dev(L)["loose"], L))
    rows = []
    for L in (earlier, last):
        rows += arm_rows(P.evaluate(tuned[L].cfg, ("original", "steered")), f"layer {L}", layer=L, scale=tuned[L].scale)
    v = superiority(f"the last layer ({last}) beats the best earlier layer ({earlier}, chosen on dev)",
                    P.outcomes(tuned[last].cfg), P.outcomes(tuned[earlier].cfg), names=(f"layer {last}", f"layer {earlier}"))
    return Evidence(pd.DataFrame(rows), [claim_row(v, "last_layer", model, "06_layer_sweep", task=task, width=width)],
                    notes, pd.DataFrame(dev_rows))


def width_sweep(model: str, task: str, layer: int, n_dev: int | None = None, n_eval: int | None = None,
                scales=P.SCALES, **changes) -> Evidence:
    """SAIF with each SAE width at ``layer``, each width's strength chosen on dev; per width the
    claim that it steers (steered SA above the original), and with two widths or more, that it
    steers with every width (``verdicts.every``)."""
    notes, rows, claims_, dev, widths = [], [], [], [], {}
    for spec in sorted((s for s in saes.saes_of(model) if s.layer == layer), key=lambda s: s.d_sae):
        t = _tuned(P.arm(model, task, sae=spec.id, n_eval=n_eval, **changes), notes, n_dev, scales, dev, d_sae=spec.d_sae)
        rows += arm_rows(P.evaluate(t.cfg, ("original", "steered")), f"width {spec.d_sae}", d_sae=spec.d_sae, scale=t.scale)
        v = superiority(f"SAIF steers with a {spec.d_sae}-latent SAE (steered SA above the original)",
                        P.outcomes(t.cfg), P.outcomes(t.cfg, "original"), names=("steered", "original"))
        claims_.append(claim_row(v, f"steers_width_{spec.d_sae}", model, "07_sae_width", task=task))
        widths[f"width {spec.d_sae}"] = v
    if len(widths) >= 2:  # the paper's "scales across SAE sizes": it steers with each width
        v = every(f"SAIF steers with every SAE width at layer {layer} ({', '.join(widths)})", widths)
        claims_.append(claim_row(v, "steers_every_width", model, "07_sae_width", task=task))
    return Evidence(pd.DataFrame(rows), claims_, notes, pd.DataFrame(dev))


# ---------------------------------------------------------------- 09: semantic proximity


def proximity_claims(model: str, tasks, sae: str | None = None, k: int = P.K, draws: int = 1000) -> Evidence:
    """Per task: the mean concept score of the selected latents against ``draws`` random draws of
    as many latents of the same SAE (``proximity``)."""
    rows, claims_, notes = [], [], []
    for task in tasks:
        cfg = fit_k(validate(P.arm(model, task, sae=sae, k=k)), notes)
        m, S = E.load_cached(cfg.model, cfg.sae)
        sv, _ = E.build_vector(cfg, m, S)
        lang = data.TARGET_LANGUAGE.get(task)
        scores = proximity.latent_scores(m, S, proximity.concept_words(task), lang)
        null = proximity.random_latent_null(scores, len(sv.latents), draws)
        v = exceeds_null(f"the selected latents promote their instruction's concept tokens ({task})",
                         float(scores[sv.latents].mean()), null)
        claims_.append(claim_row(v, "proximity", model, "09_semantic_proximity", task=task))
        rows.append({"model": model, "task": task, "score": float(scores[sv.latents].mean()), "null_mean": float(null.mean()),
                     "null_95": float(np.quantile(null, 0.95)), "p": v.p, "per_latent": scores[sv.latents].round(3).tolist()})
    return Evidence(pd.DataFrame(rows), claims_, notes)


# ---------------------------------------------------------------- 10: controls at matched norm

CONTROLS = {"random_direction": "a random direction", "random_latents": "k random latents",
            "diff_means": "the difference of means", "single_latent": "the single best latent",
            "cross_task": "another task's SAIF vector"}
CROSS_TASK = {"translate_fr": "translate_zh", "translate_zh": "translate_fr", "translate_en": "translate_fr",
              "summarize": "translate_fr", "keyword:lantern": "translate_fr"}


def controls(model: str, task: str, n_dev: int | None = None, n_eval: int | None = None, scales=P.SCALES,
             resamples: int = 3, kinds=tuple(CONTROLS), **changes) -> Evidence:
    """SAIF at its dev-tuned scale against each control at the same scale (every vector unit
    norm: matched norm), on the same items; the vector's selection re-done on ``resamples``
    bootstrap resamples of the pairs (its spread); the paper's weighting against today's and
    the selection threshold 0.9 against 0.5, as ablations at the same scale."""
    notes, dev = [], []
    saif = _tuned(P.arm(model, task, n_eval=n_eval, **changes), notes, n_dev, scales, dev, arm="SAIF")
    rows = arm_rows(P.evaluate(saif.cfg, ("original", "prompted", "steered")), "SAIF", scale=saif.scale)
    claims_ = []
    for kind in kinds:
        cfg = saif.cfg.replace(vector_task=CROSS_TASK[task]) if kind == "cross_task" else saif.cfg.replace(vector=kind)
        cfg = fit_k(cfg, notes)
        rows += arm_rows(P.evaluate(cfg), CONTROLS[kind], scale=saif.scale)
        v = superiority(f"SAIF beats {CONTROLS[kind]} at matched norm (strict)", P.outcomes(saif.cfg), P.outcomes(cfg),
                        names=("SAIF", kind))
        claims_.append(claim_row(v, f"beats_{kind}", model, "10_baselines", task=task, scale=saif.scale))
    for name, change in [("strength weighting (ablation)", {"weighting": "strength"}),
                         ("selection threshold 0.9 (ablation)", {"min_prob": 0.9})]:
        try:
            rows += arm_rows(P.evaluate(fit_k(saif.cfg.replace(**change), notes)), name, scale=saif.scale)
        except features.SelectionError as err:  # e.g. no latent fires on 90% of the positives
            notes.append(f"{name}: not run ({problem(err)})")
    for r in range(resamples):
        rows += arm_rows(P.evaluate(fit_k(saif.cfg.replace(resample=r), notes)), f"SAIF, resample {r}", scale=saif.scale)
    return Evidence(pd.DataFrame(rows), claims_, notes, pd.DataFrame(dev))
