"""SAIF end to end, as named steps, each writing one artifact of the results store (``store``):

    1. build_pairs_and_save_residuals   extraction pairs -> residuals at the SAE's layer (cached by key("pairs"))
    2. latent_statistics                residuals -> SAE latents -> strength, stability, probability
    3. select_and_save_vector           top-k latents -> steering vector + latent table (cached by key("vector"))
    4. generate_and_save_records        original / prompted / steered generations, judged, appended to records.jsonl
                                        (unsteered outputs another run of the model made are reused: ``unsteered``)
    5. summarize_and_save               strict / loose accuracy per condition -> summary.json

``run(cfg)`` chains them for one ``RunConfig``; ``run_alphas`` runs configurations that
differ only in alpha with their steered generations batched together; ``tune_alpha``
picks alpha on the dev split. The vector's strength and positions always come from the
run that applies it, never from a cached file.

Example:
    >>> cfg = RunConfig(task="translate_fr", k=8, alpha=8.0, n_eval=40)
    >>> summary = run(cfg)
    >>> summary["steered"]["strict"]
"""
from __future__ import annotations

import dataclasses
from contextlib import ExitStack
from pathlib import Path
from typing import NamedTuple

import torch
from tqdm import tqdm

from . import data, features, paths, steering, store, unsteered
from .config import CONDITIONS, VECTOR_KINDS, ConfigError, RunConfig, validate  # noqa: F401  (re-exported)
from .evaluate import JUDGE_VERSION, accuracy_by, judge
from .models import check_hub_model, get_spec, load_model
from .saes import load_sae
from .store import append_records, read_records  # noqa: F401  (re-exported)

DEV_ALPHAS = (2.0, 3.0, 4.0)


def results_root(root: Path | None = None) -> Path:
    """The results store: ``root`` if given, else ``$SAIF_RESULTS`` (default results/)."""
    return Path(root) if root is not None else paths.results_root()


def load_cached(model_id: str, sae_id: str):
    """(model, sae), each loaded once per process (``load_model`` and ``load_sae`` memoise)."""
    model = load_model(model_id)
    return model, load_sae(sae_id, model, device=model.device)


def vector_task(cfg: RunConfig) -> str:
    """The task whose extraction pairs make the vector: ``cfg.task`` unless a cross-task control names another."""
    return cfg.vector_task or cfg.task


def extraction_items(cfg: RunConfig):
    return data.split(vector_task(cfg), "extraction")


def eval_items(cfg: RunConfig):
    items = data.load_contents(cfg.contents) if cfg.contents else data.split(cfg.task, cfg.eval_split)
    if not items:
        raise ConfigError(f"no evaluation items for {cfg.task} in {cfg.contents or cfg.eval_split}. Fix: "
                          + ("give --contents a JSONL file of {\"id\", \"text\"} lines." if cfg.contents
                             else "python -m saif_core.data --make-splits"))
    if data.get_task(cfg.task).needs_keyword and any(not it.keyword for it in items):
        raise ConfigError(f"task {cfg.task} needs a 'keyword' on every contents line. "
                          "Fix: add \"keyword\" to each line, or use --task keyword:<word>.")
    return items[: cfg.n_eval]


def pairs_key(cfg: RunConfig) -> str:
    return cfg.key("pairs")


# ---------------------------------------------------------------- 1-3: pairs, statistics, vector


def build_pairs_and_save_residuals(cfg: RunConfig, model, root: Path | None = None):
    """Step 1: the extraction pairs and their (positive, negative) residuals, cached on disk
    by ``key("pairs")``: every k, vector kind and SAE at the layer reuses one forward pass."""
    pairs = data.build_pairs(vector_task(cfg), extraction_items(cfg), cfg.placement, cfg.seed, cfg.n_extract)
    path = store.pairs_path(results_root(root), cfg.task, cfg.key("pairs"))
    cached = store.load_pairs(path)
    if cached is not None:
        return pairs, *cached
    pos, neg = features.pair_residuals(model, cfg.layer, pairs, cfg.position, cfg.batch_size)
    store.save_pairs(path, pos, neg)
    return pairs, pos, neg


