"""Latent statistics over positive (with instruction) and negative (without) prompts,
selection of the instruction-relevant latents, bootstrap stability, logit lens.

The measures, per latent j, over the positive set P and negative set N of SAE
activations a (one vector per prompt, read at ``position``):

* strength      mean of a_j over P (zeros included): how strongly it fires with the instruction
* probability   fraction of P where a_j > 0
* stability     1 / (1 + CV), CV = std/mean of a_j over P: 1 when it fires equally on every
                sample, towards 0 when it fires on a few samples only (0 when it never fires)
* sensitivity   strength over P minus strength over N: how much more it fires with the
                instruction than without

Selection rule (``select_latents``): latents firing on at least ``min_prob`` of the positives
and more often than on the negatives, ranked by sensitivity; the top k are kept.

Example:
    >>> acts = encode_prompts(model, sae, layer, [p.positive for p in pairs])
    >>> stats = latent_stats(acts, encode_prompts(model, sae, layer, [p.negative for p in pairs]))
    >>> top = select_latents(stats, k=8)
"""
from __future__ import annotations

from dataclasses import dataclass

import torch

POSITIONS = ("last", "instruction_mean")


class SelectionError(ValueError):
    """Selection cannot be done as asked; the message names the fix."""


# ---------------------------------------------------------------- reading activations


def _token_span(model, formatted: str, span: tuple[int, int]) -> list[int]:
    """Token indices of ``formatted`` whose characters overlap ``span``."""
    enc = model.tokenizer(formatted, add_special_tokens=model.add_special_tokens, return_offsets_mapping=True)
    a, b = span
    return [i for i, (s, e) in enumerate(enc["offset_mapping"]) if e > a and s < b]


def instruction_span(formatted: str, instruction: str, placement: str) -> tuple[int, int]:
    """Character span of the instruction inside a formatted positive prompt."""
    at = formatted.rfind(instruction) if placement == "post" else formatted.find(instruction)
    if at < 0:
        raise ValueError(f"instruction {instruction!r} not found in the formatted prompt")
    return at, at + len(instruction)


