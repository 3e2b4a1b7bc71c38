"""Hooks, capture, steering, extraction and a small pipeline on a tiny random Llama.

Not `slow`: the model (tests/tiny_model.py, fixtures in conftest.py) has 3 layers of
width 64, so every test here runs in well under a second. What it writes is garbage;
what is checked is exact arithmetic (captures, added vectors) and bookkeeping.
"""
import json
import math

import pytest
import torch

from saif_core import data, experiments, features, saes
from saif_core.steering import SteeringError, SteeringVector, generate

L = 1  # a middle layer of the 3
PROMPTS = ["Le chat dort sur le canapé.", "Where is the train station?", "Das Wetter ist heute schön.",
           "我们明天去公园散步。", "El libro está en la mesa de la cocina, junto a las llaves."]


def _batch(m, texts):
    return m.pad([m.encode(m.format_prompt(t)) for t in texts])


def _unit(seed, d=64):
    v = torch.randn(d, generator=torch.Generator().manual_seed(seed))
    return v / v.norm()


def _close(a, b, tol=1e-5):
    """Equal up to float32 rounding, relative to the scale of ``b`` (the random model's
    residuals are of order 10)."""
    a, b = torch.as_tensor(a).float(), torch.as_tensor(b).float()
    return a.shape == b.shape and (a - b).abs().max().item() <= tol * max(1.0, b.abs().max().item())


def _ours(module):
    """Forward hooks on ``module`` other than the output-capturing ones transformers 5
    installs (for good) on the first ``output_hidden_states=True`` call."""
    return [h for h in module._forward_hooks.values() if "output_capturing_hook" not in getattr(h, "__qualname__", "")]


def _hooks(m):
    return sum(len(_ours(layer)) for layer in m.hf.model.layers)


# ---------------------------------------------------------------- the fixture itself


def test_tiny_model_loads_through_the_registry(tiny_llama):
    m = tiny_llama
    assert m.id == "tiny-llama" and m.spec.source == "local" and m.spec.steer_layer == L
    assert m.hf.config.num_hidden_layers == 3 and m.hf.config.hidden_size == 64
    f = m.format_prompt(PROMPTS[3])
    assert f.startswith("<|im_start|>system\n") and f.endswith("<|im_start|>assistant\n")
    assert m.tokenizer.decode(m.encode(f)) == f  # French / Chinese round-trip through the byte-level BPE
    im_end = m.tokenizer.convert_tokens_to_ids("<|im_end|>")
    assert im_end in m.stop_token_ids and m.tokenizer.pad_token_id != im_end
    assert m.hook_name(-2) == f"blocks.{L}.hook_resid_post"


# ---------------------------------------------------------------- resid_hook and capture


def test_resid_hook_reads_hf_hidden_states(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:3])
    seen = []
    with m.resid_hook(L, lambda r: seen.append(r.clone())):
        out = m.hf(input_ids=ids, attention_mask=mask, output_hidden_states=True)
    assert len(seen) == 1 and _hooks(m) == 0
    assert torch.equal(seen[0], out.hidden_states[L + 1])


def test_resid_hook_is_removed_when_the_body_raises(tiny_llama):
    m = tiny_llama
    with pytest.raises(RuntimeError, match="boom"):
        with m.resid_hook(L, lambda r: None):
            assert len(_ours(m.layer_module(L))) == 1
            raise RuntimeError("boom")
    assert _hooks(m) == 0


def test_capture_returns_the_layers_asked_and_stops_after_the_deepest(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:2])
    ran = []
    handles = [layer.register_forward_hook(lambda mod, i, o, j=j: ran.append(j)) for j, layer in enumerate(m.hf.model.layers)]
    handles.append(m.hf.model.norm.register_forward_hook(lambda *a: ran.append("norm")))
    try:
        got = m.capture(ids, mask, [0, -2])
    finally:
        for h in handles:
            h.remove()
    assert sorted(got) == [0, 1] and ran == [0, 1], "layer 2 and the final norm never run"
    hs = m.hf(input_ids=ids, attention_mask=mask, output_hidden_states=True).hidden_states
    assert torch.equal(got[0], hs[1]) and torch.equal(got[1], hs[2])
    assert _hooks(m) == 0


