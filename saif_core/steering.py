"""The steering vector artifact, the hook that applies it, and batched generation.

A ``SteeringVector`` knows where it belongs (model, hook) and how it was made
(SAE, latents, weights, placement): it round-trips through ``<path>.safetensors``
+ ``<path>.json``, and ``apply()`` is a context manager that always removes its hook.

Example:
    >>> sv = saif_vector(model, sae, layer=29, latents=[812, 33], weights=[4.1, 2.0])
    >>> with sv.apply(model, alpha=8.0):
    ...     outputs = generate(model, prompts, max_new_tokens=64)
    >>> sv.save("results/vectors/translate_fr"); SteeringVector.load("results/vectors/translate_fr")
"""
from __future__ import annotations

import json
import math
from collections.abc import Iterator, Sequence
from contextlib import contextmanager, nullcontext
from dataclasses import asdict, dataclass, field, fields
from pathlib import Path

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from .atomic import write_text, write_with
from .features import residuals
from .models import hook_name

POSITIONS = ("all", "generated")
FORMAT_VERSION = 2  # 1: no format_version field (alpha and positions were taken from the file)


class SteeringError(ValueError):
    """A steering vector cannot be built or applied as asked; the message names the fix."""


def check_alpha(alpha: float) -> float:
    if not isinstance(alpha, (int, float)) or not math.isfinite(alpha):
        raise SteeringError(f"alpha must be a finite number, got {alpha!r}. Fix: pass e.g. --alpha 8")
    return float(alpha)


@dataclass
class SteeringVector:
    """A residual-stream direction plus its provenance.

    ``positions``: ``all`` adds it at every position (prompt and generated); ``generated``
    only where a new token is predicted: the last prompt token and every generated token.
    ``alpha`` and ``positions`` are the defaults of ``apply`` and, in a run folder, what the
    run applied; a pipeline passes its own to ``apply`` and never trusts a cached file's.
    """

    vector: torch.Tensor  # [d_model]
    model: str
    layer: int
    kind: str  # config.VECTOR_KINDS: "saif" | "diff_means" | "single_latent" | "random_direction" | "random_latents"
    sae: str | None = None
    latents: list[int] = field(default_factory=list)
    weights: list[float] = field(default_factory=list)
    placement: str | None = None
    task: str | None = None
    alpha: float = 1.0
    positions: str = "all"
    normalized: bool = False
    meta: dict = field(default_factory=dict)

    @property
    def hook(self) -> str:
        return hook_name(self.layer)

    def provenance(self) -> dict:
        d = {"format_version": FORMAT_VERSION, **asdict(self)}
        d.pop("vector")
        d["hook"] = self.hook
        d["norm"] = self.vector.norm().item()
        return d

    def save(self, path: str | Path) -> Path:
        """Write ``path.safetensors`` and ``path.json`` (each atomically); return the json path."""
        path = Path(path)
        tensors = {"vector": self.vector.detach().float().cpu().contiguous()}
        write_with(path.with_suffix(".safetensors"), lambda tmp: save_file(tensors, tmp))
        write_text(path.with_suffix(".json"), json.dumps(self.provenance(), indent=1) + "\n")
        return path.with_suffix(".json")

    @classmethod
    def load(cls, path: str | Path) -> "SteeringVector":
        """Read a saved vector. Like sae-lens' ``cfg.json`` loader it keeps the known fields
        and fills defaults for missing ones, so older files load; a damaged file raises
        SteeringError naming it."""
        path = Path(path)
        try:
            meta = json.loads(path.with_suffix(".json").read_text())
            vector = load_file(str(path.with_suffix(".safetensors")))["vector"]
        except (OSError, ValueError, KeyError, TypeError, SafetensorError) as e:
            raise SteeringError(f"the steering vector {path}.json/.safetensors cannot be read ({type(e).__name__}: "
                                f"{e}). Fix: delete both files; the run that made them rebuilds them.") from None
        known = {f.name for f in fields(cls)} - {"vector"}
        return cls(vector=vector, **{k: v for k, v in meta.items() if k in known})

    def _check(self, model) -> None:
        if model.id != self.model:
            raise SteeringError(f"this vector was built for {self.model}, not {model.id}. Fix: build one on {model.id}.")
        if self.vector.shape != (model.spec.d_model,):
            raise SteeringError(f"vector shape {tuple(self.vector.shape)} does not match d_model {model.spec.d_model}")

    @contextmanager
    def apply(self, model, alpha: float | Sequence[float] | None = None, layer: int | None = None,
              positions: str | None = None) -> Iterator[None]:
        """Add ``alpha * vector`` at ``blocks.{layer}.hook_resid_post`` of ``model.hf`` at
        ``positions`` (default: the vector's own alpha, layer and positions) while the block
        runs. ``alpha`` may be one number per batch row (a sequence): row i gets
        ``alpha[i] * vector``, so one batch can hold several strengths, as an alpha sweep needs."""
        self._check(model)
        layer = self.layer if layer is None else layer
        positions = self.positions if positions is None else positions
        if positions not in POSITIONS:
            raise SteeringError(f"positions must be one of {POSITIONS}, got {positions!r}")
        if isinstance(alpha, (list, tuple)):
            scale = torch.tensor([check_alpha(a) for a in alpha], dtype=torch.float32)[:, None, None]
        else:
            scale = torch.tensor(check_alpha(self.alpha if alpha is None else alpha), dtype=torch.float32)
        delta = (scale * self.vector).to(model.device, model.hf.dtype)
        rows = delta.shape[0] if delta.dim() == 3 else None

        def add(resid: torch.Tensor) -> torch.Tensor:
            if rows is not None and resid.shape[0] != rows:
                raise SteeringError(f"{rows} per-row alphas for a batch of {resid.shape[0]}. "
                                    "Fix: pass one alpha per prompt of the batch, or a single number.")
            if positions == "all" or resid.shape[1] == 1:  # decoding steps see one new token
                return resid + delta
            out = resid.clone()
            out[:, -1:] += delta  # prefill: only the last prompt token predicts a new token
            return out

        with model.resid_hook(layer, add):
            yield