pair_residuals = build_pairs_and_save_residuals  # the name notebooks and tests know


def latent_statistics(cfg: RunConfig, model, sae, root: Path | None = None):
    """Step 2: ``(pairs, positive residuals, negative residuals, LatentStats)`` of the run's pairs
    (with ``cfg.resample``: of a bootstrap resample of the pairs, drawn with replacement, seeded
    by its number: how much the selection owes to which pairs were drawn)."""
    pairs, pos_resid, neg_resid = build_pairs_and_save_residuals(cfg, model, root)
    if cfg.resample is not None:
        idx = torch.randint(len(pairs), (len(pairs),), generator=torch.Generator().manual_seed(cfg.resample))
        pairs, pos_resid, neg_resid = [pairs[i] for i in idx.tolist()], pos_resid[idx], neg_resid[idx]
    with torch.no_grad():
        dev = sae.W_dec.device
        pos, neg = sae.encode(pos_resid.to(dev)).cpu(), sae.encode(neg_resid.to(dev)).cpu()
    return pairs, pos_resid, neg_resid, features.latent_stats(pos, neg)


def select_and_save_vector(cfg: RunConfig, model, sae, root: Path | None = None):
    """Step 3: the run's steering vector and latent table, cached by ``key("vector")``. The
    cached vector carries no strength or positions of any run (``apply`` gets the run's)."""
    folder = store.vector_dir(results_root(root), cfg.task, cfg.key("vector"))
    cached = store.load_vector(folder)
    if cached is not None:
        return cached
    pairs, pos_resid, neg_resid, stats = latent_statistics(cfg, model, sae, root)
    meta = {"n_pairs": len(pairs), "position": cfg.position, "min_prob": cfg.min_prob,
            "n_candidates": len(features.candidates(stats, cfg.min_prob)), "weighting": cfg.weighting,
            "vector_task": vector_task(cfg), "resample": cfg.resample}
    prov = dict(task=cfg.task, placement=cfg.placement, meta=meta)
    if cfg.vector in ("random_direction", "random_latents"):
        sv, latents = steering.random_vector(model, sae, cfg.layer, cfg.vector, cfg.k, cfg.seed, sae_id=cfg.sae, **prov)
        table = stats.table(latents)
        store.save_vector(folder, sv, table)
        return sv, table
    latents = features.select_latents(stats, 1 if cfg.vector == "single_latent" else cfg.k, cfg.min_prob)
    table = stats.table(latents)
    if cfg.vector == "diff_means":
        sv = steering.diff_means_from_residuals(model, cfg.layer, pos_resid, neg_resid, cfg.normalize, sae=cfg.sae, **prov)
    else:
        weight = "sensitivity" if cfg.weighting == "difference" else "strength"
        sv = steering.saif_vector(model, sae, cfg.layer, latents, [r[weight] for r in table], cfg.normalize,
                                  sae_id=cfg.sae, **prov)
    store.save_vector(folder, sv, table)
    return sv, table


build_vector = select_and_save_vector  # the name notebooks and tests know


def passing_latents(cfg: RunConfig, root: Path | None = None) -> int:
    """How many latents pass the selection rule for ``cfg``: the largest ``k`` a run of it can
    use. Reuses the cached pair residuals, so it costs one SAE encode after ``run``."""
    cfg = validate(cfg)
    model, sae = load_cached(cfg.model, cfg.sae)
    return len(features.candidates(latent_statistics(cfg, model, sae, root)[3], cfg.min_prob))


# ---------------------------------------------------------------- 4-5: generations, judge, summary


def condition_prompts(cfg: RunConfig, item) -> dict[str, str]:
    base = data.eval_prompts(cfg.task, item, cfg.placement)
    prompts = {"original": base["original"], "prompted": base["prompted"],
               "steered": base["original"], "prompted+steered": base["prompted"]}
    return {c: prompts[c] for c in cfg.conditions}


