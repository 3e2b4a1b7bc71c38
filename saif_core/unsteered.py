"""Outputs of the unsteered conditions (original, prompted), shared by every run of a model.

An unsteered output depends on the model's weights, the prompt and the generation settings
(``max_new_tokens``, ``repetition_penalty``), not on the vector, its strength, k, the layer or
the SAE. Every arm of a study (each k, layer, width, control) is its own run, with its own
records, so without this store each would generate the same original and prompted outputs
again. ``experiments.generate_and_save_records`` reads them from here first and adds what it
generates, so a run's records are the same whichever run made an unsteered output first.

Greedy generation is deterministic up to the batch a prompt shares: left padding changes the
float sums a little, so an output made in another batch is one the run could have made itself
(the batch size is in no key for the same reason).

Layout: ``<results>/unsteered/<model>-<weights fingerprint>/records.jsonl``, one line per
(prompt, max_new_tokens, repetition_penalty); ``saif record save`` ships it like a run's records.

Example:
    >>> import tempfile
    >>> root = Path(tempfile.mkdtemp())
    >>> add("smollm2-135m-instruct", [("Le chat dort.", "The cat sleeps.")], 128, 1.0, root)
    1
    >>> outputs("smollm2-135m-instruct", 128, 1.0, root)["Le chat dort."]
    'The cat sleeps.'
"""
from __future__ import annotations

import hashlib
from pathlib import Path

from .config import CONDITIONS, RunConfig, model_fingerprint
from .store import append_records, read_records

DIR = "unsteered"  # under the results store (and the record)
CONDITION = "unsteered"
UNSTEERED = tuple(c for c in CONDITIONS if not c.endswith("steered"))  # original, prompted


def folder(model_id: str, root: Path) -> Path:
    """``<root>/unsteered/<model>-<weights fingerprint>``: a changed model keeps its id, not its outputs."""
    return Path(root) / DIR / f"{model_id}-{(model_fingerprint(model_id) or 'unknown')[:12]}"


def entry_key(prompt: str, max_new_tokens: int, repetition_penalty: float) -> str:
    blob = f"{max_new_tokens}\x00{float(repetition_penalty)!r}\x00{prompt}".encode()
    return hashlib.sha256(blob).hexdigest()[:20]


def outputs(model_id: str, max_new_tokens: int, repetition_penalty: float, root: Path) -> dict[str, str]:
    """``{prompt: output}`` of the stored outputs made with these settings (unformatted prompts)."""
    rows = read_records(folder(model_id, root) / "records.jsonl")
    return {r["prompt"]: r["output"] for r in rows
            if r["content_id"] == entry_key(r["prompt"], max_new_tokens, repetition_penalty)}


def add(model_id: str, pairs, max_new_tokens: int, repetition_penalty: float, root: Path) -> int:
    """Store ``(prompt, output)`` pairs made with these settings (a prompt already there is kept
    as it was); returns how many were added."""
    path = folder(model_id, root) / "records.jsonl"
    have = {r["content_id"] for r in read_records(path)}
    new, seen = [], set()
    for prompt, output in pairs:
        key = entry_key(prompt, max_new_tokens, repetition_penalty)
        if key not in have and key not in seen:
            seen.add(key)
            new.append({"condition": CONDITION, "content_id": key, "prompt": prompt, "output": output,
                        "max_new_tokens": max_new_tokens, "repetition_penalty": float(repetition_penalty)})
    if new:
        path.parent.mkdir(parents=True, exist_ok=True)
        append_records(path, new)
    return len(new)


def seed_from_runs(root: Path) -> dict[str, int]:
    """Add the unsteered outputs of every run folder under ``root`` whose configuration still
    has the folder's key (so its model weights are today's; a stale run is skipped); returns
    ``{model: outputs added}``. Runs made before this store existed then share theirs."""
    added: dict[str, int] = {}
    for config in sorted(Path(root).glob("*/config.json")):
        try:
            cfg = RunConfig.from_file(config)
            current = config.parent.name == f"{cfg.task}-{cfg.key()}"
        except (TypeError, ValueError, OSError):  # a config an older version wrote, or an unknown model
            current = False
        if not current:
            continue
        rows = [r for r in read_records(config.parent / "records.jsonl") if r["condition"] in UNSTEERED]
        n = add(cfg.model, [(r["prompt"], r["output"]) for r in rows], cfg.max_new_tokens, cfg.repetition_penalty, root)
        added[cfg.model] = added.get(cfg.model, 0) + n
    return added
