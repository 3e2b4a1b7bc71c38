"""SAE registry, save/load round trip, fit checks and health metrics on SAEs whose
metrics are known exactly: an identity SAE (FVU 0) and a mean-only SAE (FVU 1)."""
import json

import pytest
import torch

from saif_core.sae_metrics import sae_metrics
from saif_core import saes
from saif_core.saes import SAEError
from sae_factory import make_sae

TEXTS = [
    "The museum opens at nine and closes late on Thursdays.",
    "Le marché du samedi attire des familles de toute la région.",
    "Der Zug nach Berlin hatte heute zwanzig Minuten Verspätung.",
    "El río crece cada primavera cuando se derrite la nieve.",
    "这座城市的公园在秋天特别美丽。",
    "Please summarize the report in two sentences.",
]


def test_registry_lists_shipped_and_paper_saes(tmp_path):
    sid = make_sae(tmp_path)
    reg = saes.registry(tmp_path)
    assert sid in reg and reg[sid].layer == 29 and reg[sid].d_sae == 1152 and reg[sid].source == "shipped"
    assert "gemma-scope-2b-pt-res-canonical/layer_25/width_16k/canonical" in reg
    assert reg["gemma-scope-9b-pt-res-canonical/layer_41/width_131k/canonical"].hook == "blocks.41.hook_resid_post"
    steer = make_sae(tmp_path, layer=23)  # SmolLM2 steers at layer 23 (ModelSpec.steering_layer)
    assert saes.default_sae_id("smollm2-135m-instruct", tmp_path) == steer
    assert saes.default_sae_id("gemma-2-2b-it") == "gemma-scope-2b-pt-res-canonical/layer_25/width_16k/canonical"


def test_round_trip_keeps_weights(tmp_path):
    sid = make_sae(tmp_path)
    sae = saes.load_sae(sid, root=tmp_path)
    assert sae.cfg.d_in == 576 and sae.cfg.d_sae == 1152
    assert torch.equal(sae.W_dec[:576], torch.eye(576))
    x = torch.randn(5, 576)
    assert torch.allclose(sae.decode(sae.encode(x)), x, atol=1e-6)


def test_unknown_sae_id(tmp_path):
    with pytest.raises(SAEError, match="(?s)unknown SAE id 'nope'.*make saes"):
        saes.load_sae("nope", root=tmp_path)


def test_missing_weights_file(tmp_path):
    sid = make_sae(tmp_path)
    (tmp_path / sid / "sae_weights.safetensors").unlink()
    with pytest.raises(SAEError, match="sae_weights.safetensors is missing"):
        saes.load_sae(sid, root=tmp_path)


def test_no_steering_sae_says_make_saes(tmp_path):
    with pytest.raises(SAEError, match="no SAE for gemma-3-270m at its steering layer \\(17\\).*make saes"):
        saes.default_sae_id("gemma-3-270m", tmp_path)


def test_paper_sae_offline_fails_with_fix(monkeypatch):
    monkeypatch.setenv("HF_HUB_OFFLINE", "1")
    with pytest.raises(SAEError, match="gemma-scope-2b-pt-res-canonical.*hub"):
        saes.load_sae("gemma-scope-2b-pt-res-canonical/layer_25/width_16k/canonical")


@pytest.mark.slow
def test_dimension_mismatch_is_named(tmp_path, smollm):
    sid = make_sae(tmp_path, d_in=640)  # a Gemma-3-sized SAE filed under SmolLM2
    with pytest.raises(SAEError, match="d_in is 640 but smollm2-135m-instruct has d_model 576"):
        saes.load_sae(sid, smollm, root=tmp_path)


@pytest.mark.slow
def test_hook_mismatch_is_named(tmp_path, smollm):
    sid = make_sae(tmp_path, hook="blocks.12.hook_resid_post")
    with pytest.raises(SAEError, match="cfg says hook blocks.12.hook_resid_post but it is registered at blocks.29"):
        saes.load_sae(sid, smollm, root=tmp_path)


@pytest.mark.slow
def test_sae_of_another_model_is_refused(tmp_path, smollm):
    sid = make_sae(tmp_path, model="gemma-3-270m", layer=17, d_in=640)
    with pytest.raises(SAEError, match="trained on gemma-3-270m, not smollm2-135m-instruct"):
        saes.load_sae(sid, smollm, root=tmp_path)


