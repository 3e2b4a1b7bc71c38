"""Run configurations end to end, and the results store.

A ``RunConfig`` is a frozen dataclass whose fields are exactly a notebook's papermill
parameters; its hash keys the store, ``results/<task>-<hash>/``:

    config.json       the configuration (written once, atomically)
    vector.json/.safetensors   the steering vector with its provenance
    latents.json      the selected latents with their statistics
    records.jsonl     one line per generation: condition, content id, prompt, output, verdict
    summary.json      strict / loose accuracy per condition, with 95% intervals

``records.jsonl`` is append-only: each batch is appended in one write and fsynced; a
killed run resumes by skipping the (condition, content id) pairs already stored, and
a torn last line from a kill mid-write is cut off before appending. Invalid configs
are refused before anything is written.

Example:
    >>> cfg = RunConfig(task="translate_fr", k=8, alpha=8.0, n_eval=40)
    >>> summary = run(cfg)
    >>> summary["steered"]["strict"]
"""
from __future__ import annotations

import dataclasses
import hashlib
import json
import math
import os
from dataclasses import dataclass
from pathlib import Path
from typing import NamedTuple

from . import data
from .models import DEFAULT_MODEL, get_spec

# The results store; SAIF_RESULTS moves it (the notebook tests run against an empty one).
RESULTS = Path(os.environ.get("SAIF_RESULTS", Path(__file__).resolve().parent.parent / "results"))
CONDITIONS = ("original", "prompted", "steered", "prompted+steered")
VECTOR_KINDS = ("saif", "diff_means", "single_latent")


def _sae_fingerprint(sae_id: str | None) -> str | None:
    from .saes import sae_fingerprint

    return sae_fingerprint(sae_id)


class ConfigError(ValueError):
    """A run configuration is invalid; the message names the field and the fix."""


@dataclass(frozen=True)
class RunConfig:
    model: str = DEFAULT_MODEL
    sae: str | None = None  # default: the model's SAE at `layer` (or its steering SAE)
    task: str = "translate_fr"
    placement: str = "post"  # of the extraction pairs
    layer: int | None = None  # default: the SAE's layer
    position: str = "last"  # where latents are read: "last" | "instruction_mean"
    k: int = 8
    min_prob: float = 0.5
    alpha: float = 1.0
    vector: str = "saif"  # "saif" | "diff_means" | "single_latent" (the top latent)
    normalize: bool = False
    positions: str = "all"  # where the vector is added: "all" | "generated"
    n_extract: int | None = None  # pairs (default: every extraction item, once)
    n_eval: int | None = None  # evaluation items (default: the whole split)
    eval_split: str = "evaluation"
    contents: str | None = None  # a contents JSONL to evaluate on instead of the split
    conditions: tuple[str, ...] = ("original", "prompted", "steered")
    seed: int = 0
    max_new_tokens: int = 64
    batch_size: int = 32
    repetition_penalty: float = 1.0  # HF generate's; 1.0 = plain greedy decoding

    def key(self) -> str:
        """Hash of what a generation depends on. ``n_eval`` and ``conditions`` are left out:
        records are stored per (condition, item), so a run on more items or conditions
        extends the same store instead of regenerating what is there. The SAE's weights
        are in (``saes.sae_fingerprint``): a retrained SAE keeps its id, not its results."""
        fields = {f: v for f, v in dataclasses.asdict(self).items() if f not in ("n_eval", "conditions")}
        fields["sae_weights"] = _sae_fingerprint(self.sae)
        blob = json.dumps(fields, sort_keys=True, default=list)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def extraction_key(self) -> str:
        """Hash of the fields the steering vector depends on (alpha and eval ones excluded)."""
        fields = ("model", "sae", "task", "placement", "layer", "position", "k", "min_prob", "vector",
                  "normalize", "n_extract", "seed")
        blob = json.dumps({**{f: getattr(self, f) for f in fields}, "sae_weights": _sae_fingerprint(self.sae)},
                          sort_keys=True)
        return hashlib.sha256(blob.encode()).hexdigest()[:12]

    def run_dir(self, root: Path | None = None) -> Path:
        return (root or RESULTS) / f"{self.task}-{self.key()}"