@torch.no_grad()
def residuals(model, formatted: list[str], layer: int, batch_size: int = 16,
              spans: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """``blocks.{layer}.hook_resid_post`` per prompt, shape ``[n, d_model]``: at the last
    prompt token, or (with ``spans``) averaged over the tokens covering each char span."""
    model.hook_name(layer)
    out = []
    for i in range(0, len(formatted), batch_size):
        chunk = formatted[i : i + batch_size]
        enc = [model.encode(t) for t in chunk]
        ids, mask = model.pad(enc)  # left padding: the last prompt token is at -1
        width = ids.shape[1]
        resid = model.capture(ids, mask, [layer])[layer % model.spec.n_layers].float()
        if spans is None:
            out.append(resid[:, -1])
            continue
        for j, text in enumerate(chunk):
            idx = _token_span(model, text, spans[i + j])
            offset = width - len(enc[j])
            out.append(resid[j, [offset + k for k in idx]].mean(0, keepdim=True))
    return torch.cat(out).cpu()


def residual_norm(model, layer: int, formatted: list[str], batch_size: int = 16) -> float:
    """Mean L2 norm of ``blocks.{layer}.hook_resid_post`` at the last prompt token: the
    scale a steering vector is measured against (it grows with depth)."""
    return residuals(model, formatted, layer, batch_size).norm(dim=-1).mean().item()


@torch.no_grad()
def encode_prompts(model, sae, layer: int, formatted: list[str], batch_size: int = 16,
                   spans: list[tuple[int, int]] | None = None) -> torch.Tensor:
    """SAE latent activations of each prompt, ``[n, d_sae]`` (see ``residuals``)."""
    resid = residuals(model, formatted, layer, batch_size, spans)
    return sae.encode(resid.to(sae.W_dec.device)).cpu()


def pair_residuals(model, layer: int, pairs, position: str = "last", batch_size: int = 16):
    """(positive, negative) residuals ``[n, d_model]`` of pairs, read at ``position``:
    ``last`` (last prompt token) or ``instruction_mean`` (mean over the instruction's tokens;
    negatives, which have none, use the mean over the same content's tokens)."""
    if position not in POSITIONS:
        raise ValueError(f"position must be one of {POSITIONS}, got {position!r}")
    pos = [model.format_prompt(p.positive) for p in pairs]
    neg = [model.format_prompt(p.negative) for p in pairs]
    if position == "last":
        return residuals(model, pos, layer, batch_size), residuals(model, neg, layer, batch_size)
    pos_spans = [instruction_span(f, p.instruction, p.placement) for f, p in zip(pos, pairs)]
    neg_spans = [instruction_span(f, p.negative, "post") for f, p in zip(neg, pairs)]
    return residuals(model, pos, layer, batch_size, pos_spans), residuals(model, neg, layer, batch_size, neg_spans)


@torch.no_grad()
def pair_activations(model, sae, layer: int, pairs, position: str = "last", batch_size: int = 16):
    """(positive, negative) SAE activations of pairs (see ``pair_residuals``)."""
    pos, neg = pair_residuals(model, layer, pairs, position, batch_size)
    dev = sae.W_dec.device
    return sae.encode(pos.to(dev)).cpu(), sae.encode(neg.to(dev)).cpu()


# ---------------------------------------------------------------- statistics


@dataclass
class LatentStats:
    """Per-latent statistics (each a ``[d_sae]`` tensor)."""

    strength: torch.Tensor
    probability: torch.Tensor
    stability: torch.Tensor
    sensitivity: torch.Tensor
    neg_strength: torch.Tensor
    neg_probability: torch.Tensor
    n_pos: int
    n_neg: int

    def table(self, latents) -> list[dict]:
        """Rows for the given latent ids, for display (pandas.DataFrame(stats.table(ids)))."""
        return [{"latent": int(j), "strength": self.strength[j].item(), "stability": self.stability[j].item(),
                 "probability": self.probability[j].item(), "sensitivity": self.sensitivity[j].item(),
                 "neg_strength": self.neg_strength[j].item(), "neg_probability": self.neg_probability[j].item()}
                for j in latents]


def latent_stats(pos: torch.Tensor, neg: torch.Tensor) -> LatentStats:
    """Statistics of every latent from positive and negative activations ``[n, d_sae]``."""
    if pos.ndim != 2 or neg.ndim != 2 or pos.shape[1] != neg.shape[1]:
        raise ValueError(f"expected [n, d_sae] activations with the same d_sae, got {tuple(pos.shape)} and {tuple(neg.shape)}")
    if len(pos) < 2 or len(neg) < 1:
        raise ValueError(f"need at least 2 positive and 1 negative samples, got {len(pos)} and {len(neg)}")
    mean = pos.mean(0)
    cv = pos.std(0) / mean.clamp_min(1e-12)
    stability = torch.where(mean > 0, 1 / (1 + cv), torch.zeros_like(mean))
    neg_mean = neg.mean(0)
    return LatentStats(mean, (pos > 0).float().mean(0), stability, mean - neg_mean,
                       neg_mean, (neg > 0).float().mean(0), len(pos), len(neg))


def candidates(stats: LatentStats, min_prob: float = 0.5) -> torch.Tensor:
    """Latents that fire on at least ``min_prob`` of the positives, more often than on the
    negatives, and with positive sensitivity; ordered by sensitivity (highest first)."""
    ok = (stats.probability >= min_prob) & (stats.probability > stats.neg_probability) & (stats.sensitivity > 0)
    idx = ok.nonzero().squeeze(-1)
    return idx[stats.sensitivity[idx].argsort(descending=True)]


def select_latents(stats: LatentStats, k: int, min_prob: float = 0.5) -> list[int]:
    """The top-k instruction-relevant latents (see ``candidates``)."""
    if k < 1:
        raise SelectionError(f"k must be at least 1, got {k}")
    cand = candidates(stats, min_prob)
    if k > len(cand):
        raise SelectionError(
            f"k={k} but only {len(cand)} latents pass the rule (probability >= {min_prob} on the "
            f"{stats.n_pos} positives, above the negatives, positive sensitivity). "
            f"Fix: use k <= {len(cand)}, lower min_prob, or use more pairs."
        )
    return [int(j) for j in cand[:k]]


def bootstrap_selection(pos: torch.Tensor, neg: torch.Tensor, k: int, min_prob: float = 0.5,
                        n_boot: int = 100, seed: int = 0) -> dict:
    """Stability of the selected set when the pairs are resampled with replacement.

    Returns the full-data selection, each latent's selection frequency over the
    resamples, and the mean Jaccard similarity of resampled sets to the full-data set.
    """
    full = select_latents(latent_stats(pos, neg), k, min_prob)
    g = torch.Generator().manual_seed(seed)
    counts: dict[int, int] = {}
    jaccards = []
    for _ in range(n_boot):
        idx = torch.randint(len(pos), (len(pos),), generator=g)
        cand = candidates(latent_stats(pos[idx], neg[idx]), min_prob)[:k].tolist()
        for j in cand:
            counts[j] = counts.get(j, 0) + 1
        union = set(cand) | set(full)
        jaccards.append(len(set(cand) & set(full)) / len(union) if union else 1.0)
    freq = {j: counts.get(j, 0) / n_boot for j in sorted(counts, key=lambda j: -counts[j])}
    return {"selected": full, "frequency": freq, "mean_jaccard": sum(jaccards) / n_boot,
            "selected_frequency": {j: freq.get(j, 0.0) for j in full}}


# ---------------------------------------------------------------- logit lens


@torch.no_grad()
def logit_lens(model, direction: torch.Tensor, top: int = 10) -> list[tuple[str, float]]:
    """Tokens a residual direction promotes: through the final norm and the unembedding
    (HF modules, so Gemma's (1 + w) RMSNorm and logit soft-capping are as in the model)."""
    d = direction.to(model.device, model.hf.dtype)[None, None]
    logits = model.hf.lm_head(model.hf.model.norm(d))[0, 0].float()
    vals, ids = logits.topk(top)
    return [(model.tokenizer.decode([i]), v) for i, v in zip(ids.tolist(), vals.tolist())]


def latent_top_tokens(model, sae, latents, top: int = 10) -> dict[int, list[str]]:
    """Logit-lens tokens of each latent's decoder direction."""
    return {int(j): [t for t, _ in logit_lens(model, sae.W_dec[j], top)] for j in latents}
