"""``saif bench`` runs end to end on the tiny model (speed itself is measured by the command, never here)."""
import statistics

from saif_core import saes
from saif_core.bench import run_bench


def test_bench_reports_the_median_of_paired_ratios(tiny_env):
    sae = saes.load_sae(tiny_env.sae_id, tiny_env.model)
    out = run_bench(tiny_env.model, sae, batch_size=2, max_new_tokens=2, repeats=3)
    assert len(out["ratios"]) == 3 and abs(out["ratio"] - statistics.median(out["ratios"])) < 1e-3
    assert out["unsteered_tok_s"] > 0 and out["steered_tok_s"] > 0
    assert out["extraction_ratio"] == out["extraction_tok_s"] / out["forward_tok_s"]