def judged_against(task_id: str, item) -> tuple[str | None, str | None]:
    """``(keyword, reference)`` an output for ``item`` is judged with: the task's fixed keyword
    (else the item's own), and the item's reference translation into the task's language or
    its reference summary."""
    task = data.get_task(task_id)
    key = task.target_lang or ("summary" if task.file_id == "summarize" else None)
    return task.keyword or item.keyword, item.reference(key)


class PreparedRun(NamedTuple):
    """A run ready to generate: its resolved config, items, model, vector (as this run
    applies it), latent table and folder (already holding config, latents and vector)."""
    cfg: RunConfig
    items: list
    model: object
    sv: steering.SteeringVector
    table: list
    folder: Path


def prepare_run(cfg: RunConfig, root: Path | None = None) -> PreparedRun:
    """Steps 1-3 for ``cfg`` and its run folder. Every input is checked before a model loads."""
    cfg = validate(cfg)
    items = eval_items(cfg)
    model, sae = load_cached(cfg.model, cfg.sae)
    sv, table = select_and_save_vector(cfg, model, sae, root)
    sv = dataclasses.replace(sv, alpha=cfg.alpha, positions=cfg.positions)
    folder = cfg.run_dir(results_root(root))
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "config.json").exists():
        store.write_json(folder / "config.json", cfg.asdict())
    store.write_json(folder / "latents.json", table)
    sv.save(folder / "vector")
    return PreparedRun(cfg, items, model, sv, table, folder)


def generate_and_save_records(runs: list[PreparedRun], progress: bool = True) -> None:
    """Step 4: generate, judge and store every missing record of ``runs`` (one model).
    Records that share a condition, a vector and its positions go through ``generate``
    together, each at its run's alpha, so runs that differ only in alpha (a dev sweep)
    share batches; one run's batches are exactly its conditions', in order. An unsteered
    prompt is generated once, and not at all when another run of the model made it
    (:mod:`saif_core.unsteered`)."""
    groups: dict = {}
    for run_ in runs:
        records_file = run_.folder / "records.jsonl"
        vector_key = run_.cfg.key("vector")
        done = {(r["condition"], r["content_id"]) for r in read_records(records_file)}
        for it in run_.items:
            for c, p in condition_prompts(run_.cfg, it).items():
                if (c, it.id) not in done:
                    steered = c.endswith("steered")
                    group = (c, vector_key, run_.cfg.positions) if steered else (c, None, None)
                    groups.setdefault(group, []).append((run_.cfg, it, p, records_file, run_.sv if steered else None))
    if not groups:
        return
    first, model = runs[0].cfg, runs[0].model
    root = runs[0].folder.parent
    settings = (first.max_new_tokens, first.repetition_penalty)
    shared = unsteered.outputs(first.model, *settings, root) if any(g[1] is None for g in groups) else {}

    def save(condition, jobs, outs):
        by_file: dict = {}
        for (cfg, it, prompt, records_file, _), out in zip(jobs, outs):
            keyword, reference = judged_against(cfg.task, it)
            v = judge(cfg.task, it.text, out, keyword, reference)
            by_file.setdefault(records_file, []).append(
                {"condition": condition, "content_id": it.id, "lang": it.lang, "keyword": keyword,
                 "reference": reference, "source": it.text, "prompt": prompt, "output": out,
                 "label": v.label, "reason": v.reason, "judge_version": JUDGE_VERSION})
        for records_file, recs in by_file.items():
            append_records(records_file, recs)

    bar = tqdm(total=sum(map(len, groups.values())), desc=f"{first.task} {first.key()}", disable=not progress)
    for (condition, vector_key, positions), jobs in groups.items():
        if vector_key is None:  # unsteered: each prompt once, and none another run of this model made
            todo = list(dict.fromkeys(j[2] for j in jobs if j[2] not in shared))
            for b in range(0, len(todo), first.batch_size):
                batch = todo[b : b + first.batch_size]
                outs = steering.generate(model, [model.format_prompt(p) for p in batch], first.max_new_tokens,
                                         first.batch_size, repetition_penalty=first.repetition_penalty)
                unsteered.add(first.model, zip(batch, outs), *settings, root)
                shared.update(zip(batch, outs))
                bar.update(len(batch))
            save(condition, jobs, [shared[j[2]] for j in jobs])
            bar.update(len(jobs) - len(todo))
            continue
        steer = jobs[0][4]
        for b in range(0, len(jobs), first.batch_size):
            batch = jobs[b : b + first.batch_size]
            outs = steering.generate(model, [model.format_prompt(p) for _, _, p, _, _ in batch], first.max_new_tokens,
                                     first.batch_size, steering=steer, alpha=[c.alpha for c, *_ in batch],
                                     repetition_penalty=first.repetition_penalty, positions=positions)
            save(condition, batch, outs)
            bar.update(len(batch))
    bar.close()


