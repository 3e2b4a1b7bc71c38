"""Tables read from what is on disk, for the notebooks: the model registry, the shipped SAEs'
corpus, held-out metrics and training logs, the instruction variants, the results store's
summaries, and tables of judged records or logit-lens tokens. Nothing here loads a model or
runs one (``studies`` does).

| notebooks | functions |
|---|---|
| 00, 01 | ``model_registry``, ``models_with_saes``, ``corpus_stats``, ``corpus``, ``sae_quality``, ``training_logs``, ``heldout_texts`` |
| 04 | ``accuracy_by_language``, ``steered_examples`` |
| 09 | ``promoted_tokens``, ``target_language_share`` (of ``studies.latent_lens``' table) |
| 11 | ``instruction_variants``, ``variant_examples``, ``stored_accuracy`` |

Example:
    >>> tables.sae_quality(["smollm2-135m-instruct"])[["sae", "fvu", "l0"]]
"""
from __future__ import annotations

import json
from pathlib import Path

import pandas as pd

from . import data, paths, saes, store
from .config import KEY_NEUTRAL
from .langid import language_of
from .models import MODELS

# ---------------------------------------------------------------- models and shipped SAEs (00, 01)

QUALITY_COLUMNS = ["model", "layer", "d_sae", "fvu", "l0", "dead_fraction", "ce_increase", "train_tokens",
                   "unique_tokens", "train_minutes", "heldout_tokens", "corpus_version", "sae"]


def model_registry() -> pd.DataFrame:
    """The model registry, one row per model."""
    return pd.DataFrame([{"id": s.id, "source": s.source, "layers": s.n_layers, "d_model": s.d_model,
                          "chat": s.chat, "steering layer": s.steer_layer, "notes": s.notes} for s in MODELS.values()])


def models_with_saes() -> list[str]:
    """The models with at least one shipped SAE, sorted."""
    return sorted({s.model for s in saes.shipped_saes()})


def corpus_stats(model_id: str) -> dict:
    """Token and document counts of a model's SAE training corpus (``<SAE root>/<model>/corpus_stats.json``)."""
    return json.loads((saes.sae_root() / model_id / "corpus_stats.json").read_text())


def corpus(model_ids) -> pd.DataFrame:
    """Documents and tokens of each model's training corpus, by source and language."""
    return pd.concat({m: pd.DataFrame(corpus_stats(m)["train"]).T for m in model_ids}, names=["model", "source/lang"])


def sae_quality(models=None) -> pd.DataFrame:
    """Held-out quality of every shipped SAE of ``models`` (None: all), read from its
    ``metrics.json``, with its training tokens and time; sorted by model, layer and width.
    An SAE without ``metrics.json`` (a training run in progress) is left out."""
    rows = []
    for spec in saes.shipped_saes():
        path = spec.path / "metrics.json"
        if (models is not None and spec.model not in models) or not path.exists():
            continue
        m = json.loads(path.read_text())
        rows.append({"model": spec.model, "layer": spec.layer, "d_sae": spec.d_sae, "fvu": m["fvu"],
                     "l0": m["l0"], "dead_fraction": m["dead_fraction"], "ce_increase": m["ce_increase"],
                     "train_tokens": m["training_tokens"], "unique_tokens": m.get("unique_training_tokens"),
                     "train_minutes": m["training_seconds"] / 60, "heldout_tokens": m["n_tokens"],
                     "corpus_version": m.get("corpus_version", 1), "sae": spec.id})
    return pd.DataFrame(rows, columns=QUALITY_COLUMNS).sort_values(["model", "layer", "d_sae"]).reset_index(drop=True)


def training_logs(models) -> pd.DataFrame:
    """The training logs (``training_log.jsonl``: tokens, batch fvu, latents dead in the recent
    window, ...) of the shipped SAEs of ``models``, one after the other, with model, layer and d_sae."""
    logs = [pd.read_json(s.path / "training_log.jsonl", lines=True).assign(model=s.model, layer=s.layer, d_sae=s.d_sae)
            for s in saes.shipped_saes() if s.model in models and (s.path / "training_log.jsonl").exists()]
    return pd.concat(logs, ignore_index=True) if logs else pd.DataFrame(columns=["tokens", "fvu", "dead", "model", "layer", "d_sae"])


def heldout_texts(model_id: str, n: int | None = None) -> list[str]:
    """The first ``n`` documents (None: all) of a model's held-out SAE text, formatted as it sees them."""
    return saes.read_text_file(saes.sae_root() / model_id / "heldout.jsonl")[:n]


# ---------------------------------------------------------------- judged records (04)


def accuracy_by_language(records) -> pd.DataFrame:
    """SA and LA (to 0.01) per input language (rows) and condition (columns ``(strict|loose, condition)``)."""
    df = pd.DataFrame(records)
    return (df.assign(strict=df.label.eq("strict"), loose=df.label.isin(["strict", "loose"]))
              .groupby(["lang", "condition"])[["strict", "loose"]].mean().round(2).unstack("condition"))


