"""``saif bench``: steered vs unsteered generation throughput, latent extraction vs a
plain forward pass. Speed goals are checked here, never in unit tests.

Generation runs a fixed number of new tokens (no early stop) so steered and unsteered
runs do the same work; the steering vector is real when an SAE is shipped (the top
latents' directions are not needed for timing, so a random unit vector at the SAE's
layer stands in when none is). Each measurement alternates unsteered/steered runs; ``ratio``
is the median over repeats of steered/unsteered throughput (each steered run against the
unsteered run just before it); ``extraction_ratio`` compares latent extraction with a plain
forward pass to the SAE's layer.

On CPU the numbers mean something only on a quiet machine. With more runnable threads than
cores (another CPU-heavy job beside a 2-thread torch), OpenMP's threads wait on each other at
every operation: on 2 cores, HF ``generate`` at batch 32 fell from about 220 to 7 tokens/s
beside a one-thread job, while one thread (``OMP_NUM_THREADS=1``) still gave about 160. The
result therefore records the load average before the run and warns when it is high.
"""
from __future__ import annotations

import os
import statistics
import time

import torch

from . import data
from .features import encode_prompts
from .steering import SteeringVector, generate


def _median_rate(fn, tokens: int, repeats: int) -> float:
    times = []
    for _ in range(repeats):
        t0 = time.perf_counter()
        fn()
        times.append(time.perf_counter() - t0)
    return tokens / statistics.median(times)


def contention_warning(load: float, threads: int, cores: int) -> str | None:
    """A warning when other work was running (1-minute load average above ``cores - threads
    + 0.5``, or above 0.5 when torch uses every core), else None."""
    if load <= max(cores - threads, 0) + 0.5:
        return None
    return (f"the load average was {load:.1f} on {cores} cores before the run, with torch using {threads} "
            "threads: other work is running, and throughput can be many times lower than on a quiet "
            "machine. Fix: rerun when the machine is quiet, or give each job OMP_NUM_THREADS=1.")


def run_bench(model, sae=None, layer: int | None = None, batch_size: int = 32, max_new_tokens: int = 64,
              repeats: int = 3, alpha: float = 4.0) -> dict:
    layer = model.spec.steer_layer if layer is None else layer
    load_before = os.getloadavg()[0]
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
    ratios = [s / u for s, u in zip(rates["steered"], rates["unsteered"])]  # each steered run vs the one before it
    out = {"model": model.id, "device": model.device, "threads": torch.get_num_threads(), "batch_size": batch_size,
           "max_new_tokens": max_new_tokens, "repeats": repeats,
           "unsteered_tok_s": unsteered, "steered_tok_s": steered, "ratio": statistics.median(ratios),
           "ratios": [round(r, 4) for r in ratios],
           "load_avg_before": round(load_before, 2)}
    warning = contention_warning(load_before, torch.get_num_threads(), os.cpu_count() or 1)
    if warning:
        out["warning"] = warning
    if sae is not None:
        n_tok = sum(len(model.encode(p)) for p in prompts)

        @torch.no_grad()
        def forward():  # a plain forward pass to the SAE's layer (stopped there), as extraction does
            for i in range(0, len(prompts), 16):
                ids, mask = model.pad([model.encode(p) for p in prompts[i:i + 16]])
                model.capture(ids, mask, [layer])

        out["forward_tok_s"] = _median_rate(forward, n_tok, repeats)
        out["extraction_tok_s"] = _median_rate(lambda: encode_prompts(model, sae, layer, prompts), n_tok, repeats)
        out["extraction_ratio"] = out["extraction_tok_s"] / out["forward_tok_s"]
    return out