def rejudge_stale(run_: PreparedRun) -> int:
    """Re-judge, from their stored outputs, the records of ``run_`` that an older judge labelled
    (``judge_version`` below ``JUDGE_VERSION``), against the items' current references, and
    store them again (atomically): a changed judge never needs the generations again. Returns
    how many records it re-judged."""
    path = run_.folder / "records.jsonl"
    recs = read_records(path)
    stale = [r for r in recs if r.get("judge_version") != JUDGE_VERSION]
    if not stale:
        return 0
    items = {it.id: it for it in run_.items}
    for r in stale:
        item = items.get(r["content_id"])
        keyword, reference = judged_against(run_.cfg.task, item) if item else (r.get("keyword"), r.get("reference"))
        v = judge(run_.cfg.task, r["source"], r["output"], keyword, reference)
        r.update(keyword=keyword, reference=reference, label=v.label, reason=v.reason, judge_version=JUDGE_VERSION)
    store.rewrite_records(path, recs)
    return len(stale)


def summarize_and_save(run_: PreparedRun) -> dict:
    """Step 5: accuracy per condition over the run's items -> ``summary.json``."""
    ids = {it.id for it in run_.items}
    recs = [r for r in read_records(run_.folder / "records.jsonl") if r["content_id"] in ids]
    summary = {"config": run_.cfg.asdict(), "key": run_.cfg.key(), "n": len(run_.items),
               "latents": [r["latent"] for r in run_.table], **accuracy_by(recs, "condition")}
    store.write_json(run_.folder / "summary.json", summary)
    return summary


def run(cfg: RunConfig, root: Path | None = None, progress: bool = True) -> dict:
    """Extract (or reuse) the vector, generate every missing record, judge, summarize."""
    return run_prepared([prepare_run(cfg, root)], progress)[0]


def run_alphas(cfg: RunConfig, alphas, root: Path | None = None, progress: bool = True) -> list[dict]:
    """``run`` at each of ``alphas``, their steered generations batched together (one
    vector, one alpha per row): the summaries, in order, are those ``run`` would give."""
    return run_prepared([prepare_run(cfg.replace(alpha=float(a)), root) for a in alphas], progress)


def run_prepared(prepared: list[PreparedRun], progress: bool = True) -> list[dict]:
    """Steps 4-5 for prepared runs of one model. Each run folder is locked while it is
    filled, so two processes running the same configuration take turns instead of
    doubling its records."""
    with ExitStack() as locks:
        for folder in sorted({p.folder for p in prepared}):  # a fixed order: two sweeps never deadlock
            locks.enter_context(store.run_lock(folder))
        for p in prepared:
            rejudge_stale(p)
        generate_and_save_records(prepared, progress)
        return [summarize_and_save(p) for p in prepared]


