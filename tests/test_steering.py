"""The steering vector artifact, its hook, and batched generation."""
import math

import pytest
import torch

from saif_core.steering import SteeringError, SteeringVector, check_alpha, diff_means_vector, generate, saif_vector


class FakeSAE:
    def __init__(self, d_sae=8, d_in=576, seed=0):
        self.W_dec = torch.randn(d_sae, d_in, generator=torch.Generator().manual_seed(seed))


class FakeModel:
    id = "smollm2-135m-instruct"

    class spec:
        d_model = 576


def test_saif_vector_is_the_weighted_sum_of_decoder_rows():
    sae = FakeSAE()
    sv = saif_vector(FakeModel, sae, 29, [1, 5], [2.0, 0.5], task="translate_fr", placement="post", sae_id="x")
    assert sv.sae == "x"
    assert torch.allclose(sv.vector, 2.0 * sae.W_dec[1] + 0.5 * sae.W_dec[5])
    assert sv.kind == "saif" and sv.hook == "blocks.29.hook_resid_post"
    unit = saif_vector(FakeModel, sae, 29, [1, 5], [2.0, 0.5], normalize=True, scale=3.0)
    assert unit.vector.norm().item() == pytest.approx(3.0)
    assert saif_vector(FakeModel, sae, 29, [4], [1.0]).kind == "single_latent"
    with pytest.raises(SteeringError, match="no latents"):
        saif_vector(FakeModel, sae, 29, [], [])


def test_round_trip_keeps_vector_and_provenance(tmp_path):
    sv = saif_vector(FakeModel, FakeSAE(), 29, [1, 5], [2.0, 0.5], task="keyword", placement="pre",
                     sae_id="smollm2-135m-instruct/blocks.29.hook_resid_post/width_4608", alpha=6.0, positions="generated")
    path = sv.save(tmp_path / "v")
    assert path.name == "v.json" and (tmp_path / "v.safetensors").exists()
    back = SteeringVector.load(tmp_path / "v")
    assert torch.equal(back.vector, sv.vector) and back.provenance() == sv.provenance()


@pytest.mark.parametrize("bad", [math.nan, math.inf, -math.inf, "8"])
def test_non_finite_alpha_is_refused(bad):
    with pytest.raises(SteeringError, match="alpha must be a finite number"):
        check_alpha(bad)


@pytest.mark.slow
def test_hook_is_removed_even_when_the_block_raises(smollm):
    sv = SteeringVector(torch.ones(576), smollm.id, 29, "saif")
    layer = smollm.layer_module(29)
    with pytest.raises(RuntimeError, match="boom"):
        with sv.apply(smollm, alpha=1.0):
            assert len(layer._forward_hooks) == 1
            raise RuntimeError("boom")
    assert len(layer._forward_hooks) == 0


@pytest.mark.slow
def test_vector_for_another_model_is_refused(smollm):
    sv = SteeringVector(torch.ones(640), "gemma-3-270m", 17, "saif")
    with pytest.raises(SteeringError, match="built for gemma-3-270m, not smollm2-135m-instruct"):
        with sv.apply(smollm):
            pass


PROMPTS = ["Le chat dort sur le canapé.", "Where is the train station?", "Das Wetter ist heute schön.",
           "我们明天去公园散步。", "El libro está en la mesa de la cocina, junto a las llaves."]


@pytest.mark.slow
@pytest.mark.parametrize("positions", [None, "all", "generated"])
def test_batched_generation_equals_one_at_a_time(smollm, positions):
    formatted = [smollm.format_prompt(p) for p in PROMPTS]
    sv = None
    if positions:
        v = torch.randn(576, generator=torch.Generator().manual_seed(0))
        sv = SteeringVector(v / v.norm(), smollm.id, 29, "saif", alpha=6.0, positions=positions)
    batched = generate(smollm, formatted, max_new_tokens=16, batch_size=5, steering=sv)
    single = [generate(smollm, [f], max_new_tokens=16, steering=sv)[0] for f in formatted]
    assert batched == single


@pytest.mark.slow
@pytest.mark.parametrize("positions", ["all", "generated"])
def test_per_row_alphas_equal_one_alpha_per_call(smollm, positions):
    formatted = [smollm.format_prompt(p) for p in PROMPTS[:3]]
    v = torch.randn(576, generator=torch.Generator().manual_seed(2))
    sv = SteeringVector(v / v.norm() * 4, smollm.id, 29, "saif", positions=positions)
    alphas = [0.0, 2.0, 5.0]
    mixed = generate(smollm, formatted * 3, max_new_tokens=10, steering=sv, alpha=[a for a in alphas for _ in formatted])
    alone = [o for a in alphas for o in generate(smollm, formatted, max_new_tokens=10, steering=sv, alpha=a)]
    assert mixed == alone
    assert mixed[:3] != mixed[6:], "the strengths differ, so must the outputs"
    with pytest.raises(SteeringError, match="2 alphas for 3 prompts"):
        generate(smollm, formatted, max_new_tokens=2, steering=sv, alpha=[1.0, 2.0])
    with pytest.raises(SteeringError, match="alpha must be a finite number"):
        generate(smollm, formatted, max_new_tokens=2, steering=sv, alpha=[1.0, math.nan, 2.0])


@pytest.mark.slow
def test_steering_changes_generation_and_positions_matter(smollm):
    formatted = [smollm.format_prompt(p) for p in PROMPTS[:3]]
    v = torch.randn(576, generator=torch.Generator().manual_seed(1))
    plain = generate(smollm, formatted, max_new_tokens=12)
    steer_all = generate(smollm, formatted, max_new_tokens=12,
                         steering=SteeringVector(v / v.norm(), smollm.id, 29, "saif", alpha=30.0))
    steer_gen = generate(smollm, formatted, max_new_tokens=12,
                         steering=SteeringVector(v / v.norm(), smollm.id, 29, "saif", alpha=30.0, positions="generated"))
    assert steer_all != plain and steer_gen != plain
    assert generate(smollm, formatted, max_new_tokens=12) == plain  # nothing leaked


@pytest.mark.slow
def test_diff_means_vector(smollm):
    pos = [smollm.format_prompt(p + "\n\nTranslate this text into French.") for p in PROMPTS]
    neg = [smollm.format_prompt(p) for p in PROMPTS]
    sv = diff_means_vector(smollm, 29, pos, neg, task="translate_fr", placement="post")
    assert sv.kind == "diff_means" and sv.vector.shape == (576,) and sv.vector.norm() > 0


def test_bench_contention_warning():
    from saif_core.bench import contention_warning

    assert contention_warning(0.2, threads=2, cores=2) is None
    assert contention_warning(1.4, threads=1, cores=2) is None  # one other one-thread job: a core each
    msg = contention_warning(2.9, threads=2, cores=2)
    assert "2.9" in msg and "OMP_NUM_THREADS=1" in msg
