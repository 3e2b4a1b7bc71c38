"""A tiny random Gemma-2 registered as a ``local`` chat model: both views, an SAE, steering.

Not `slow` (2 layers of width 64). The paper's models are Gemma-2; this checks the
Gemma-specific paths (chat template, ``<end_of_turn>``, soft-capping, sliding-window
attention, (1 + w) RMSNorm) offline.

TransformerLens knows Gemma-2 only by official name (``google/gemma-2-2b...``, with
hard-coded sizes): ``tl_name=None`` raises NotImplementedError in its
``convert_hf_model_config``. ``saif_core.tl_configs`` reads the config from the HF config
instead, so ``SaifModel.tl`` builds a local Gemma-2 of any size, and the views agree.
"""
import pytest
import torch
from sae_factory import make_sae

from saif_core import features, models, saes
from saif_core.steering import SteeringVector, generate, saif_vector

GID = "tiny-gemma2"
PROMPTS = ["Le chat dort sur le canapé, et le chien aboie dans le jardin depuis ce matin.",
           "Where is the train station?", "我们明天去公园散步。"]


@pytest.fixture(scope="module")
def tiny_gemma2(tmp_path_factory):
    from tiny_model import build_tiny_gemma2, unregister

    folder = tmp_path_factory.mktemp("tiny_gemma2_ckpt") / "model"
    build_tiny_gemma2(folder, n_layers=2, d_model=64)
    models.register_model(models.ModelSpec(id=GID, source="local", tl_name=None, hf_name=str(folder),
                                           n_layers=2, d_model=64, chat=True, notes="tests: tiny random Gemma-2"))
    try:
        yield models.load_model(GID, device="cpu")
    finally:
        unregister(GID)


@pytest.fixture
def gemma2_tl(tiny_gemma2):
    """``tiny_gemma2.tl`` built by saif_core's own code (``tl_configs`` reads the Gemma-2 config
    from the HF config, since TransformerLens knows Gemma-2 only by official name)."""
    tiny_gemma2.__dict__.pop("tl", None)
    yield tiny_gemma2.tl
    tiny_gemma2.__dict__.pop("tl", None)


def test_tiny_gemma2_loads_with_its_chat_template(tiny_gemma2):
    m = tiny_gemma2
    f = m.format_prompt("Bonjour")
    assert f == "<bos><start_of_turn>user\nBonjour<end_of_turn>\n<start_of_turn>model\n"
    assert m.encode(f)[0] == m.tokenizer.bos_token_id and m.tokenizer.decode(m.encode(f)) == f
    eot = m.tokenizer.convert_tokens_to_ids("<end_of_turn>")
    assert {eot, m.tokenizer.eos_token_id} <= set(m.stop_token_ids)
    assert m.hf.config.sliding_window < len(m.encode(m.format_prompt(PROMPTS[0]))), "the window is exercised"


def test_tl_builds_a_local_gemma2_and_restores_its_config_lookup(tiny_gemma2):
    from transformer_lens import loading_from_pretrained as loading

    real = loading.convert_hf_model_config
    tiny_gemma2.__dict__.pop("tl", None)
    tl = tiny_gemma2.tl
    assert tl.cfg.n_layers == 2 and tl.cfg.d_model == 64 and tl.cfg.original_architecture == "Gemma2ForCausalLM"
    assert loading.convert_hf_model_config is real, "TL's lookup is patched only during the load"
    tiny_gemma2.__dict__.pop("tl", None)


def test_hf_and_tl_views_agree_on_a_local_gemma2(tiny_gemma2, gemma2_tl):
    m = tiny_gemma2
    ids = torch.tensor([m.encode(m.format_prompt(PROMPTS[0]))])
    hf_logits = m.hf(input_ids=ids).logits
    tl_logits, cache = gemma2_tl.run_with_cache(ids, names_filter=lambda n: n.endswith("hook_resid_post"))
    assert (tl_logits - hf_logits).abs().max().item() < 1e-4
    got = m.capture(ids, torch.ones_like(ids), [0, 1])
    for layer in (0, 1):
        scale = got[layer].abs().max().item()
        assert (cache[m.hook_name(layer)] - got[layer]).abs().max().item() < 1e-5 * scale