def test_left_padding_does_not_change_a_prompts_residuals(tiny_llama):
    m = tiny_llama
    formatted = [m.format_prompt(p) for p in PROMPTS]
    batched = features.residuals(m, formatted, L)
    alone = torch.cat([features.residuals(m, [f], L) for f in formatted])
    assert batched.shape == (5, 64) and _close(batched, alone)


# ---------------------------------------------------------------- the TransformerLens view


def test_hf_and_transformerlens_views_agree(tiny_llama):
    m = tiny_llama
    ids = torch.tensor([m.encode(m.format_prompt(PROMPTS[0]))])
    hf_logits = m.hf(input_ids=ids).logits
    tl_logits, cache = m.tl.run_with_cache(ids, names_filter=lambda n: n.endswith("hook_resid_post"))
    assert (tl_logits - hf_logits).abs().max().item() < 1e-4
    got = m.capture(ids, torch.ones_like(ids), [0, L])
    for layer in (0, L):
        assert _close(cache[m.hook_name(layer)], got[layer])


# ---------------------------------------------------------------- SteeringVector.apply


def _resid_delta(m, sv, ids, mask, **apply_kw):
    """Residual at L after minus before the vector's hook, per forward call (hooks on one
    module run in registration order: read, add, read)."""
    before, after = [], []
    with m.resid_hook(sv.layer, lambda r: before.append(r.clone())):
        with sv.apply(m, **apply_kw):
            with m.resid_hook(sv.layer, lambda r: after.append(r.clone())):
                m.hf.generate(input_ids=ids, attention_mask=mask, max_new_tokens=3, do_sample=False,
                              pad_token_id=m.tokenizer.pad_token_id, eos_token_id=None)
    assert _hooks(m) == 0
    return [a - b for a, b in zip(after, before)]


def test_alpha_zero_leaves_outputs_unchanged(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:3])
    plain = m.hf(input_ids=ids, attention_mask=mask).logits
    with SteeringVector(_unit(0) * 5, m.id, L, "saif").apply(m, alpha=0.0):
        zero = m.hf(input_ids=ids, attention_mask=mask).logits
    with SteeringVector(_unit(0) * 5, m.id, L, "saif").apply(m, alpha=1.0):
        steered = m.hf(input_ids=ids, attention_mask=mask).logits
    assert torch.equal(plain, zero) and not torch.allclose(plain, steered)


def test_positions_all_adds_alpha_v_everywhere(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:3])
    v = _unit(1)
    deltas = _resid_delta(m, SteeringVector(v, m.id, L, "saif", positions="all"), ids, mask, alpha=3.0)
    assert len(deltas) == 3 and deltas[0].shape[1] == ids.shape[1] and deltas[1].shape[1] == 1  # prefill, 2 decode steps
    for d in deltas:
        assert _close(d, (3.0 * v).expand_as(d))


def test_positions_generated_adds_only_at_the_last_prompt_token_and_new_tokens(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:3])
    v = _unit(2)
    deltas = _resid_delta(m, SteeringVector(v, m.id, L, "saif", positions="generated"), ids, mask, alpha=3.0)
    prefill, *steps = deltas
    assert _close(prefill[:, -1], (3.0 * v).expand(3, -1))
    assert torch.equal(prefill[:, :-1], torch.zeros_like(prefill[:, :-1]))
    for d in steps:
        assert d.shape[1] == 1 and _close(d, (3.0 * v).expand_as(d))


def test_per_row_alphas_scale_each_row(tiny_llama):
    m = tiny_llama
    ids, mask = _batch(m, PROMPTS[:3])
    v = _unit(3)
    deltas = _resid_delta(m, SteeringVector(v, m.id, L, "saif"), ids, mask, alpha=[0.0, 1.0, -2.5])
    for d in deltas:
        for row, a in enumerate([0.0, 1.0, -2.5]):
            assert _close(d[row], (a * v).expand_as(d[row]))