def validate(cfg: RunConfig) -> RunConfig:
    """Check every field that can be checked without loading anything; return the config
    with ``sae`` and ``layer`` resolved. Raises ConfigError (or the registries' errors)."""
    from .saes import default_sae_id, get_sae_spec, registry

    spec = get_spec(cfg.model)
    data.get_task(cfg.task)
    for name, value, allowed in [("placement", cfg.placement, data.PLACEMENTS), ("position", cfg.position, ("last", "instruction_mean")),
                                 ("vector", cfg.vector, VECTOR_KINDS), ("positions", cfg.positions, ("all", "generated")),
                                 ("eval_split", cfg.eval_split, data.SPLIT_NAMES)]:
        if value not in allowed:
            raise ConfigError(f"{name}={value!r} is not one of {allowed}")
    bad = [c for c in cfg.conditions if c not in CONDITIONS]
    if bad or not cfg.conditions:
        raise ConfigError(f"conditions {list(cfg.conditions)}: each must be one of {CONDITIONS}")
    if not isinstance(cfg.alpha, (int, float)) or not math.isfinite(cfg.alpha):
        raise ConfigError(f"alpha={cfg.alpha!r} is not a finite number. Fix: pass e.g. alpha=8")
    if not isinstance(cfg.repetition_penalty, (int, float)) or not math.isfinite(cfg.repetition_penalty) \
            or cfg.repetition_penalty <= 0:
        raise ConfigError(f"repetition_penalty={cfg.repetition_penalty!r} must be a finite number > 0 (1.0 = off)")
    for name in ("k", "max_new_tokens", "batch_size"):
        if getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1, got {getattr(cfg, name)}")
    for name in ("n_extract", "n_eval"):
        if getattr(cfg, name) is not None and getattr(cfg, name) < 1:
            raise ConfigError(f"{name} must be at least 1 (or None for all), got {getattr(cfg, name)}")
    if cfg.layer is not None and not -spec.n_layers <= cfg.layer < spec.n_layers:
        raise ConfigError(f"layer {cfg.layer} is out of range for {cfg.model} (0..{spec.last_layer})")
    layer = None if cfg.layer is None else cfg.layer % spec.n_layers
    if cfg.sae is None:
        if layer is None or layer == spec.steer_layer:
            sae = default_sae_id(cfg.model)
        else:
            at = [s for s in registry().values() if s.model == cfg.model and s.layer == layer]
            if not at:
                have = sorted({s.layer for s in registry().values() if s.model == cfg.model})
                raise ConfigError(f"no SAE of {cfg.model} at layer {layer}; layers with SAEs: {have}. "
                                  "Fix: pick one of those layers or pass --sae.")
            sae = min(at, key=lambda s: s.d_sae).id
    else:
        sae = cfg.sae
    sae_spec = get_sae_spec(sae)
    if sae_spec.model != cfg.model:
        raise ConfigError(f"SAE {sae} belongs to {sae_spec.model}, not {cfg.model}. Fix: pick an SAE of {cfg.model}.")
    if layer is not None and layer != sae_spec.layer:
        raise ConfigError(f"layer {layer} does not match SAE {sae} (hook {sae_spec.hook}). "
                          "Fix: drop --layer, or pass an SAE trained at that layer.")
    if cfg.contents is not None and not Path(cfg.contents).exists():
        raise ConfigError(f"contents file {cfg.contents} does not exist")
    return dataclasses.replace(cfg, sae=sae, layer=sae_spec.layer)


# ---------------------------------------------------------------- the store


def _write_atomic(path: Path, text: str) -> None:
    tmp = path.with_suffix(path.suffix + ".tmp")
    tmp.write_text(text)
    os.replace(tmp, path)


def read_records(path: Path) -> list[dict]:
    """Complete records of a JSONL store; a torn last line (kill mid-write) is dropped
    from the file so the next append starts clean."""
    if not path.exists():
        return []
    raw = path.read_bytes()
    good_end = raw.rfind(b"\n") + 1
    if good_end < len(raw):
        with open(path, "r+b") as f:
            f.truncate(good_end)
    return [json.loads(line) for line in raw[:good_end].decode().splitlines() if line.strip()]


def append_records(path: Path, records: list[dict]) -> None:
    """Append records in one write, then fsync: a batch lands whole or is torn at the end."""
    if not records:
        return
    blob = "".join(json.dumps(r, ensure_ascii=False) + "\n" for r in records).encode()
    fd = os.open(path, os.O_WRONLY | os.O_APPEND | os.O_CREAT, 0o644)
    try:
        os.write(fd, blob)
        os.fsync(fd)
    finally:
        os.close(fd)


