"""A tiny random chat model, built offline and deterministically, for fast hook tests.

``build_tiny_llama(folder)`` writes a 3-layer ``LlamaForCausalLM`` (d_model 64, 4 heads,
2 KV heads) and a byte-level BPE tokenizer trained on the repo's own task and contents
files (so French and Chinese text encodes), with SmolLM2's special tokens and ChatML
chat template, in ``save_pretrained`` layout. The model writes garbage, but every hook,
capture, steering and generation path runs on it in milliseconds.

``build_tiny_gemma2(folder)`` is the same for a 2-layer ``Gemma2ForCausalLM`` with a
Gemma-style chat template (``<start_of_turn>`` / ``<end_of_turn>``).

The fixtures put them in folders whose paths contain "llama" and "gemma" on purpose:
TransformerLens guesses the architecture from such words in a path and then skips its
config.json, and ``SaifModel.tl`` must not be fooled by that.
"""
from __future__ import annotations

import json
from pathlib import Path

import torch

REPO = Path(__file__).resolve().parent.parent

SMOL_CHAT_TEMPLATE = (
    "{% for message in messages %}"
    "{% if loop.first and messages[0]['role'] != 'system' %}"
    "{{ '<|im_start|>system\\nYou are a helpful AI assistant.<|im_end|>\\n' }}"
    "{% endif %}"
    "{{ '<|im_start|>' + message['role'] + '\\n' + message['content'] + '<|im_end|>' + '\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<|im_start|>assistant\\n' }}{% endif %}"
)

GEMMA_CHAT_TEMPLATE = (
    "{{ bos_token }}"
    "{% for message in messages %}"
    "{% set role = 'model' if message['role'] == 'assistant' else message['role'] %}"
    "{{ '<start_of_turn>' + role + '\\n' + message['content'] | trim + '<end_of_turn>\\n' }}"
    "{% endfor %}"
    "{% if add_generation_prompt %}{{ '<start_of_turn>model\\n' }}{% endif %}"
)


def unregister(model_id: str) -> None:
    """Remove a test model from the registry and from every load cache."""
    from saif_core import models, saes

    models.MODELS.pop(model_id, None)
    # keyed (id, device): models.register_model's own eviction, _LOADED.pop(id), misses them
    for key in [k for k in models._LOADED if k[0] == model_id]:
        models._LOADED.pop(key)
    sae_cache = getattr(saes, "_LOADED", {})  # keyed (sae id, path, device, fingerprint)
    for key in [k for k in sae_cache if str(k[0]).startswith(model_id + "/")]:
        sae_cache.pop(key)


def corpus_lines(limit: int = 600) -> list[str]:
    """Text from the repo's data: contents' texts and every string in the task files."""
    lines: list[str] = []
    for path in sorted((REPO / "data" / "contents").glob("*.jsonl")):
        for line in path.read_text(encoding="utf-8").splitlines():
            if line.strip():
                lines.append(json.loads(line)["text"])

    def strings(x):
        if isinstance(x, str):
            yield x
        elif isinstance(x, dict):
            for v in x.values():
                yield from strings(v)
        elif isinstance(x, list):
            for v in x:
                yield from strings(v)

    for path in sorted((REPO / "data" / "tasks").glob("*.json")):
        lines += list(strings(json.loads(path.read_text(encoding="utf-8"))))
    # every language of the contents, not only the first file's first lines
    return lines[::max(1, len(lines) // limit)][:limit]


def build_tokenizer(special: list[str], chat_template: str, bos: str | None, eos: str, pad: str,
                    vocab_size: int = 1024):
    """A byte-level BPE (any text encodes) trained on ``corpus_lines``, as a fast tokenizer."""
    from tokenizers import Tokenizer, decoders, models, pre_tokenizers, processors, trainers
    from transformers import PreTrainedTokenizerFast

    tok = Tokenizer(models.BPE())
    tok.pre_tokenizer = pre_tokenizers.ByteLevel(add_prefix_space=False)
    tok.decoder = decoders.ByteLevel()
    tok.post_processor = processors.ByteLevel(trim_offsets=False)
    trainer = trainers.BpeTrainer(vocab_size=vocab_size, special_tokens=special, show_progress=False,
                                  initial_alphabet=pre_tokenizers.ByteLevel.alphabet())
    tok.train_from_iterator(corpus_lines(), trainer=trainer)
    return PreTrainedTokenizerFast(tokenizer_object=tok, bos_token=bos, eos_token=eos, pad_token=pad,
                                   unk_token=None, chat_template=chat_template, model_max_length=512)


def build_tiny_llama(folder: str | Path, n_layers: int = 3, d_model: int = 64, seed: int = 0) -> Path:
    """Write a tiny random SmolLM2-like chat model to ``folder``; return it."""
    from transformers import LlamaConfig, LlamaForCausalLM

    folder = Path(folder)
    tok = build_tokenizer(["<|endoftext|>", "<|im_start|>", "<|im_end|>"], SMOL_CHAT_TEMPLATE,
                          bos="<|im_start|>", eos="<|im_end|>", pad="<|endoftext|>")
    cfg = LlamaConfig(
        vocab_size=len(tok), hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layers,
        num_attention_heads=4, num_key_value_heads=2, max_position_embeddings=512, rms_norm_eps=1e-5,
        rope_theta=10000.0, tie_word_embeddings=True, initializer_range=0.2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = LlamaForCausalLM(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder


def build_tiny_gemma2(folder: str | Path, n_layers: int = 2, d_model: int = 64, seed: int = 0) -> Path:
    """Write a tiny random Gemma-2-like chat model to ``folder``; return it."""
    from transformers import Gemma2Config, Gemma2ForCausalLM

    folder = Path(folder)
    tok = build_tokenizer(["<pad>", "<eos>", "<bos>", "<start_of_turn>", "<end_of_turn>"], GEMMA_CHAT_TEMPLATE,
                          bos="<bos>", eos="<eos>", pad="<pad>")
    cfg = Gemma2Config(
        vocab_size=len(tok), hidden_size=d_model, intermediate_size=2 * d_model, num_hidden_layers=n_layers,
        num_attention_heads=4, num_key_value_heads=2, head_dim=d_model // 4, max_position_embeddings=512,
        sliding_window=16, query_pre_attn_scalar=d_model // 4, initializer_range=0.2,
        bos_token_id=tok.bos_token_id, eos_token_id=tok.eos_token_id, pad_token_id=tok.pad_token_id,
    )
    torch.manual_seed(seed)
    model = Gemma2ForCausalLM(cfg).eval()
    model.save_pretrained(folder)
    tok.save_pretrained(folder)
    return folder