def tune_alpha(cfg: RunConfig, alphas=DEV_ALPHAS, root: Path | None = None, progress: bool = False,
               n_dev: int | None = None) -> tuple[float, list[dict]]:
    """Pick alpha on the dev split (its first ``n_dev`` items; None: all): the steered
    condition only, generated as long as the evaluation's, best strict accuracy, then loose,
    then the smallest alpha. Returns ``(alpha, rows)``. The evaluation split is never looked at, so
    the accuracy it then gives is unbiased."""
    dev = cfg.replace(eval_split="dev", contents=None, n_eval=n_dev, conditions=("steered",))
    rows = [{"alpha": float(a), "strict": s["steered"]["strict"], "loose": s["steered"]["loose"], "n": s["n"]}
            for a, s in zip(alphas, run_alphas(dev, alphas, root, progress))]
    best = max(rows, key=lambda r: (r["strict"], r["loose"], -r["alpha"]))
    return best["alpha"], rows


def with_alpha(cfg: RunConfig, alpha, alphas=DEV_ALPHAS, root: Path | None = None, progress: bool = False,
               n_dev: int | None = None):
    """``(cfg with alpha set, dev rows)``: ``alpha`` a number (rows empty), or ``"auto"``: chosen
    on the dev split by ``tune_alpha`` over ``alphas``."""
    if alpha == "auto":
        best, rows = tune_alpha(cfg, alphas, root, progress, n_dev)
        return cfg.replace(alpha=best), rows
    return cfg.replace(alpha=float(alpha)), []


def records(cfg: RunConfig, root: Path | None = None) -> list[dict]:
    """The stored records of a run's conditions and evaluation items (what ``run`` summarised)."""
    cfg = validate(cfg)
    ids = {it.id for it in eval_items(cfg)}
    return [r for r in read_records(cfg.run_dir(results_root(root)) / "records.jsonl")
            if r["content_id"] in ids and r["condition"] in cfg.conditions]


# ---------------------------------------------------------------- profiles and sweeps

# SmolLM2 stays first (the default model); Qwen2.5-Coder is the larger instruction-tuned model,
# Gemma 3 270M the base-model contrast (issue #15)
PROFILES = {"embedded": ("smollm2-135m-instruct", "qwen2.5-coder-0.5b-instruct", "gemma-3-270m"),
            "paper": ("gemma-2-2b-it", "gemma-2-9b-it")}


def profile_models(profile: str) -> tuple[str, ...]:
    """The models of a profile: ``embedded`` (offline, this project's SAEs; the paper's two
    instruction-tuned sizes become SmolLM2-135M and Qwen2.5-Coder-0.5B, with Gemma 3 270M, a base
    model, as the contrast) or ``paper`` (Gemma-2-2b/9b-it with Gemma
    Scope, hub access needed: fails within seconds, with the fix, when it cannot be had)."""
    if profile not in PROFILES:
        raise ConfigError(f"profile={profile!r} is not one of {tuple(PROFILES)}")
    if profile == "paper":
        for m in PROFILES[profile]:
            check_hub_model(get_spec(m))
    return PROFILES[profile]


def summary_rows(summary: dict) -> list[dict]:
    """One flat row per condition of a run summary (for a DataFrame)."""
    cfg = summary["config"]
    keep = ("model", "sae", "task", "placement", "layer", "k", "alpha", "vector", "positions", "repetition_penalty")
    return [{**{f: cfg[f] for f in keep}, "condition": c, "n": summary[c]["n"], "strict": summary[c]["strict"],
             "loose": summary[c]["loose"], "strict_ci": summary[c]["strict_ci"], "loose_ci": summary[c]["loose_ci"],
             "key": summary["key"]}
            for c in cfg["conditions"]]


def sweep(base: RunConfig, field: str, values, root: Path | None = None, progress: bool = True) -> list[dict]:
    """``run`` with ``field`` set to each of ``values``; the rows of every summary, in order."""
    rows = []
    for v in values:
        rows += [{"value": v, **r} for r in summary_rows(run(base.replace(**{field: v}), root, progress))]
    return rows