# ---------------------------------------------------------------- running


_LOADED: dict = {}


def load_cached(model_id: str, sae_id: str):
    """(model, sae), loaded once per process: notebooks run many configurations."""
    from .models import load_model
    from .saes import load_sae

    if ("model", model_id) not in _LOADED:
        _LOADED[("model", model_id)] = load_model(model_id)
    model = _LOADED[("model", model_id)]
    if ("sae", sae_id) not in _LOADED:
        _LOADED[("sae", sae_id)] = load_sae(sae_id, model, device=model.device)
    return model, _LOADED[("sae", sae_id)]


def extraction_items(cfg: RunConfig):
    return data.split(cfg.task, "extraction")


def eval_items(cfg: RunConfig):
    items = data.load_contents(cfg.contents) if cfg.contents else data.split(cfg.task, cfg.eval_split)
    if not items:
        raise ConfigError(f"no evaluation items for {cfg.task} ({cfg.contents or cfg.eval_split})")
    if data.get_task(cfg.task).needs_keyword and any(not it.keyword for it in items):
        raise ConfigError(f"task {cfg.task} needs a 'keyword' on every contents line")
    return items[: cfg.n_eval]


def pairs_key(cfg: RunConfig) -> str:
    """Hash of what the extraction pairs' residuals depend on (not k, the vector kind or the SAE)."""
    fields = ("model", "task", "placement", "layer", "position", "n_extract", "seed")
    blob = json.dumps({f: getattr(cfg, f) for f in fields}, sort_keys=True)
    return hashlib.sha256(blob.encode()).hexdigest()[:12]


def pair_residuals(cfg: RunConfig, model, root: Path | None = None):
    """The extraction pairs and their (positive, negative) residuals, cached on disk by
    ``pairs_key``: every k, vector kind and SAE at the layer reuses one forward pass."""
    from safetensors.torch import load_file, save_file

    from . import features

    pairs = data.build_pairs(cfg.task, extraction_items(cfg), cfg.placement, cfg.seed, cfg.n_extract)
    path = (root or RESULTS) / "vectors" / f"{cfg.task}-pairs-{pairs_key(cfg)}.safetensors"
    if path.exists():
        t = load_file(str(path))
        return pairs, t["positive"], t["negative"]
    pos, neg = features.pair_residuals(model, cfg.layer, pairs, cfg.position, cfg.batch_size)
    path.parent.mkdir(parents=True, exist_ok=True)
    tmp = path.with_suffix(".tmp")
    save_file({"positive": pos.contiguous(), "negative": neg.contiguous()}, str(tmp))
    os.replace(tmp, path)
    return pairs, pos, neg


def build_vector(cfg: RunConfig, model, sae, root: Path | None = None):
    """The run's steering vector and latent table, cached by ``cfg.extraction_key()``."""
    from . import features
    from .steering import SteeringVector, diff_means_from_residuals, saif_vector

    folder = (root or RESULTS) / "vectors" / f"{cfg.task}-{cfg.extraction_key()}"
    if (folder / "vector.json").exists() and (folder / "latents.json").exists():
        sv = SteeringVector.load(folder / "vector")
        if "n_candidates" in sv.meta:  # else: written by an older version, rebuilt below
            return sv, json.loads((folder / "latents.json").read_text())
    pairs, pos_resid, neg_resid, stats = _pair_stats(cfg, model, sae, root)
    prov = dict(task=cfg.task, placement=cfg.placement, alpha=cfg.alpha, positions=cfg.positions,
                meta={"n_pairs": len(pairs), "position": cfg.position, "min_prob": cfg.min_prob})
    prov["meta"]["n_candidates"] = len(features.candidates(stats, cfg.min_prob))
    latents = features.select_latents(stats, 1 if cfg.vector == "single_latent" else cfg.k, cfg.min_prob)
    table = stats.table(latents)
    if cfg.vector == "diff_means":
        sv = diff_means_from_residuals(model, cfg.layer, pos_resid, neg_resid, cfg.normalize, sae=cfg.sae, **prov)
    else:
        sv = saif_vector(model, sae, cfg.layer, latents, [r["strength"] for r in table], cfg.normalize,
                         sae_id=cfg.sae, **prov)
    folder.mkdir(parents=True, exist_ok=True)
    _write_atomic(folder / "latents.json", json.dumps(table, indent=1) + "\n")
    sv.save(folder / "vector")
    return sv, table


