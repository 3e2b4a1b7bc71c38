"""Shipping trained SAEs: the on-disk folder, its held-out metrics, the quality bar, the README.

``data/saes/<model>/blocks.<L>.hook_resid_post/width_<d_sae>/`` holds ``cfg.json`` + fp16
``sae_weights.safetensors`` (sae-lens' on-disk format; BatchTopK is saved by sae-lens as
JumpReLU, Gemma Scope's inference architecture), ``training_config.json``,
``training_log.jsonl`` and ``metrics.json`` (held-out FVU, L0, dead fraction, CE increase
from ``sae_metrics.sae_metrics`` on the raw activations). ``data/saes/README.md`` is rendered from
the prose of ``data/saes/README.head.md`` and the tables of every shipped ``metrics.json``.

Example:
    >>> folder = sae_dir(paths.sae_root(), "smollm2-135m-instruct", 29, 4608)
    >>> bar_failures(json.loads((folder / "metrics.json").read_text()), "smollm2-135m-instruct", 29)
    []
"""
from __future__ import annotations

import json
import shutil
from pathlib import Path

import torch

from . import paths, sae_metrics, saes
from .corpus import CORPUS_VERSION
from .models import DEFAULT_MODEL, SaifModel, get_spec, hook_name

README_HEAD = paths.DATA_DIR / "saes" / "README.head.md"  # the README's prose, before the tables


def sae_dir(out: Path, model_id: str, layer: int, d_sae: int) -> Path:
    return Path(out) / model_id / hook_name(layer) / f"width_{d_sae}"


def is_current(folder: Path) -> bool:
    """Shipped, with metrics, from the current corpus version."""
    mp = folder / "metrics.json"
    return mp.exists() and json.loads(mp.read_text()).get("corpus_version", 1) == CORPUS_VERSION


def ship_sae(sae, folder: Path) -> None:
    """Save the inference SAE (JumpReLU) in sae-lens' format with fp16 weights."""
    from safetensors.torch import load_file, save_file

    tmp = folder.with_name(folder.name + ".tmp")
    shutil.rmtree(tmp, ignore_errors=True)
    weights, cfg_path = sae.save_inference_model(tmp)
    state = {k: v.to(torch.float16).contiguous() for k, v in load_file(str(weights)).items()}
    save_file(state, str(weights))
    cfg = json.loads(cfg_path.read_text())
    cfg["dtype"] = "float16"  # as stored; load with dtype="float32" (saes.load_sae does)
    cfg_path.write_text(json.dumps(cfg, indent=2))
    folder.mkdir(parents=True, exist_ok=True)
    for p in tmp.iterdir():
        shutil.move(str(p), folder / p.name)
    tmp.rmdir()


def evaluate_shipped(model: SaifModel, folder: Path, layer: int, texts: list[str]) -> dict:
    """Held-out metrics of a shipped SAE, loaded back from its folder in fp32."""
    from sae_lens import SAE

    sae = SAE.load_from_disk(folder, device="cpu", dtype="float32")
    sae.eval()
    return sae_metrics.sae_metrics(model, sae, layer, texts)


def write_heldout(model_id: str, heldout: list[dict], out: Path) -> Path:
    """``<out>/<model>/heldout.jsonl`` (the default model's also ``<out>/heldout.jsonl``)."""
    path = Path(out) / model_id / "heldout.jsonl"
    path.parent.mkdir(parents=True, exist_ok=True)
    lines = [json.dumps({"text": d["text"], "source": d["source"], "lang": d["lang"], "id": d["id"]},
                        ensure_ascii=False) for d in heldout]
    path.write_text("\n".join(lines) + "\n", encoding="utf-8")
    if model_id == DEFAULT_MODEL:
        shutil.copyfile(path, Path(out) / "heldout.jsonl")
    return path


def bar_failures(m: dict, model_id: str, layer: int) -> list[str]:
    """What an SAE's held-out ``metrics.json`` misses of the quality bar (empty: met)."""
    fails = []
    if layer == get_spec(model_id).last_layer and m["fvu"] > 0.2:
        fails.append(f"FVU {m['fvu']:.3f} > 0.2")
    if not 16 <= m["l0"] <= 128:
        fails.append(f"L0 {m['l0']:.1f} outside 16-128")
    if m["dead_fraction"] > 0.10:
        fails.append(f"dead {m['dead_fraction']:.1%} > 10%")
    if m.get("corpus_version", 1) != CORPUS_VERSION:
        fails.append(f"corpus v{m.get('corpus_version', 1)}")
    return fails