def test_jumprelu_sae_fits_and_steers(tiny_gemma2, tmp_path, monkeypatch):
    m = tiny_gemma2
    root = tmp_path / "saes"
    sae_id = make_sae(root, model=GID, layer=1, d_in=64, kind="jumprelu")
    monkeypatch.setenv("SAIF_SAES", str(root))
    assert saes.default_sae_id(GID) == sae_id  # at the last layer: no steering_layer
    sae = saes.load_sae(sae_id, m)
    formatted = [m.format_prompt(p) for p in PROMPTS]
    acts = features.encode_prompts(m, sae, 1, formatted)
    assert acts.shape == (3, 128) and 0 < (acts > 0).float().mean() < 1
    misfiled = make_sae(root, model=GID, layer=0, d_in=64, kind="jumprelu", hook="blocks.1.hook_resid_post")
    with pytest.raises(saes.SAEError, match="says hook blocks.1.hook_resid_post but it is registered at blocks.0"):
        saes.load_sae(misfiled, m)
    top = acts.mean(0).argsort(descending=True)[:2].tolist()
    sv = saif_vector(m, sae, 1, top, [acts[:, j].mean().item() for j in top], sae_id=sae_id, alpha=4.0)
    assert isinstance(sv, SteeringVector) and sv.vector.shape == (64,)
    plain = generate(m, formatted, max_new_tokens=8)
    steered = generate(m, formatted, max_new_tokens=8, steering=sv)
    assert steered != plain
    assert steered == [generate(m, [f], max_new_tokens=8, steering=sv)[0] for f in formatted]
    assert generate(m, formatted, max_new_tokens=8) == plain  # nothing leaked


def test_the_paper_profile_code_path_with_only_the_weights_source_swapped(tiny_gemma2, tmp_path, monkeypatch):
    """gemma-2-2b-it as the paper profile registers it (source "hub"), its weights read from the
    tiny random Gemma-2's folder instead of the hub: the same load (hub check, both views),
    parity, a Gemma-Scope-format (JumpReLU) SAE fitted and checked, and one whole SAIF run
    (pairs, latents, vector, steered generation, judge) through ``experiments.run``."""
    import dataclasses

    from tiny_model import unregister

    from saif_core import assets, doctor, experiments

    paper = models.get_spec("gemma-2-2b-it")
    assert paper.source == "hub" and paper.chat
    swapped = dataclasses.replace(paper, hf_name=str(tiny_gemma2.source_dir), tl_name=None, n_layers=2, d_model=64)
    monkeypatch.setattr(assets, "hub_cached", lambda repo: True)  # what a machine with the hub cache says
    root = tmp_path / "saes"
    sae_id = make_sae(root, model="gemma-2-2b-it", layer=1, d_in=64, kind="jumprelu")
    monkeypatch.setenv("SAIF_SAES", str(root))
    models.register_model(swapped)
    try:
        m = models.load_model("gemma-2-2b-it", device="cpu")
        assert m.spec.source == "hub" and m.format_prompt("Hi").startswith("<bos><start_of_turn>user")
        assert doctor.parity(m) < 1e-4
        assert saes.default_sae_id("gemma-2-2b-it") == sae_id
        saes.load_sae(sae_id, m)  # check_fits: model, d_in, hook
        cfg = experiments.RunConfig(model="gemma-2-2b-it", task="translate_fr", k=2, alpha=4.0, n_extract=6,
                                    n_eval=2, max_new_tokens=4, min_prob=0.0)
        s = experiments.run(cfg, root=tmp_path / "results", progress=False)
        assert s["n"] == 2 and len(s["latents"]) == 2 and {"original", "prompted", "steered"} <= set(s)
    finally:
        unregister("gemma-2-2b-it")
        models.register_model(paper)