def _pair_stats(cfg: RunConfig, model, sae, root: Path | None = None):
    """``(pairs, positive residuals, negative residuals, LatentStats)`` of the run's pairs."""
    import torch

    from . import features

    pairs, pos_resid, neg_resid = pair_residuals(cfg, model, root)
    with torch.no_grad():
        dev = sae.W_dec.device
        pos, neg = sae.encode(pos_resid.to(dev)).cpu(), sae.encode(neg_resid.to(dev)).cpu()
    return pairs, pos_resid, neg_resid, features.latent_stats(pos, neg)


def passing_latents(cfg: RunConfig, root: Path | None = None) -> int:
    """How many latents pass the selection rule for ``cfg`` (its task, placement, pairs,
    position, SAE and ``min_prob``): the largest ``k`` a run of it can use. Reuses the
    cached pair residuals, so it costs one SAE encode when ``run`` has been called."""
    from . import features

    cfg = validate(cfg)
    model, sae = load_cached(cfg.model, cfg.sae)
    return len(features.candidates(_pair_stats(cfg, model, sae, root)[3], cfg.min_prob))


def condition_prompts(cfg: RunConfig, item) -> dict[str, str]:
    base = data.eval_prompts(cfg.task, item, cfg.placement)
    prompts = {"original": base["original"], "prompted": base["prompted"],
               "steered": base["original"], "prompted+steered": base["prompted"]}
    return {c: prompts[c] for c in cfg.conditions}


class _Prepared(NamedTuple):
    """A run ready to generate: its resolved config, items, model, vector, latent table and
    folder (already written with config, latents and vector)."""
    cfg: RunConfig
    items: list
    model: object
    sv: object
    table: list
    folder: Path


def _prepare(cfg: RunConfig, root: Path | None) -> _Prepared:
    cfg = validate(cfg)
    items = eval_items(cfg)
    model, sae = load_cached(cfg.model, cfg.sae)
    sv, table = build_vector(cfg, model, sae, root)
    folder = cfg.run_dir(root)
    folder.mkdir(parents=True, exist_ok=True)
    if not (folder / "config.json").exists():
        _write_atomic(folder / "config.json", json.dumps(dataclasses.asdict(cfg), indent=1) + "\n")
    _write_atomic(folder / "latents.json", json.dumps(table, indent=1) + "\n")
    sv.save(folder / "vector")
    return _Prepared(cfg, items, model, sv, table, folder)


def _generate_missing(runs: list[_Prepared], progress: bool) -> None:
    """Generate, judge and store every missing record of ``runs`` (``_prepare`` tuples of
    one model). Records that share a condition and a vector go through ``generate``
    together, each at its run's alpha, so runs that differ only in alpha (a dev sweep)
    share batches; one run's batches are exactly its conditions', in order."""
    from tqdm import tqdm

    from .evaluate import judge
    from .steering import generate

    groups: dict = {}
    for run_ in runs:
        store = run_.folder / "records.jsonl"
        vector_key = run_.cfg.extraction_key()
        done = {(r["condition"], r["content_id"]) for r in read_records(store)}
        for it in run_.items:
            for c, p in condition_prompts(run_.cfg, it).items():
                if (c, it.id) not in done:
                    steered = c.endswith("steered")
                    groups.setdefault((c, vector_key if steered else None), []).append(
                        (run_.cfg, it, p, store, run_.sv if steered else None))
    if not groups:
        return
    first, model = runs[0].cfg, runs[0].model
    bar = tqdm(total=sum(map(len, groups.values())), desc=f"{first.task} {first.key()}", disable=not progress)
    for (condition, _), jobs in groups.items():
        steer = jobs[0][4]
        for b in range(0, len(jobs), first.batch_size):
            batch = jobs[b : b + first.batch_size]
            outs = generate(model, [model.format_prompt(p) for _, _, p, _, _ in batch], first.max_new_tokens,
                            first.batch_size, steering=steer, alpha=[c.alpha for c, *_ in batch] if steer else None,
                            repetition_penalty=first.repetition_penalty)
            by_store: dict = {}
            for (cfg, it, prompt, store, _), out in zip(batch, outs):
                v = judge(cfg.task, it.text, out, it.keyword)
                by_store.setdefault(store, []).append(
                    {"condition": condition, "content_id": it.id, "lang": it.lang, "keyword": it.keyword,
                     "source": it.text, "prompt": prompt, "output": out, "label": v.label, "reason": v.reason})
            for store, recs in by_store.items():
                append_records(store, recs)
            bar.update(len(batch))
    bar.close()


