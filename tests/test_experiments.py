"""Run configurations, validation before any write, and the append-only, resumable store."""
import json
import math

import pytest
import torch
from sae_factory import make_sae

from saif_core import experiments, saes
from saif_core.data import DataError
from saif_core.experiments import ConfigError, RunConfig, append_records, read_records, validate
from saif_core.models import ModelError


@pytest.fixture
def sae_root(tmp_path, monkeypatch):
    root = tmp_path / "saes"
    make_sae(root)  # identity SAE at layer 29 of SmolLM2
    make_sae(root, layer=23)  # and at its steering layer
    monkeypatch.setenv("SAIF_SAES", str(root))
    return root


def test_hash_is_stable_and_field_sensitive():
    a, b = RunConfig(task="keyword", k=8), RunConfig(task="keyword", k=8)
    assert a.key() == b.key() and len(a.key()) == 12
    assert RunConfig(task="keyword", k=9).key() != a.key()
    # more items or conditions extend the same store
    assert RunConfig(task="keyword", k=8, n_eval=5, conditions=("steered",)).key() == a.key()
    assert RunConfig(task="keyword", alpha=3.0).extraction_key() == a.extraction_key()  # alpha does not change the vector


@pytest.mark.parametrize("cfg, error, match", [
    (RunConfig(task="translate_de"), DataError, "translate_de"),
    (RunConfig(model="gpt-17"), ModelError, "unknown model id"),
    (RunConfig(k=0), ConfigError, r"k \(--k\) must be a whole number >= 1"),
    (RunConfig(alpha=math.nan), ConfigError, r"alpha \(--alpha\)=nan is not a finite number"),
    (RunConfig(alpha=math.inf), ConfigError, "not a finite number"),
    (RunConfig(alpha=2e6), ConfigError, r"alpha \(--alpha\)=2000000.0 is beyond any useful strength \(\|alpha\| <= 1e\+06\)"),
    (RunConfig(layer=30), ConfigError, r"layer \(--layer\)=30 is out of range.*0..29"),
    (RunConfig(layer=3), ConfigError, "no SAE of smollm2-135m-instruct at layer 3"),
    (RunConfig(placement="middle"), ConfigError, r"placement \(--placement\)='middle'"),
    (RunConfig(conditions=("steered", "unsteered")), ConfigError, "conditions"),
    (RunConfig(contents="/nonexistent.jsonl"), ConfigError, "does not exist"),
    (RunConfig(repetition_penalty=0.0), ConfigError, r"repetition_penalty \(--repetition-penalty\) must be > 0"),
])
def test_bad_configs_are_refused_before_anything_is_written(sae_root, tmp_path, cfg, error, match):
    with pytest.raises(error, match=match):
        experiments.run(cfg, root=tmp_path / "results", progress=False)
    assert not (tmp_path / "results").exists()


def test_sae_of_another_model_or_layer_is_refused(sae_root):
    make_sae(sae_root, model="gemma-3-270m", layer=17, d_in=640)
    other = "gemma-3-270m/blocks.17.hook_resid_post/width_1280"
    with pytest.raises(ConfigError, match="belongs to gemma-3-270m"):
        validate(RunConfig(sae=other))
    sid = "smollm2-135m-instruct/blocks.29.hook_resid_post/width_1152"
    with pytest.raises(ConfigError, match="layer 12 does not match SAE"):
        validate(RunConfig(sae=sid, layer=12))
    assert validate(RunConfig(layer=29)).sae == sid
    steer = "smollm2-135m-instruct/blocks.23.hook_resid_post/width_1152"
    assert validate(RunConfig()).sae == steer and validate(RunConfig()).layer == 23


def test_malformed_contents_line_is_named(sae_root, tmp_path):
    bad = tmp_path / "c.jsonl"
    bad.write_text('{"id": "a", "text": "Hola."}\n{"id": "b", "text": \n')
    with pytest.raises(DataError, match="c.jsonl, line 2: bad JSON"):
        experiments.eval_items(validate(RunConfig(contents=str(bad))))


def test_torn_last_line_is_cut_and_appends_stay_whole(tmp_path):
    store = tmp_path / "records.jsonl"
    append_records(store, [{"condition": "original", "content_id": "a"}, {"condition": "original", "content_id": "b"}])
    with open(store, "ab") as f:
        f.write(b'{"condition": "steered", "cont')  # a kill mid-write
    assert [r["content_id"] for r in read_records(store)] == ["a", "b"]
    append_records(store, [{"condition": "steered", "content_id": "a"}])
    assert [r["content_id"] for r in read_records(store)] == ["a", "b", "a"]
    assert all(json.loads(line) for line in store.read_text().splitlines())


