"""``saif bench``: steered vs unsteered generation throughput, latent extraction vs a
plain forward pass. Speed goals are checked here, never in unit tests.

Generation runs a fixed number of new tokens (no early stop) so steered and unsteered
runs do the same work; the steering vector is real when an SAE is shipped (the top
latents' directions are not needed for timing, so a random unit vector at the SAE's
layer stands in when none is). Each measurement alternates unsteered/steered runs and
reports the median.
"""
from __future__ import annotations

import statistics
import time

import torch

from . import data
from .steering import SteeringVector, generate


def _median_rate(fn, tokens: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return tokens / statistics.median(times)


def run_bench(model, sae=None, layer: int | None = None, batch_size: int = 32, max_new_tokens: int = 64,
              repeats: int = 3, alpha: float = 4.0) -> dict:
    from .features import encode_prompts

    layer = model.spec.steer_layer if layer is None else layer
    items = data.split("translate_fr", "evaluation")[:batch_size]
    prompts = [model.format_prompt(it.text) for it in items]
    v = torch.randn(model.spec.d_model, generator=torch.Generator().manual_seed(0))
    sv = SteeringVector(v / v.norm(), model.id, layer, "saif", alpha=alpha)
    new_tokens = len(prompts) * max_new_tokens
    generate(model, prompts[:2], max_new_tokens=4)  # warm-up
    rates = {"unsteered": [], "steered": []}
    for _ in range(repeats):  # alternate, so drift in machine load hits both alike
        rates["unsteered"].append(_median_rate(lambda: generate(model, prompts, max_new_tokens, batch_size, stop_at_eos=False), new_tokens, 1))
        rates["steered"].append(_median_rate(lambda: generate(model, prompts, max_new_tokens, batch_size, steering=sv, stop_at_eos=False), new_tokens, 1))
    unsteered, steered = statistics.median(rates["unsteered"]), statistics.median(rates["steered"])
    out = {"model": model.id, "device": model.device, "threads": torch.get_num_threads(), "batch_size": batch_size,
           "max_new_tokens": max_new_tokens, "repeats": repeats,
           "unsteered_tok_s": unsteered, "steered_tok_s": steered, "ratio": steered / unsteered}
    if sae is not None:
        n_tok = sum(len(model.encode(p)) for p in prompts)

        @torch.no_grad()
        def forward():
            for i in range(0, len(prompts), 16):
                ids, mask = model.pad([model.encode(p) for p in prompts[i:i + 16]])
                model.hf(input_ids=ids, attention_mask=mask)

        out["forward_tok_s"] = _median_rate(forward, n_tok, repeats)
        out["extraction_tok_s"] = _median_rate(lambda: encode_prompts(model, sae, layer, prompts), n_tok, repeats)
        out["extraction_ratio"] = out["extraction_tok_s"] / out["forward_tok_s"]
    return out
