"""Health of an SAE on held-out text: FVU, L0, dead latents, and the cross-entropy cost
of splicing its reconstruction into the model.

One forward pass per batch per SAE: the splice hook reads the clean residual it receives
(the layers below are untouched), and the clean cross-entropy of a model on a list of
texts is computed once per process and reused by every further SAE evaluated on them
(``train_saes`` evaluates several SAEs of a model on the same held-out text).

Example:
    >>> from saif_core.sae_metrics import sae_metrics
    >>> m = sae_metrics(model, sae, 23, ["Some held-out text.", "Un autre texte."])
    >>> m["fvu"], m["l0"], m["ce_increase"]
"""
from __future__ import annotations

import hashlib

import torch

from .models import SaifModel
from .saes import SAEError

__all__ = ["sae_metrics", "text_batches", "clear_clean_ce"]

# (model id, its object, dtype, device, texts' digest, max_len, batch_size, first) -> [(summed CE, targets)] per batch
_CLEAN_CE: dict[tuple, list[tuple[float, int]]] = {}


def clear_clean_ce() -> None:
    """Forget the clean cross-entropies computed so far in this process."""
    _CLEAN_CE.clear()


def _clean_key(model: SaifModel, texts: list[str], max_len: int, batch_size: int, first: int) -> tuple:
    h = hashlib.sha256()
    for t in texts:
        h.update(t.encode("utf-8") + b"\0")
    dtype = next(model.hf.parameters()).dtype
    # the object's id too: two models loaded under one id (a test's toy weights) never share
    return (model.id, id(model.hf), str(dtype), str(model.device), h.hexdigest(), max_len, batch_size, first)



def text_batches(model: SaifModel, texts: list[str], max_len: int = 128, batch_size: int = 16):
    """Tokenize documents (truncated to ``max_len``) into right-padded batches of
    ``(input_ids, attention_mask)``; the model's BOS convention is respected. Batches
    group documents of similar length (the metrics are sums over tokens, so the order
    does not matter, and padding would cost as much as real tokens)."""
    encoded = [model.encode(t)[:max_len] for t in texts if t.strip()]
    encoded = sorted((e for e in encoded if len(e) >= 2), key=len)
    for i in range(0, len(encoded), batch_size):
        yield model.pad(encoded[i : i + batch_size], side="right")


def _next_token_ce(logits: torch.Tensor, ids: torch.Tensor, mask: torch.Tensor) -> tuple[float, int]:
    """Summed next-token cross-entropy over real (non-pad) targets, and their count."""
    valid = mask[:, 1:].bool()
    nll = torch.nn.functional.cross_entropy(logits[:, :-1][valid].float(), ids[:, 1:][valid], reduction="sum")
    return nll.item(), int(valid.sum())


@torch.no_grad()
def sae_metrics(model: SaifModel, sae, layer: int, texts: list[str], max_len: int = 128,
                batch_size: int = 16, skip_first: bool = True) -> dict:
    """Health of an SAE on ``texts`` at ``blocks.{layer}.hook_resid_post``.

    * ``fvu``: fraction of variance unexplained, sum ||x - x_hat||^2 / sum ||x - mean x||^2
      over all tokens (one global ratio, as sae-lens' explained-variance eval).
    * ``l0``: mean number of active latents per token.
    * ``dead_fraction``: latents that never fire on any token of ``texts``.
    * ``ce_clean`` / ``ce_spliced`` / ``ce_increase``: mean next-token cross-entropy
      with the activation, then with its SAE reconstruction in its place.

    The clean cross-entropy of ``model`` on ``texts`` is computed once per process (see the
    module docstring). The first position of every sequence (BOS or ``<|im_start|>``, an attention sink
    with an outsized norm) is left out of all metrics and never spliced, as Gemma
    Scope's evaluations do; ``skip_first=False`` keeps it.
    """
    d_sae = sae.cfg.d_sae
    first = 1 if skip_first else 0
    key = _clean_key(model, texts, max_len, batch_size, first)
    clean_known = _CLEAN_CE.get(key)
    clean_batches: list[tuple[float, int]] = []
    fired = torch.zeros(d_sae, dtype=torch.bool, device=model.device)
    sq_err = 0.0
    l0_sum = 0.0
    xs_sum = None
    xs_sq = 0.0
    n_tok = 0
    ce = {"clean": [0.0, 0], "spliced": [0.0, 0]}
    captured: list[torch.Tensor] = []

    def splice(resid: torch.Tensor) -> torch.Tensor:
        captured.append(resid.detach())  # the clean residual: nothing below the layer is changed
        out = resid.clone()
        out[:, first:] = sae.decode(sae.encode(resid[:, first:].float())).to(resid.dtype)
        return out

    for b, (ids, mask) in enumerate(text_batches(model, texts, max_len, batch_size)):
        if clean_known is None:
            clean_batches.append(_next_token_ce(model.hf(input_ids=ids, attention_mask=mask).logits, ids, mask))
        s, n = clean_known[b] if clean_known is not None else clean_batches[-1]
        ce["clean"][0] += s
        ce["clean"][1] += n
        captured.clear()
        with model.resid_hook(layer, splice):
            logits = model.hf(input_ids=ids, attention_mask=mask).logits
        s, n = _next_token_ce(logits, ids, mask)
        ce["spliced"][0] += s
        ce["spliced"][1] += n

        keep = mask.bool().clone()
        keep[:, :first] = False
        x = captured[0][keep].float()
        acts = sae.encode(x)
        x_hat = sae.decode(acts)
        sq_err += (x - x_hat).pow(2).sum().item()
        xs_sum = x.sum(0) if xs_sum is None else xs_sum + x.sum(0)
        xs_sq += x.pow(2).sum().item()
        active = acts > 0
        l0_sum += active.sum().item()
        fired |= active.any(0)
        n_tok += x.shape[0]
    if clean_known is None:
        _CLEAN_CE[key] = clean_batches
    if n_tok == 0:
        raise SAEError("no tokens to evaluate: the texts are empty or shorter than 2 tokens. Fix: pass longer texts.")
    total_var = xs_sq - xs_sum.pow(2).sum().item() / n_tok
    ce_clean = ce["clean"][0] / ce["clean"][1]
    ce_spliced = ce["spliced"][0] / ce["spliced"][1]
    return {"fvu": sq_err / total_var, "l0": l0_sum / n_tok, "dead_fraction": 1.0 - fired.float().mean().item(),
            "ce_clean": ce_clean, "ce_spliced": ce_spliced, "ce_increase": ce_spliced - ce_clean,
            "n_tokens": n_tok, "d_sae": d_sae, "layer": layer}