def write_readme(out: Path | None = None, status: str = "") -> Path:
    """Render ``<out>/README.md`` (default ``paths.sae_root()``): ``README_HEAD``'s prose, the
    corpus and the quality tables, and ``status`` (what the shipped set lacks)."""
    out = Path(out) if out is not None else paths.sae_root()
    lines = [README_HEAD.read_text(encoding="utf-8")]
    for stats_path in sorted(out.glob("*/corpus_stats.json")):
        lines += _corpus_table(stats_path.parent.name, json.loads(stats_path.read_text()))
    lines += ["## Quality on held-out text", "",
              "FVU = sum ||x - x_hat||^2 / sum ||x - mean x||^2 over held-out tokens; L0 = mean active latents "
              "per token; dead = latents that never fire on the held-out set; CE = mean next-token "
              "cross-entropy (nats) clean and with the reconstruction spliced in. Reproduce one row with "
              "`saif sae-eval --model <model> --sae <id> --text-file data/saes/<model>/heldout.jsonl --json` "
              "(documents cut at 128 tokens, its default and the table's; `--max-len 256` reads 10% more "
              "tokens, later positions included, and gives somewhat different figures).", "",
              "`bar`: the quality bar of the issue that asked for these SAEs (FVU <= 0.2 at the last layer, "
              "16 <= L0 <= 128, dead <= 10%, trained on the current corpus version), or what misses it.", "",
              "| SAE id | k | FVU | L0 | dead | CE clean | CE spliced | CE increase | held-out tokens | "
              "train tokens (unique) | train time | corpus | bar |",
              "|---|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---:|---|"]
    for spec in saes.shipped_saes(out):
        mp = spec.path / "metrics.json"
        if not mp.exists():
            continue
        m = json.loads(mp.read_text())
        lines.append(
            f"| `{spec.id}` | {m.get('k', '')} | {m['fvu']:.3f} | {m['l0']:.1f} | {m['dead_fraction']:.1%} | "
            f"{m['ce_clean']:.3f} | {m['ce_spliced']:.3f} | {m['ce_increase']:+.3f} | {m['n_tokens']:,} | "
            f"{m['training_tokens']:,} ({m.get('unique_training_tokens', 0):,}) | "
            f"{m['training_seconds'] / 60:.1f} min | v{m.get('corpus_version', 1)} | "
            f"{', '.join(bar_failures(m, spec.model, spec.layer)) or 'met'} |")
    lines += ["", "## Reproduce", "",
              "`make saes` runs `python -m saif_core.train_saes` for each embedded model (corpus if missing, "
              "activation cache under `$SAIF_CACHE/sae_work/<model>`, training, evaluation, this README); "
              "shipped SAEs (with a `metrics.json`) are skipped, interrupted runs resume from their "
              "checkpoint. `notebooks/00_train_saes.ipynb` shows the same tables and the training curves "
              "(`retrain=True` to retrain).", ""]
    if status:
        lines += ["## Status", "", status, ""]
    path = out / "README.md"
    path.write_text("\n".join(lines), encoding="utf-8")
    return path


def _corpus_table(model_id: str, st: dict) -> list[str]:
    lines = [f"### Corpus of `{model_id}`", "",
             f"{st['train_tokens']:,} training tokens (position 0 excluded) in the corpus, "
             f"{st['heldout_tokens']:,} held-out tokens. The activation cache an SAE trained from holds "
             "all of them or, when its filling was time-boxed, a fair-sample prefix: the SAE table's unique "
             "tokens say how many.", "",
             "| source / language | train docs | train tokens | held-out docs | held-out tokens |",
             "|---|---:|---:|---:|---:|"]
    for key in sorted(set(st["train"]) | set(st["heldout"])):
        tr, he = st["train"].get(key, {}), st["heldout"].get(key, {})
        lines.append(f"| {key} | {tr.get('docs', 0):,} | {tr.get('tokens', 0):,} | "
                     f"{he.get('docs', 0):,} | {he.get('tokens', 0):,} |")
    return lines + [""]
