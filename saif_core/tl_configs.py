"""TransformerLens configs read from a Hugging Face config, for architectures TL knows only
by official name.

TransformerLens 3.x builds a Gemma-2 config only from an official hub name
(``google/gemma-2-2b...``, with that model's hard-coded sizes); from a local folder it raises
NotImplementedError. The paper profile loads Gemma-2 by official name, so it never needs
this; a Gemma-2 of another size or from a local folder (a fine-tune, the tiny random one in
the tests) does. ``fallback_configs`` teaches TL's lookup the architectures below, for the
duration of one load, and only for configs it cannot build itself.
"""
from __future__ import annotations

from contextlib import contextmanager


def gemma2(c) -> dict:
    """TransformerLens' Gemma-2 config (the fields of its ``google/gemma-2-2b`` entry), from an HF config."""
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


FALLBACKS = {"Gemma2ForCausalLM": gemma2}  # HF architecture -> TL config from the HF config


@contextmanager
def fallback_configs(hf_config):
    """While open, TL's ``convert_hf_model_config`` answers for ``hf_config``'s architecture
    (when it is in ``FALLBACKS``) from ``hf_config`` itself; every other call goes to TL."""
    from transformer_lens import loading_from_pretrained as loading

    build = FALLBACKS.get((getattr(hf_config, "architectures", None) or [None])[0])
    if build is None:
        yield
        return
    real = loading.convert_hf_model_config

    def convert(name, **kw):
        try:
            return real(name, **kw)
        except NotImplementedError:
            return {**build(hf_config), "tokenizer_name": str(name)}

    loading.convert_hf_model_config = convert
    try:
        yield
    finally:
        loading.convert_hf_model_config = real
