"""Latent statistics and selection on activations whose answers are known by construction."""
import pytest
import torch

from saif_core.features import (SelectionError, bootstrap_selection, candidates, instruction_span,
                                latent_stats, select_latents)


def synthetic(n=40, d=50, seed=0):
    """Latent 3 fires on every positive (strongly), 7 on every positive (weakly), 11 on half
    the positives, 20 equally on positives and negatives, 30 only on negatives."""
    g = torch.Generator().manual_seed(seed)
    pos = torch.zeros(n, d)
    neg = torch.zeros(n, d)
    pos[:, 3] = 5 + torch.rand(n, generator=g)
    pos[:, 7] = 1 + 0.1 * torch.rand(n, generator=g)
    pos[: n // 2, 11] = 8.0
    pos[:, 20] = neg[:, 20] = 2.0
    neg[:, 30] = 4.0
    return pos, neg


def test_measures_by_construction():
    pos, neg = synthetic()
    s = latent_stats(pos, neg)
    assert s.probability[3] == 1 and s.probability[11] == 0.5 and s.probability[30] == 0
    assert s.strength[11] == pytest.approx(4.0) and s.sensitivity[20] == 0 and s.sensitivity[30] == -4
    # a latent firing on every sample with little spread is more stable than one firing on half
    assert s.stability[7] > 0.9 and s.stability[11] == pytest.approx(1 / (1 + (pos[:, 11].std() / 4.0)).item())
    assert s.stability[0] == 0  # never fires


def test_selection_rule():
    pos, neg = synthetic()
    s = latent_stats(pos, neg)
    assert candidates(s, min_prob=0.5).tolist() == [3, 11, 7]  # by sensitivity: ~5.5, 4, ~1.05
    assert select_latents(s, k=2, min_prob=0.6) == [3, 7]  # 11 fires on only half the positives
    with pytest.raises(SelectionError, match="k=4 but only 3 latents pass the rule.*Fix: use k <= 3"):
        select_latents(s, k=4)
    with pytest.raises(SelectionError, match="at least 1"):
        select_latents(s, k=0)


def test_bootstrap_is_stable_on_clear_signal_and_seeded():
    pos, neg = synthetic()
    b = bootstrap_selection(pos, neg, k=2, min_prob=0.9, n_boot=30, seed=1)
    assert b["selected"] == [3, 7] and b["mean_jaccard"] == 1.0 and b["selected_frequency"] == {3: 1.0, 7: 1.0}
    # latent 11 fires on half the positives: near a 0.6 threshold, resamples disagree
    shaky = bootstrap_selection(pos, neg, k=2, min_prob=0.6, n_boot=30, seed=1)
    assert shaky["selected"] == [3, 7] and 0 < shaky["frequency"][11] < 1 and shaky["mean_jaccard"] < 1
    assert bootstrap_selection(pos, neg, k=2, n_boot=30, seed=1) == bootstrap_selection(pos, neg, k=2, n_boot=30, seed=1)


def test_shape_errors():
    with pytest.raises(ValueError, match="same d_sae"):
        latent_stats(torch.zeros(4, 5), torch.zeros(4, 6))
    with pytest.raises(ValueError, match="at least 2 positive"):
        latent_stats(torch.zeros(1, 5), torch.zeros(4, 5))


def test_instruction_span_by_placement():
    text = "<user>Translate.\n\nHello.\n\nTranslate.<end>"
    assert text[slice(*instruction_span(text, "Translate.", "post"))] == "Translate." and instruction_span(text, "Translate.", "post")[0] > 20
    assert instruction_span(text, "Translate.", "pre")[0] == 6
    with pytest.raises(ValueError, match="not found"):
        instruction_span(text, "Summarize.", "post")


@pytest.mark.slow
def test_residual_positions_on_the_real_model(smollm):
    from saif_core.features import residuals

    prompts = [smollm.format_prompt(t) for t in ["Hi.", "A much longer prompt that needs no padding at all."]]
    batched = residuals(smollm, prompts, 29, batch_size=2)
    single = torch.cat([residuals(smollm, [p], 29) for p in prompts])
    assert batched.shape == (2, 576)
    assert torch.allclose(batched, single, atol=1e-3 * single.abs().max().item())  # left padding is invisible
    span = instruction_span(prompts[1], "needs no padding", "post")
    mean = residuals(smollm, prompts[1:], 29, spans=[span])
    assert mean.shape == (1, 576) and not torch.allclose(mean, single[1:])