# ---------------------------------------------------------------- building vectors


def saif_vector(model, sae, layer: int, latents: list[int], weights: list[float], normalize: bool = False,
                scale: float = 1.0, sae_id: str | None = None, **provenance) -> SteeringVector:
    """SAIF's vector: the selected latents' decoder directions weighted by their typical
    (mean positive) activation. ``normalize``: unit norm times ``scale`` instead.
    ``sae_id`` and ``provenance`` (task, placement, alpha, positions, meta) are recorded."""
    if not latents:
        raise SteeringError("no latents given. Fix: select at least one latent (k >= 1).")
    if len(latents) != len(weights):
        raise SteeringError(f"{len(latents)} latents but {len(weights)} weights")
    w = torch.tensor(weights, dtype=torch.float32)
    v = (w[:, None] * sae.W_dec[latents].detach().float().cpu()).sum(0)
    if normalize:
        v = v / v.norm().clamp_min(1e-12) * scale
    kind = "single_latent" if len(latents) == 1 else "saif"
    return SteeringVector(v, model.id, layer, provenance.pop("kind", kind), sae=sae_id, latents=[int(j) for j in latents],
                          weights=[float(x) for x in weights], normalized=normalize, **provenance)


def random_vector(model, sae, layer: int, kind: str, k: int, seed: int, sae_id: str | None = None,
                  **provenance) -> tuple[SteeringVector, list[int]]:
    """A control of unit norm, seeded: ``random_direction`` (a Gaussian direction in the residual
    space; no latents) or ``random_latents`` (``k`` distinct latents drawn uniformly from the SAE,
    their decoder directions summed with equal weights). Returns ``(vector, latents)``."""
    g = torch.Generator().manual_seed(seed)
    if kind == "random_direction":
        v, latents = torch.randn(model.spec.d_model, generator=g), []
    elif kind == "random_latents":
        latents = torch.randperm(sae.W_dec.shape[0], generator=g)[:k].tolist()
        v = sae.W_dec[latents].detach().float().cpu().sum(0)
    else:
        raise SteeringError(f"unknown random control {kind!r}; the controls are random_direction and random_latents")
    v = v / v.norm().clamp_min(1e-12)
    return SteeringVector(v, model.id, layer, kind, sae=sae_id if latents else None, latents=latents,
                          weights=[1.0] * len(latents), normalized=True, **provenance), latents