@pytest.mark.slow
def test_end_to_end_run_and_resume_without_loss_or_duplicates(sae_root, tmp_path, monkeypatch):
    from saif_core import steering

    root = tmp_path / "results"
    cfg = RunConfig(task="translate_fr", k=4, alpha=2.0, n_extract=12, n_eval=3, max_new_tokens=6, batch_size=8)
    summary = experiments.run(cfg, root=root, progress=False)
    folder = validate(cfg).run_dir(root)
    records = read_records(folder / "records.jsonl")
    assert len(records) == 9 and {r["condition"] for r in records} == {"original", "prompted", "steered"}
    assert summary["n"] == 3 and len(summary["latents"]) == 4
    assert {"strict", "loose", "strict_ci"} <= set(summary["steered"])
    assert json.loads((folder / "vector.json").read_text())["latents"] == summary["latents"]
    # kill mid-run: drop the last 4 records and tear the file, then resume
    lines = (folder / "records.jsonl").read_text().splitlines(keepends=True)
    (folder / "records.jsonl").write_text("".join(lines[:5]) + lines[5][:17])
    calls = []
    real = steering.generate
    monkeypatch.setattr(steering, "generate", lambda m, prompts, *a, **k: calls.append(len(prompts)) or real(m, prompts, *a, **k))
    experiments.run(cfg, root=root, progress=False)
    again = read_records(folder / "records.jsonl")
    assert sum(calls) == 3, "only the missing steered records are generated again (the prompted one is reused)"
    assert sorted((r["condition"], r["content_id"]) for r in again) == sorted((r["condition"], r["content_id"]) for r in records)
    # a second identical run generates nothing
    calls.clear()
    experiments.run(cfg, root=root, progress=False)
    assert calls == []


@pytest.mark.slow
def test_k_larger_than_candidates_leaves_no_record(sae_root, tmp_path):
    from saif_core.features import SelectionError

    with pytest.raises(SelectionError, match="only .* latents pass the rule"):
        experiments.run(RunConfig(task="translate_fr", k=1000, n_extract=8, n_eval=2), root=tmp_path / "r", progress=False)
    assert not list((tmp_path / "r").glob("translate_fr-*"))
    # passing_latents names the largest k that runs; one more fails
    cfg = RunConfig(task="translate_fr", n_extract=8, n_eval=2, conditions=("steered",), max_new_tokens=2)
    n = experiments.passing_latents(cfg, root=tmp_path / "r")
    assert n >= 1
    assert len(experiments.run(experiments.dataclasses.replace(cfg, k=n), root=tmp_path / "r", progress=False)
               ["latents"]) == n
    with pytest.raises(SelectionError, match=f"only {n} latents pass"):
        experiments.run(experiments.dataclasses.replace(cfg, k=n + 1), root=tmp_path / "r", progress=False)


def test_unsteered_outputs_are_generated_once_per_model_whatever_the_run(sae_root, tmp_path, monkeypatch):
    """Arms that differ in k, alpha or placement share their original and prompted outputs
    (saif_core.unsteered); a changed generation setting generates them again."""
    from saif_core import steering, unsteered

    root = tmp_path / "results"
    cfg = RunConfig(task="translate_fr", k=4, alpha=2.0, n_extract=12, n_eval=3, max_new_tokens=5)
    calls = []
    real = steering.generate
    monkeypatch.setattr(steering, "generate", lambda m, prompts, *a, **k: calls.append((len(prompts), k.get("steering")
                                                                                          is not None)) or real(m, prompts, *a, **k))
    experiments.run(cfg, root=root, progress=False)
    assert calls == [(3, False), (3, False), (3, True)]
    calls.clear()
    other = cfg.replace(k=2, alpha=4.0)
    experiments.run(other, root=root, progress=False)
    assert calls == [(3, True)], "only the steered condition is generated for another arm"
    assert [(r["condition"], r["output"]) for r in experiments.records(other, root) if r["condition"] != "steered"] == \
           [(r["condition"], r["output"]) for r in experiments.records(cfg, root) if r["condition"] != "steered"]
    assert len(unsteered.outputs(cfg.model, 5, 1.0, root)) == 6
    calls.clear()
    experiments.run(cfg.replace(max_new_tokens=4), root=root, progress=False)
    assert [n for n, steered in calls if not steered] == [3, 3], "other settings: other outputs"
    # runs made before the store existed share theirs: seeding finds nothing new here
    assert unsteered.seed_from_runs(root) == {cfg.model: 0}


def test_tune_alpha_picks_on_dev_by_strict_then_loose_then_smallest(monkeypatch):  # as long as the evaluation
    seen = []

    def fake_run_alphas(cfg, alphas, root=None, progress=False):
        seen.append(cfg)
        acc = {2.0: (0.1, 0.5), 3.0: (0.3, 0.6), 4.0: (0.3, 0.6)}
        return [{"n": 20, "steered": {"strict": acc[a][0], "loose": acc[a][1]}} for a in alphas]

    monkeypatch.setattr(experiments, "run_alphas", fake_run_alphas)
    alpha, rows = experiments.tune_alpha(RunConfig(task="translate_zh", max_new_tokens=64, n_eval=7))
    assert alpha == 3.0 and [r["alpha"] for r in rows] == [2.0, 3.0, 4.0]
    assert all(c.eval_split == "dev" and c.conditions == ("steered",) and c.max_new_tokens == 64 and c.n_eval is None
               for c in seen)