@pytest.mark.slow
def test_identity_sae_metrics(tmp_path, smollm):
    sae = saes.load_sae(make_sae(tmp_path), smollm, root=tmp_path)
    m = sae_metrics(smollm, sae, 29, TEXTS)
    print(m)
    assert m["fvu"] < 1e-6
    assert abs(m["ce_increase"]) < 1e-3
    assert m["l0"] > 570  # one of each +/- pair fires per dimension
    assert m["dead_fraction"] < 0.02
    assert m["n_tokens"] == sum(len(smollm.encode(t)) - 1 for t in TEXTS)  # first token skipped
    # batched, length-sorted and padded, the clean CE is the one of each document on its own
    total, count = 0.0, 0
    with torch.no_grad():
        for t in TEXTS:
            ids = torch.tensor([smollm.encode(t)])
            n = ids.shape[1] - 1
            total += smollm.hf(input_ids=ids, labels=ids).loss.item() * n
            count += n
    assert m["ce_clean"] == pytest.approx(total / count, abs=1e-4)


@pytest.mark.slow
def test_mean_sae_has_fvu_one_and_hurts_ce(tmp_path, smollm):
    acts = []
    with torch.no_grad(), smollm.resid_hook(29, lambda r: acts.append(r[0, 1:])):
        for t in TEXTS:
            smollm.hf(torch.tensor([smollm.encode(t)]))
    mean = torch.cat(acts).mean(0)
    sae = saes.load_sae(make_sae(tmp_path, kind="mean", mean=mean), smollm, root=tmp_path)
    m = sae_metrics(smollm, sae, 29, TEXTS)
    assert m["fvu"] == pytest.approx(1.0, abs=1e-4)
    assert m["l0"] == 0 and m["dead_fraction"] == 1.0
    assert m["ce_increase"] > 0.5


def test_a_second_sae_on_the_same_texts_costs_one_forward_pass_per_batch(tmp_path, tiny_llama):
    """The clean cross-entropy is computed once per model and texts: a second SAE gets the
    same clean figures from one (spliced) pass per batch, and its own metrics are unchanged."""
    from saif_core import sae_metrics as SM

    layer = 1
    d_in = tiny_llama.hf.config.hidden_size
    a = saes.load_sae(make_sae(tmp_path / "a", model=tiny_llama.id, layer=layer, d_in=d_in), tiny_llama,
                      root=tmp_path / "a")
    b = saes.load_sae(make_sae(tmp_path / "b", model=tiny_llama.id, layer=layer, d_in=d_in, kind="mean",
                               mean=torch.zeros(d_in)), tiny_llama, root=tmp_path / "b")
    texts = ["one two three four five", "six seven eight", "nine ten eleven twelve thirteen"]
    calls = []
    hook = tiny_llama.hf.register_forward_hook(lambda *_: calls.append(1))
    try:
        SM.clear_clean_ce()
        first_a = SM.sae_metrics(tiny_llama, a, layer, texts, batch_size=2)
        n_batches = 2
        assert len(calls) == 2 * n_batches
        calls.clear()
        second_b = SM.sae_metrics(tiny_llama, b, layer, texts, batch_size=2)
        assert len(calls) == n_batches
        calls.clear()
        again_a = SM.sae_metrics(tiny_llama, a, layer, texts, batch_size=2)
        SM.clear_clean_ce()
        alone_b = SM.sae_metrics(tiny_llama, b, layer, texts, batch_size=2)
    finally:
        hook.remove()
    assert again_a == first_a and alone_b == second_b
    assert second_b["ce_clean"] == first_a["ce_clean"] and second_b["ce_spliced"] != first_a["ce_spliced"]


def test_read_text_file(tmp_path):
    p = tmp_path / "t.jsonl"
    p.write_text('{"text": "a b"}\n\n{"nope": 1}\n')
    with pytest.raises(SAEError, match="t.jsonl:3: not a JSON object with a \"text\" field"):
        saes.read_text_file(p)
    q = tmp_path / "t.txt"
    q.write_text("one\n\ntwo\n")
    assert saes.read_text_file(q) == ["one", "two"]
    with pytest.raises(SAEError, match="does not exist"):
        saes.read_text_file(tmp_path / "missing.txt")


@pytest.mark.slow
def test_cli_sae_eval_json(tmp_path, monkeypatch, capsys):
    from saif_core import cli

    sid = make_sae(tmp_path)
    monkeypatch.setenv("SAIF_SAES", str(tmp_path))
    texts = tmp_path / "texts.txt"
    texts.write_text("\n".join(TEXTS))
    assert cli.main(["sae-eval", "--sae", sid, "--text-file", str(texts), "--json"]) == 0
    out = json.loads(capsys.readouterr().out)
    assert out["sae"] == sid and out["hook"] == "blocks.29.hook_resid_post" and out["fvu"] < 1e-6
    assert {"fvu", "l0", "dead_fraction", "ce_increase", "n_tokens"} <= set(out)