def _summarize(cfg: RunConfig, items, table, folder: Path) -> dict:
    from .evaluate import accuracy_by

    records = [r for r in read_records(folder / "records.jsonl") if r["content_id"] in {it.id for it in items}]
    summary = {"config": dataclasses.asdict(cfg), "key": cfg.key(), "n": len(items), "latents": [r["latent"] for r in table],
               **accuracy_by(records, "condition")}
    _write_atomic(folder / "summary.json", json.dumps(summary, indent=1) + "\n")
    return summary


def run(cfg: RunConfig, root: Path | None = None, progress: bool = True) -> dict:
    """Extract (or reuse) the vector, generate every missing record, judge, summarize."""
    prepared = _prepare(cfg, root)
    _generate_missing([prepared], progress)
    return _summarize(prepared.cfg, prepared.items, prepared.table, prepared.folder)


def run_alphas(cfg: RunConfig, alphas, root: Path | None = None, progress: bool = True) -> list[dict]:
    """``run`` at each of ``alphas``, their steered generations batched together (one
    vector, one alpha per row): the summaries, in order, are those ``run`` would give."""
    prepared = [_prepare(dataclasses.replace(cfg, alpha=float(a)), root) for a in alphas]
    _generate_missing(prepared, progress)
    return [_summarize(p.cfg, p.items, p.table, p.folder) for p in prepared]


DEV_ALPHAS = (2.0, 3.0, 4.0)


def tune_alpha(cfg: RunConfig, alphas=DEV_ALPHAS, root: Path | None = None, progress: bool = False,
               n_dev: int | None = None) -> tuple[float, list[dict]]:
    """Pick alpha on the dev split (its first ``n_dev`` items; None: all): the steered
    condition only, at most 48 new tokens, best strict accuracy, then loose, then the
    smallest alpha. Returns ``(alpha, rows)``. The evaluation split is never looked at, so
    the accuracy it then gives is unbiased."""
    dev = dataclasses.replace(cfg, eval_split="dev", contents=None, n_eval=n_dev,
                              max_new_tokens=min(cfg.max_new_tokens, 48), conditions=("steered",))
    rows = [{"alpha": float(a), "strict": s["steered"]["strict"], "loose": s["steered"]["loose"], "n": s["n"]}
            for a, s in zip(alphas, run_alphas(dev, alphas, root, progress))]
    best = max(rows, key=lambda r: (r["strict"], r["loose"], -r["alpha"]))
    return best["alpha"], rows


# ---------------------------------------------------------------- notebook helpers

PROFILES = {"embedded": ("smollm2-135m-instruct", "gemma-3-270m"), "paper": ("gemma-2-2b-it", "gemma-2-9b-it")}


def profile_models(profile: str) -> tuple[str, ...]:
    """The models of a profile: ``embedded`` (offline, this project's SAEs; the paper's two
    sizes become SmolLM2-135M and Gemma 3 270M) or ``paper`` (Gemma-2-2b/9b-it with Gemma
    Scope, hub access needed: fails within seconds, with the fix, when it cannot be had)."""
    from .models import check_hub_model

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
        rows += [{"value": v, **r} for r in summary_rows(run(dataclasses.replace(base, **{field: v}), root, progress))]
    return rows


def with_alpha(cfg: RunConfig, alpha, alphas=DEV_ALPHAS, root: Path | None = None, progress: bool = False,
               n_dev: int | None = None):
    """``(cfg with alpha set, dev rows)``: ``alpha`` a number (rows empty), or ``"auto"``: chosen
    on the dev split by ``tune_alpha`` over ``alphas``."""
    if alpha == "auto":
        best, rows = tune_alpha(cfg, alphas, root, progress, n_dev)
        return dataclasses.replace(cfg, alpha=best), rows
    return dataclasses.replace(cfg, alpha=float(alpha)), []


def records(cfg: RunConfig, root: Path | None = None) -> list[dict]:
    """The stored records of a run's conditions and evaluation items (what ``run`` summarised)."""
    cfg = validate(cfg)
    ids = {it.id for it in eval_items(cfg)}
    return [r for r in read_records(cfg.run_dir(root) / "records.jsonl")
            if r["content_id"] in ids and r["condition"] in cfg.conditions]