def diff_means_from_residuals(model, layer: int, pos: torch.Tensor, neg: torch.Tensor, normalize: bool = False,
                              **provenance) -> SteeringVector:
    """The field's baseline from residuals already read: mean with the instruction minus
    mean without (``normalize``: unit norm)."""
    v = pos.float().mean(0) - neg.float().mean(0)
    if normalize:
        v = v / v.norm().clamp_min(1e-12)
    return SteeringVector(v, model.id, layer, "diff_means", normalized=normalize, **provenance)


def diff_means_vector(model, layer: int, pos_formatted: list[str], neg_formatted: list[str],
                      normalize: bool = False, **provenance) -> SteeringVector:
    """The field's baseline: mean residual with the instruction minus without, at the
    last prompt token of the same layer."""
    return diff_means_from_residuals(model, layer, residuals(model, pos_formatted, layer),
                                     residuals(model, neg_formatted, layer), normalize, **provenance)


# ---------------------------------------------------------------- generation


@torch.no_grad()
def generate(model, formatted: list[str], max_new_tokens: int = 64, batch_size: int = 32,
             steering: SteeringVector | None = None, alpha: float | Sequence[float] | None = None,
             stop_at_eos: bool = True, repetition_penalty: float = 1.0, positions: str | None = None) -> list[str]:
    """Greedy, batched, left-padded generation with HF ``generate``; stops at end of turn
    (``stop_at_eos=False``: always ``max_new_tokens``, as the benchmark needs).

    Prompts are sorted by length so each batch pads little; outputs come back in input
    order, decoded without special tokens. With ``steering``, the vector is applied for
    the whole call, at ``alpha``: one number, or one per prompt (an alpha sweep in one
    pass), at ``positions`` (None: the vector's own). ``repetition_penalty`` (HF's, 1.0 =
    off) applies to every condition alike when set.
    """
    tok = model.tokenizer
    per_row = isinstance(alpha, (list, tuple))
    if per_row and len(alpha) != len(formatted):
        raise SteeringError(f"{len(alpha)} alphas for {len(formatted)} prompts. Fix: one alpha per prompt, or one number.")
    order = sorted(range(len(formatted)), key=lambda i: len(formatted[i]))
    outputs: list[str] = [""] * len(formatted)
    for b in range(0, len(order), batch_size):
        idx = order[b : b + batch_size]
        rows_alpha = [alpha[i] for i in idx] if per_row else alpha
        ctx = steering.apply(model, rows_alpha, positions=positions) if steering is not None else nullcontext()
        with ctx:
            ids, mask = model.pad([model.encode(formatted[i]) for i in idx])
            width = ids.shape[1]
            out = model.hf.generate(
                input_ids=ids, attention_mask=mask, max_new_tokens=max_new_tokens, do_sample=False,
                eos_token_id=model.stop_token_ids if stop_at_eos else None,
                min_new_tokens=None if stop_at_eos else max_new_tokens,
                pad_token_id=tok.pad_token_id, top_p=None, top_k=None, temperature=None,
                repetition_penalty=None if repetition_penalty == 1.0 else repetition_penalty,
            )
            for j, i in enumerate(idx):
                outputs[i] = tok.decode(out[j, width:], skip_special_tokens=True).strip()
    return outputs