@pytest.mark.slow
def test_run_alphas_equals_one_run_per_alpha_in_fewer_calls(sae_root, tmp_path, monkeypatch):
    from saif_core import steering

    cfg = RunConfig(task="translate_fr", k=4, n_extract=12, n_eval=3, max_new_tokens=6, conditions=("original", "steered"))
    calls = []
    real = steering.generate
    monkeypatch.setattr(steering, "generate", lambda m, prompts, *a, **k: calls.append(len(prompts)) or real(m, prompts, *a, **k))
    together = experiments.run_alphas(cfg, [2.0, 8.0], root=tmp_path / "a", progress=False)
    assert calls == [3, 6], "each condition of both alphas in one call, the unsteered prompts once"
    alone = [experiments.run(experiments.dataclasses.replace(cfg, alpha=a), root=tmp_path / "b", progress=False)
             for a in (2.0, 8.0)]
    assert [s["key"] for s in together] == [s["key"] for s in alone]
    for s, a in zip(alone, (2.0, 8.0)):
        c = validate(experiments.dataclasses.replace(cfg, alpha=a))
        assert experiments.records(c, tmp_path / "a") == experiments.records(c, tmp_path / "b")


def test_steer_cli_rejects_a_bad_alpha():
    import subprocess
    import sys

    done = subprocess.run([sys.executable, "-m", "saif_core.cli", "steer", "--task", "translate_fr", "--alpha", "lots"],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 2 and "argument --alpha: 'lots' is neither a number nor 'auto'" in done.stderr


def test_pair_residuals_are_computed_once_for_every_k_and_vector_kind(sae_root, tmp_path, monkeypatch):
    from saif_core import features

    calls = []

    def fake_pair_residuals(model, layer, pairs, position="last", batch_size=16):
        calls.append(len(pairs))
        g = torch.Generator().manual_seed(0)
        pos = torch.randn(len(pairs), 576, generator=g).abs() + 1.0
        neg = pos.clone()
        neg[:, :300] = -1.0  # these directions fire only with the instruction
        return pos, neg

    class FakeModel:
        id = "smollm2-135m-instruct"

    monkeypatch.setattr(features, "pair_residuals", fake_pair_residuals)
    sae = saes.load_sae("smollm2-135m-instruct/blocks.23.hook_resid_post/width_1152", root=sae_root)
    root = tmp_path / "results"
    for k, kind, normalize in ((2, "saif", False), (4, "saif", False), (1, "single_latent", False), (2, "diff_means", True)):
        cfg = validate(RunConfig(k=k, vector=kind, normalize=normalize, n_extract=6))
        sv, table = experiments.build_vector(cfg, FakeModel(), sae, root)
        assert len(table) == (1 if kind == "single_latent" else k)
    assert calls == [6]  # one forward pass for all four vectors
    assert sv.kind == "diff_means" and abs(sv.vector.norm().item() - 1.0) < 1e-5


def test_a_retrained_sae_keeps_its_id_but_not_its_results(sae_root):
    sid = "smollm2-135m-instruct/blocks.23.hook_resid_post/width_1152"
    cfg = RunConfig(sae=sid, task="translate_fr")
    before = (cfg.key(), cfg.extraction_key())
    sae = saes.load_sae(sid)
    with torch.no_grad():
        sae.W_dec.mul_(2.0)  # "retrained": same id, other weights
    sae.save_model(sae_root / sid)
    assert cfg.key() != before[0] and cfg.extraction_key() != before[1]
    assert RunConfig(sae=None, task="translate_fr").key() == RunConfig(task="translate_fr").key()


def test_the_key_knows_the_model_weights(monkeypatch):
    """A changed model (another package version, GGUF or checkpoint) never reuses old outputs (#17)."""
    from saif_core import assets, config

    cfg = RunConfig(task="keyword", k=8)
    before = {stage: cfg.key(stage) for stage in config.STAGES}
    spec = experiments.get_spec(cfg.model)
    same = assets.weights_fingerprint(spec)
    assert same == assets.weights_fingerprint(spec) and len(same) == 12
    monkeypatch.setattr(assets, "_installed", lambda package: "99.0")
    assert assets.weights_fingerprint(spec) != same
    assert all(cfg.key(stage) != before[stage] for stage in config.STAGES)


def test_a_strength_of_twice_gemma3s_residual_norm_is_valid(sae_root):
    """Gemma 3 270M's residual norm at its last layer reaches 35,876 (summarize prompts): the
    protocol's largest scale (2x the norm) must pass the guard against mistyped strengths."""
    assert validate(RunConfig(alpha=71751.28)).alpha == 71751.28