def steered_examples(records, per_language: int = 2) -> list[dict]:
    """Per input language, up to ``per_language`` steered outputs (the first strict, loose and
    fail ones in split order, in that order of preference), beside the original output for the
    same input; outputs cut to 160 characters, reasons to 100."""
    df = pd.DataFrame(records)
    out = []
    for lang, grp in df[df.condition == "steered"].groupby("lang"):
        picks = [grp[grp.label == label].head(1) for label in ("strict", "loose", "fail")]
        for pick in [p for p in picks if len(p)][:per_language]:
            r = pick.iloc[0]
            orig = df[(df.condition == "original") & (df.content_id == r.content_id)].iloc[0]
            out.append({"lang": lang, "input": r.source, "original output": orig.output[:160],
                        "steered output": r.output[:160], "label": r.label, "reason": r.reason[:100]})
    return out


# ---------------------------------------------------------------- logit-lens tokens (09), variants and the store (11)


def promoted_tokens(lens: pd.DataFrame, task: str) -> list[str]:
    """The tokens ``task``'s selected latents promote (``latent_lens``; the vector's row left out),
    stripped of spaces, keeping those of at least 3 characters or with a Han character."""
    toks = [t.strip() for ts in lens[(lens.task == task) & (lens.latent != "vector")]["top tokens"] for t in ts]
    return [t for t in toks if len(t) >= 3 or any("\u4e00" <= ch <= "\u9fff" for ch in t)]


def target_language_share(lens: pd.DataFrame, task: str, lang: str) -> float:
    """The share of ``task``'s promoted tokens that the language identifier puts in ``lang`` (0 without tokens)."""
    toks = promoted_tokens(lens, task)
    return sum(language_of(t) == lang for t in toks) / max(1, len(toks))


def instruction_variants(tasks) -> pd.DataFrame:
    """Per task: how many instruction variants, paraphrases and translations, their languages, the canonical one."""
    rows = []
    for t in tasks:
        task = data.get_task(t)
        rows.append({"task": t, "variants": len(task.variants),
                     "paraphrases": sum(v.kind == "paraphrase" for v in task.variants),
                     "translations": sum(v.kind == "translation" for v in task.variants),
                     "languages": " ".join(sorted({v.lang for v in task.variants})),
                     "canonical (prompted)": task.canonical.text})
    return pd.DataFrame(rows)


def variant_examples(tasks, every: int = 4) -> pd.DataFrame:
    """Every ``every``-th instruction variant of each task."""
    return pd.DataFrame([{"task": t, "lang": v.lang, "kind": v.kind, "variant": v.text}
                         for t in tasks for v in data.get_task(t).variants[::every]])


ACCURACY_COLUMNS = ["model", "sae", "task", "placement", "k", "alpha", "condition", "n", "SA", "LA"]


def stored_accuracy(k: int, root: Path | None = None, unit_norm: bool = False) -> pd.DataFrame:
    """SA / LA (to 0.01) of every SAIF run with ``k`` latents in the results store (``root``;
    None: ``paths.results_root()``), evaluation split, unnormalised vector: one row per condition, the
    last run (in folder order) of each (model, SAE, task, placement, alpha, condition, n): runs on
    different numbers of items are different measurements and both stay. Sorted by every column
    but SA and LA, so the table does not depend on the order of the run folders. With
    ``unit_norm``, the protocol's runs (unit-norm vector at a strength) instead, with their
    vector weighting in a column."""
    rows = []
    for path in sorted((root or paths.results_root()).glob("*/summary.json")):
        s = store.read_json(path)
        if s is None:  # damaged: its run rewrites it
            continue
        c = s["config"]
        if c["eval_split"] != "evaluation" or c["vector"] != "saif" or bool(c["normalize"]) != unit_norm:
            continue
        extra = {"weighting": c.get("weighting", KEY_NEUTRAL["weighting"])} if unit_norm else {}
        for cond in c["conditions"]:
            rows.append({"model": c["model"], "sae": c["sae"].split("/", 1)[-1], "task": c["task"],
                         "placement": c["placement"], "k": c["k"], **extra, "alpha": c["alpha"], "condition": cond,
                         "n": s[cond]["n"], "SA": round(s[cond]["strict"], 2), "LA": round(s[cond]["loose"], 2)})
    cols = list(ACCURACY_COLUMNS)
    if unit_norm:
        cols.insert(cols.index("alpha"), "weighting")
    key = [c for c in cols if c not in ("SA", "LA", "k")]
    acc = pd.DataFrame(rows, columns=cols)
    order = ["model", "sae", "task", "placement"] + (["weighting"] if unit_norm else []) + ["condition", "alpha", "n"]
    return (acc[acc.k == k].drop_duplicates(key, keep="last")
            .sort_values(order, kind="stable")
            .reset_index(drop=True))