@pytest.mark.parametrize("positions", ["all", "generated"])
def test_per_row_alphas_equal_one_call_per_alpha(tiny_llama, positions):
    m = tiny_llama
    formatted = [m.format_prompt(p) for p in PROMPTS[:3]]
    sv = SteeringVector(_unit(4) * 4, m.id, L, "saif", positions=positions)
    alphas = [0.0, 2.0, 5.0]
    mixed = generate(m, formatted * 3, max_new_tokens=8, steering=sv, alpha=[a for a in alphas for _ in formatted])
    alone = [o for a in alphas for o in generate(m, formatted, max_new_tokens=8, steering=sv, alpha=a)]
    assert mixed == alone
    assert mixed[:3] != mixed[6:], "the strengths differ, so must the outputs"
    assert mixed[:3] == generate(m, formatted, max_new_tokens=8)  # alpha 0 is no steering
    with pytest.raises(SteeringError, match="2 alphas for 3 prompts"):
        generate(m, formatted, max_new_tokens=2, steering=sv, alpha=[1.0, 2.0])
    with pytest.raises(SteeringError, match="alpha must be a finite number"):
        generate(m, formatted, max_new_tokens=2, steering=sv, alpha=[1.0, math.nan, 2.0])
    assert _hooks(m) == 0


def test_apply_never_leaks_its_hook(tiny_llama):
    m = tiny_llama
    sv = SteeringVector(_unit(5), m.id, L, "saif")
    with pytest.raises(RuntimeError, match="boom"):
        with sv.apply(m, alpha=1.0):
            assert len(_ours(m.layer_module(L))) == 1
            raise RuntimeError("boom")
    assert _hooks(m) == 0
    ids, mask = _batch(m, PROMPTS[:3])
    with pytest.raises(SteeringError, match="2 per-row alphas for a batch of 3"):  # raised inside the hook
        with sv.apply(m, alpha=[1.0, 2.0]):
            m.hf(input_ids=ids, attention_mask=mask)
    assert _hooks(m) == 0


def test_a_vector_that_does_not_fit_is_refused(tiny_llama):
    m = tiny_llama
    with pytest.raises(SteeringError, match="built for smollm2-135m-instruct, not tiny-llama"):
        with SteeringVector(torch.ones(64), "smollm2-135m-instruct", L, "saif").apply(m):
            pass
    with pytest.raises(SteeringError, match="does not match d_model 64"):
        with SteeringVector(torch.ones(576), m.id, L, "saif").apply(m):
            pass
    assert _hooks(m) == 0


# ---------------------------------------------------------------- generate


@pytest.mark.parametrize("positions", [None, "all", "generated"])
def test_batched_generation_equals_one_at_a_time(tiny_llama, positions):
    m = tiny_llama
    formatted = [m.format_prompt(p) for p in PROMPTS]
    assert len({len(m.encode(f)) for f in formatted}) > 1, "prompts of different lengths: left padding matters"
    sv = SteeringVector(_unit(6), m.id, L, "saif", alpha=6.0, positions=positions) if positions else None
    batched = generate(m, formatted, max_new_tokens=12, batch_size=5, steering=sv)
    single = [generate(m, [f], max_new_tokens=12, steering=sv)[0] for f in formatted]
    assert batched == single
    assert generate(m, formatted, max_new_tokens=12, batch_size=2, steering=sv) == batched  # deterministic
    assert all(batched), "the random model writes something"
    if sv is not None:
        assert batched != generate(m, formatted, max_new_tokens=12), "the vector changes the outputs"


def test_generation_stops_at_im_end(tiny_llama, monkeypatch):
    """Row 0 is steered hard towards <|im_end|> (its tied embedding, added before the final
    norm): it stops after one token while row 1 (alpha 0) runs on, exactly as alone."""
    m = tiny_llama
    im_end = m.tokenizer.convert_tokens_to_ids("<|im_end|>")
    to_end = SteeringVector(m.hf.lm_head.weight[im_end].detach().clone(), m.id, m.spec.last_layer, "saif")
    formatted = [m.format_prompt(PROMPTS[0]), m.format_prompt(PROMPTS[1])]
    raw = []
    real = m.hf.generate
    monkeypatch.setattr(m.hf, "generate", lambda **kw: raw.append((kw["input_ids"].shape[1], real(**kw))) or raw[-1][1])
    outs = generate(m, formatted, max_new_tokens=8, steering=to_end, alpha=[1000.0, 0.0])
    width, seqs = raw[-1]
    order = sorted(range(2), key=lambda i: len(formatted[i]))  # generate sorts by length
    row0 = seqs[order.index(0), width:].tolist()
    assert row0[0] == im_end and set(row0[1:]) <= {m.tokenizer.pad_token_id}
    assert outs[0] == "" and outs[1] == generate(m, formatted[1:], max_new_tokens=8)[0] != ""
    assert seqs.shape[1] - width == 8  # row 1 ran to max_new_tokens
    full = generate(m, formatted[:1], max_new_tokens=8, steering=to_end, alpha=1000.0, stop_at_eos=False)
    assert raw[-1][1].shape[1] - raw[-1][0] == 8 and full == [""]  # stop_at_eos=False: every step is taken


