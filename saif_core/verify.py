"""``saif verify``: re-generate a seeded random sample of the shipped record and compare.

The record (``record/``) is what the committed figures are derived from; this is a user's
check that it is real. A sample of its generations (default 2%, seeded) is generated again
from each record's own prompt, with its run's model, steering vector (the run folder's
``vector.safetensors``), alpha, positions, decoding settings and batch size, and each output
is compared with the shipped one, character for character.

Decoding is greedy, so on the same torch build and CPU kind the outputs should match. The
sampled records are batched together per run and condition, which is not always the batch
they were first generated in (a dev sweep batches several alphas); left padding then changes
the float arithmetic slightly, and at a near-tie of two tokens greedy decoding can take the
other one. Another torch build, BLAS or a GPU changes the arithmetic the same way: expect most
outputs to match and a few to diverge after a common prefix, never all of them.
"""
from __future__ import annotations

import gzip
import json
import random
from pathlib import Path

from tqdm.auto import tqdm

from . import data, paths, steering, unsteered
from .config import RunConfig
from .models import load_model
from .steering import SteeringVector


def shipped_records(record: Path | None = None) -> list[tuple[Path, dict]]:
    """``(run folder, record)`` for every generation of the record, in a stable order (the
    unsteered store, ``unsteered.DIR``, holds copies of runs' outputs: not sampled twice)."""
    record = Path(record or paths.record_root())
    out = []
    for gz in sorted(record.rglob("records.jsonl.gz")):
        if gz.relative_to(record).parts[0] == unsteered.DIR:
            continue
        for line in gzip.decompress(gz.read_bytes()).decode("utf-8").splitlines():
            if line.strip():
                out.append((gz.parent, json.loads(line)))
    return out


# How ``scripts/prompted_accuracy.py`` generated the prompted table (``record/prompted/``), whose
# folders hold no run configuration: greedy, 128 new tokens, batches of 16, the canonical prompt.
PROMPTED_TABLE = {"max_new_tokens": 128, "batch_size": 16}


def _config(folder: Path, rec: dict) -> RunConfig:
    """The run configuration behind a record: its folder's ``config.json``, or the prompted table's settings."""
    if not (folder / "config.json").exists():
        return RunConfig(model=rec["model"], task=rec["task"], conditions=("prompted",), **PROMPTED_TABLE)
    return RunConfig.from_file(folder / "config.json")


def _prompt(rec: dict) -> str:
    if "prompt" in rec:
        return rec["prompt"]
    item = next(it for it in data.split(rec["task"], "evaluation") if it.id == rec["content_id"])
    return data.eval_prompts(rec["task"], item)["prompted"]


def verify(sample: float = 0.02, seed: int = 0, record: Path | None = None, progress: bool = True) -> dict:
    """Re-generate ``sample`` of the record's generations (at least one); returns
    ``{"checked", "matched", "exact_match_rate", "divergences": [...], "by_model": {...}}``."""
    if not 0 < sample <= 1:
        raise ValueError(f"--sample {sample} is not in (0, 1]. Fix: pass a fraction such as 0.02.")
    root = Path(record or paths.record_root())
    everything = shipped_records(root)
    if not everything:
        raise ValueError(f"no shipped record under {Path(record or paths.record_root())} (SAIF_RECORD). "
                         "Fix: `git checkout -- record`, or point SAIF_RECORD at one.")
    rng = random.Random(seed)
    chosen = rng.sample(range(len(everything)), max(1, round(sample * len(everything))))
    groups: dict = {}
    for i in sorted(chosen):
        folder, rec = everything[i]
        groups.setdefault((folder, rec.get("condition", "prompted")), []).append(rec)
    checked, divergences, by_model = 0, [], {}
    bar = tqdm(total=len(chosen), desc="verify", disable=not progress)
    for (folder, condition), recs in sorted(groups.items(), key=lambda kv: (str(kv[0][0]), kv[0][1])):
        cfg = _config(folder, recs[0])
        model = load_model(cfg.model)
        steered = condition.endswith("steered")
        sv = SteeringVector.load(folder / "vector") if steered else None
        outs = steering.generate(model, [model.format_prompt(_prompt(r)) for r in recs], cfg.max_new_tokens,
                                 cfg.batch_size, steering=sv, alpha=cfg.alpha if steered else None,
                                 repetition_penalty=cfg.repetition_penalty,
                                 positions=cfg.positions if steered else None)
        for rec, out in zip(recs, outs):
            checked += 1
            stats = by_model.setdefault(cfg.model, {"checked": 0, "matched": 0})
            stats["checked"] += 1
            if out == rec["output"]:
                stats["matched"] += 1
            else:
                common = next((i for i, (a, b) in enumerate(zip(out, rec["output"])) if a != b),
                              min(len(out), len(rec["output"])))
                divergences.append({"run": str(folder.relative_to(root)), "condition": condition, "content_id": rec["content_id"],
                                    "common_prefix_chars": common, "shipped": rec["output"], "regenerated": out})
        bar.update(len(recs))
    bar.close()
    matched = checked - len(divergences)
    return {"record_generations": len(everything), "checked": checked, "matched": matched,
            "exact_match_rate": round(matched / checked, 4), "seed": seed, "sample": sample,
            "by_model": by_model, "divergences": divergences}
