"""A tiny random Gemma-2 registered as a ``local`` chat model: both views, an SAE, steering.

Not `slow` (2 layers of width 64). The paper's models are Gemma-2; this checks the
Gemma-specific paths (chat template, ``<end_of_turn>``, soft-capping, sliding-window
attention, (1 + w) RMSNorm) offline.

TransformerLens knows Gemma-2 only by official name (``google/gemma-2-2b...``, with
hard-coded sizes), so ``SaifModel.tl`` cannot build a local/other-size Gemma-2 today:
``tl_name=None`` raises NotImplementedError in ``convert_hf_model_config``, and
``tl_name="google/gemma-2-2b-it"`` gives the 2B's 26x2304 config (IndexError while
converting the weights). ``gemma2_tl_config`` below is the config TL needs, read from the
HF config; with it patched in, the views agree.
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


def gemma2_tl_config(c) -> dict:
    """TransformerLens' Gemma-2 config (as its ``google/gemma-2-2b`` entry) from an HF config."""
    rope = getattr(c, "rope_parameters", None) or {}
    return {
        "d_model": c.hidden_size, "d_head": c.head_dim, "n_heads": c.num_attention_heads, "d_mlp": c.intermediate_size,
        "n_layers": c.num_hidden_layers, "n_ctx": c.max_position_embeddings, "eps": c.rms_norm_eps,
        "d_vocab": c.vocab_size, "act_fn": c.hidden_activation, "initializer_range": c.initializer_range,
        "normalization_type": "RMS", "rotary_base": rope.get("rope_theta", getattr(c, "rope_theta", 10000.0)),
        "positional_embedding_type": "rotary", "use_attn_scale": True, "n_key_value_heads": c.num_key_value_heads,
        "window_size": c.sliding_window, "use_local_attn": True,
        "attn_types": ["local" if t == "sliding_attention" else "global" for t in c.layer_types],
        "attn_scores_soft_cap": c.attn_logit_softcapping, "output_logits_soft_cap": c.final_logit_softcapping,
        "gated_mlp": True, "final_rms": True, "use_normalization_before_and_after": True,
        "original_architecture": "Gemma2ForCausalLM",
    }


@pytest.fixture
def gemma2_tl(tiny_gemma2, monkeypatch):
    """``tiny_gemma2.tl`` built by saif_core's own code, with TL's config lookup taught Gemma-2."""
    from transformer_lens import loading_from_pretrained as loading
    from transformers import AutoConfig

    real = loading.convert_hf_model_config

    def convert(name, **kw):
        cfg = AutoConfig.from_pretrained(name)
        if cfg.architectures == ["Gemma2ForCausalLM"]:
            return {**gemma2_tl_config(cfg), "tokenizer_name": name}
        return real(name, **kw)

    monkeypatch.setattr(loading, "convert_hf_model_config", convert)
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


@pytest.mark.xfail(raises=NotImplementedError, strict=True,
                   reason="TransformerLens builds Gemma-2 configs by official name only; saif_core's "
                          "SaifModel.tl has no fallback from the HF config (see gemma2_tl_config)")
def test_tl_view_of_a_local_gemma2(tiny_gemma2):
    tiny_gemma2.__dict__.pop("tl", None)
    tiny_gemma2.tl


def test_hf_and_tl_views_agree_given_a_gemma2_config(tiny_gemma2, gemma2_tl):
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