# ---------------------------------------------------------------- features on real pairs


def test_pair_residuals_stats_and_selection(tiny_env):
    m = tiny_env.model
    pairs = data.build_pairs("translate_fr", data.split("translate_fr", "extraction")[:6], "post", seed=0)
    pos, neg = features.pair_residuals(m, L, pairs, "last", batch_size=4)
    assert pos.shape == neg.shape == (6, 64) and not torch.allclose(pos, neg)
    assert _close(pos[2], features.residuals(m, [m.format_prompt(pairs[2].positive)], L)[0])
    pos_i, neg_i = features.pair_residuals(m, L, pairs, "instruction_mean", batch_size=4)
    assert pos_i.shape == (6, 64) and not torch.allclose(pos_i, pos)
    sae = saes.load_sae(tiny_env.sae_id, m)  # checks it fits the model
    a_pos, a_neg = features.pair_activations(m, sae, L, pairs)
    assert _close(sae.decode(a_pos), pos), "the identity SAE reconstructs exactly"
    stats = features.latent_stats(a_pos, a_neg)
    top = features.select_latents(stats, k=2)
    assert len(top) == 2 and stats.sensitivity[top[0]] >= stats.sensitivity[top[1]] > 0
    assert all(stats.probability[j] >= 0.5 and stats.probability[j] > stats.neg_probability[j] for j in top)
    assert all(len(t) == 3 for t in features.latent_top_tokens(m, sae, top, top=3).values())


# ---------------------------------------------------------------- end to end


def test_end_to_end_run_resume_and_summary(tiny_env, monkeypatch):
    from saif_core import steering

    root = tiny_env.results
    cfg = experiments.RunConfig(model="tiny-llama", task="translate_fr", k=2, alpha=2.0, n_extract=6, n_eval=3,
                                max_new_tokens=8, batch_size=4)
    resolved = experiments.validate(cfg)
    assert resolved.sae == tiny_env.sae_id and resolved.layer == L
    summary = experiments.run(cfg, root=root, progress=False)
    folder = resolved.run_dir(root)
    assert {"config.json", "vector.json", "vector.safetensors", "latents.json", "records.jsonl",
            "summary.json"} <= {p.name for p in folder.iterdir()}
    assert json.loads((folder / "config.json").read_text())["model"] == "tiny-llama"
    recs = experiments.records(cfg, root)
    assert len(recs) == 9 and {r["condition"] for r in recs} == {"original", "prompted", "steered"}
    assert len({(r["condition"], r["content_id"]) for r in recs}) == 9
    vec = json.loads((folder / "vector.json").read_text())
    assert vec["model"] == "tiny-llama" and vec["layer"] == L and len(vec["latents"]) == 2
    assert vec["latents"] == summary["latents"] == [r["latent"] for r in json.loads((folder / "latents.json").read_text())]
    assert summary["n"] == 3 and summary["steered"]["n"] == 3
    # a resumed run generates nothing and gives the same summary
    calls = []
    real = steering.generate
    monkeypatch.setattr(steering, "generate", lambda mm, prompts, *a, **k: calls.append(len(prompts)) or real(mm, prompts, *a, **k))
    again = experiments.run(cfg, root=root, progress=False)
    assert calls == [] and again == summary
    assert experiments.records(cfg, root) == recs
    # killed mid-write: the last 4 records lost, the 5th torn; the 3 steered ones are generated again
    # (the lost prompted one is in the unsteered store)
    lines = (folder / "records.jsonl").read_text().splitlines(keepends=True)
    (folder / "records.jsonl").write_text("".join(lines[:5]) + lines[5][:17])
    resumed = experiments.run(cfg, root=root, progress=False)
    assert sum(calls) == 3 and resumed["n"] == 3
    assert sorted((r["condition"], r["content_id"]) for r in experiments.records(cfg, root)) == \
        sorted((r["condition"], r["content_id"]) for r in recs)
