"""The pipeline on the tiny random model (fast): cached artifacts are keyed by exactly what
they depend on, and a run's strength and positions never come from a cache."""
import dataclasses
import json

import pytest

from saif_core import experiments, steering
from saif_core.config import KEY_NEUTRAL, RunConfig


def tiny_cfg(**kw) -> RunConfig:
    base = dict(model="tiny-llama", task="translate_fr", k=2, alpha=2.0, n_extract=6, n_eval=3,
                max_new_tokens=6, batch_size=4, conditions=("steered",))
    return RunConfig(**{**base, **kw})


def outputs(cfg, root):
    return {(r["condition"], r["content_id"]): r["output"] for r in experiments.records(cfg, root)}


def test_a_run_applies_its_own_alpha_and_positions_not_the_cached_vectors(tiny_env, tmp_path, monkeypatch):
    applied = []
    real_apply = steering.SteeringVector.apply

    def spy(self, model, alpha=None, layer=None, positions=None):
        applied.append((alpha, positions if positions is not None else self.positions))
        return real_apply(self, model, alpha, layer, positions)

    monkeypatch.setattr(steering.SteeringVector, "apply", spy)
    first, second = tiny_cfg(alpha=2.0, positions="all"), tiny_cfg(alpha=40.0, positions="generated")
    assert first.key("vector") == second.key("vector")  # one cached vector serves both runs
    experiments.run(first, tiny_env.results, progress=False)
    applied.clear()
    experiments.run(second, tiny_env.results, progress=False)
    assert applied and all(p == "generated" and set(a) == {40.0} for a, p in applied)

    vector_json = json.loads((experiments.validate(second).run_dir(tiny_env.results) / "vector.json").read_text())
    assert (vector_json["alpha"], vector_json["positions"]) == (40.0, "generated")
    cached = next((tiny_env.results / "vectors").glob("translate_fr-*/vector.json"))
    assert json.loads(cached.read_text())["positions"] == "all"  # the cache holds no run's choice...
    assert json.loads(cached.read_text())["alpha"] == 1.0  # ...only the artifact's defaults

    # and the second run's generations are those it makes on a store that never saw the first
    alone = tmp_path / "alone"
    experiments.run(second, alone, progress=False)
    assert outputs(second, tiny_env.results) == outputs(second, alone)


def test_pipeline_steps_reuse_what_they_depend_on(tiny_env, monkeypatch):
    from saif_core import features

    calls = []
    real = features.pair_residuals
    monkeypatch.setattr(features, "pair_residuals", lambda *a, **k: calls.append(1) or real(*a, **k))
    cfg = experiments.validate(tiny_cfg())
    model, sae = experiments.load_cached(cfg.model, cfg.sae)
    sv, table = experiments.select_and_save_vector(cfg, model, sae, tiny_env.results)
    assert len(table) == cfg.k and sv.latents == [r["latent"] for r in table]
    experiments.select_and_save_vector(cfg.replace(k=1), model, sae, tiny_env.results)  # new vector, same pairs
    experiments.select_and_save_vector(cfg.replace(alpha=9.0), model, sae, tiny_env.results)  # cached vector
    assert len(calls) == 1
    assert len(list((tiny_env.results / "vectors").glob("translate_fr-*/vector.json"))) == 2


def test_a_damaged_cached_vector_is_rebuilt(tiny_env):
    cfg = tiny_cfg()
    experiments.run(cfg, tiny_env.results, progress=False)
    cached = next((tiny_env.results / "vectors").glob("translate_fr-*/vector.safetensors"))
    cached.write_bytes(cached.read_bytes()[:20])
    pairs = next((tiny_env.results / "vectors").glob("translate_fr-pairs-*.safetensors"))
    pairs.write_bytes(b"")
    again = experiments.run(cfg.replace(alpha=3.0), tiny_env.results, progress=False)
    assert again["steered"]["n"] == 3
    assert len(cached.read_bytes()) > 20


def test_a_changed_judge_rejudges_stored_outputs_without_generating_again(tiny_env, monkeypatch):
    from saif_core import evaluate

    cfg = tiny_cfg(conditions=("original", "steered"))
    experiments.run(cfg, tiny_env.results, progress=False)
    path = experiments.validate(cfg).run_dir(tiny_env.results) / "records.jsonl"
    stored = [json.loads(line) for line in path.read_text().splitlines()]
    assert stored and all(r["judge_version"] == evaluate.JUDGE_VERSION for r in stored)
    for r in stored[:3]:  # as an older judge left them
        r.update(label="strict", reason="form only", judge_version=1)
        r.pop("reference")
    path.write_text("".join(json.dumps(r, ensure_ascii=False) + "\n" for r in stored))

    def no_generation(*a, **k):
        raise AssertionError("re-judging must not generate")

    monkeypatch.setattr(steering, "generate", no_generation)
    summary = experiments.run(cfg, tiny_env.results, progress=False)
    again = experiments.records(cfg, tiny_env.results)
    assert [r["output"] for r in again] == [r["output"] for r in stored]
    assert all(r["judge_version"] == evaluate.JUDGE_VERSION and r["reason"] != "form only" for r in again)
    for r in again:  # the verdict the current judge gives, against the item's reference
        v = evaluate.judge(cfg.task, r["source"], r["output"], r["keyword"], r["reference"])
        assert (r["label"], r["reason"]) == (v.label, v.reason) and r["reference"]
    assert summary["steered"]["n"] == cfg.n_eval


def test_saif_steer_on_a_contents_file_with_references_judges_meaning(tiny_env, tmp_path, capsys):
    from saif_core import cli

    contents = tmp_path / "mine.jsonl"
    lines = [{"id": "mine-1", "text": "The cat sleeps on the warm sofa.", "lang": "en",
              "references": {"fr": "Le chat dort sur le canapé chaud."}},
             {"id": "mine-2", "text": "We walked to the old harbour at dawn.", "lang": "en",
              "references": {"fr": "Nous avons marché jusqu'au vieux port à l'aube."}},
             {"id": "mine-3", "text": "The bakery opens at six.", "lang": "en"}]  # no reference
    contents.write_text("".join(json.dumps(x) + "\n" for x in lines))
    code = cli.main(["steer", "--model", "tiny-llama", "--task", "translate_fr", "--contents", str(contents),
                     "--alpha", "2", "--k", "2", "--max-new-tokens", "6", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    assert out["n"] == 3
    for condition in ("original", "prompted", "steered"):
        lo, hi = out[condition]["strict_ci"]
        assert 0 <= lo <= out[condition]["strict"] <= hi <= 1 and len(out[condition]["loose_ci"]) == 2
    cfg = RunConfig(model="tiny-llama", task="translate_fr", contents=str(contents), alpha=2.0, k=2, max_new_tokens=6)
    recs = experiments.records(cfg, tiny_env.results)
    assert {r["content_id"]: r["reference"] for r in recs if r["condition"] == "steered"} == {
        "mine-1": "Le chat dort sur le canapé chaud.", "mine-2": "Nous avons marché jusqu'au vieux port à l'aube.",
        "mine-3": None}
    unchecked = [r for r in recs if r["content_id"] == "mine-3" and r["label"] != "fail"]
    assert all("meaning not checked" in r["reason"] for r in unchecked)
    assert all(r["label"] != "strict" for r in recs if r["content_id"] == "mine-3")


# ---------------------------------------------------------------- #16: the paper's weighting, controls, cross-task


def test_the_shipped_records_runs_keep_their_keys():
    from saif_core import paths

    # those of a model whose SAEs have not been retrained since the record was made
    runs = sorted(p for p in paths.record_root().glob("*/config.json") if "qwen2.5" in p.read_text(encoding="utf-8"))[:12]
    assert runs
    for path in runs:
        cfg = RunConfig.from_file(path)
        assert path.parent.name == f"{cfg.task}-{cfg.key()}"


def test_fields_added_later_leave_old_keys_alone_at_their_neutral_value(tiny_env, tmp_path):
    # a config.json written before weighting, vector_task and resample existed reads as their neutral values,
    # whatever today's defaults, and keeps the key it was stored under
    old = {k: v for k, v in dataclasses.asdict(tiny_cfg(weighting="strength")).items() if k not in KEY_NEUTRAL}
    (tmp_path / "config.json").write_text(json.dumps(old), encoding="utf-8")
    cfg = RunConfig.from_file(tmp_path / "config.json")
    assert {k: getattr(cfg, k) for k in KEY_NEUTRAL} == KEY_NEUTRAL
    assert cfg.key() == tiny_cfg(weighting="strength").key()
    assert cfg.replace(weighting="difference").key("vector") != cfg.key("vector")
    assert cfg.replace(weighting="difference").key("pairs") == cfg.key("pairs")  # same pairs, new vector
    assert cfg.replace(vector_task="translate_zh").key("pairs") != cfg.key("pairs")


def test_difference_weighting_weights_each_latent_by_its_sensitivity(tiny_env):
    cfg = experiments.validate(tiny_cfg(k=3, weighting="strength"))
    model, sae = experiments.load_cached(cfg.model, cfg.sae)
    by_strength, table = experiments.select_and_save_vector(cfg, model, sae, tiny_env.results)
    by_difference, table_d = experiments.select_and_save_vector(cfg.replace(weighting="difference"), model, sae,
                                                               tiny_env.results)
    assert table == table_d and by_strength.latents == by_difference.latents
    assert by_difference.weights == [r["sensitivity"] for r in table]
    assert by_strength.weights == [r["strength"] for r in table]
    assert all(r["strength"] > r["sensitivity"] > 0 for r in table if r["neg_strength"] > 0)
    assert by_difference.meta["weighting"] == "difference"


def test_random_controls_are_seeded_unit_vectors(tiny_env):
    import torch

    cfg = experiments.validate(tiny_cfg(k=4, vector="random_latents"))
    model, sae = experiments.load_cached(cfg.model, cfg.sae)
    rl, table = experiments.select_and_save_vector(cfg, model, sae, tiny_env.results)
    assert rl.kind == "random_latents" and len(set(rl.latents)) == 4 and [r["latent"] for r in table] == rl.latents
    assert abs(rl.vector.norm().item() - 1) < 1e-5
    expect = sae.W_dec[rl.latents].detach().float().sum(0)
    assert torch.allclose(rl.vector, expect / expect.norm(), atol=1e-6)
    again, _ = steering.random_vector(model, sae, cfg.layer, "random_latents", 4, cfg.seed)
    assert again.latents == rl.latents
    other, _ = steering.random_vector(model, sae, cfg.layer, "random_latents", 4, cfg.seed + 1)
    assert other.latents != rl.latents
    rd, _ = experiments.select_and_save_vector(cfg.replace(vector="random_direction"), model, sae, tiny_env.results)
    assert rd.kind == "random_direction" and rd.latents == [] and abs(rd.vector.norm().item() - 1) < 1e-5
    assert rd.vector.shape == (model.spec.d_model,)
    # a random control runs end to end, its records judged like any other
    summary = experiments.run(cfg.replace(alpha=3.0), tiny_env.results, progress=False)
    assert summary["steered"]["n"] == cfg.n_eval


def test_a_cross_task_vector_is_built_from_the_other_tasks_pairs(tiny_env):
    from saif_core import data

    cfg = experiments.validate(tiny_cfg(vector_task="translate_zh"))
    pairs = experiments.build_pairs_and_save_residuals(cfg, experiments.load_cached(cfg.model, cfg.sae)[0],
                                                       tiny_env.results)[0]
    assert {p.task_id for p in pairs} == {"translate_zh"}
    assert {p.content.id for p in pairs} <= {it.id for it in data.split("translate_zh", "extraction")}
    sv = experiments.run(cfg, tiny_env.results, progress=False)
    assert sv["config"]["vector_task"] == "translate_zh" and sv["config"]["task"] == "translate_fr"


def test_bad_weighting_and_vector_task_are_refused():
    import pytest

    from saif_core.config import ConfigError

    with pytest.raises(ConfigError, match="weighting='mean' is not one of"):
        experiments.validate(tiny_cfg(weighting="mean"))
    with pytest.raises(Exception, match="translate_xx"):
        experiments.validate(tiny_cfg(vector_task="translate_xx"))


def test_a_bootstrap_resample_selects_from_resampled_pairs(tiny_env):
    import pytest

    from saif_core.config import ConfigError

    cfg = experiments.validate(tiny_cfg(k=2, n_extract=12))
    model, sae = experiments.load_cached(cfg.model, cfg.sae)
    pairs, pos, neg, stats = experiments.latent_statistics(cfg, model, sae, tiny_env.results)
    pairs0, pos0, neg0, stats0 = experiments.latent_statistics(cfg.replace(resample=0), model, sae, tiny_env.results)
    assert len(pairs0) == len(pairs) and len({p.content.id for p in pairs0}) < len(pairs)  # drawn with replacement
    assert not torch_equal(stats.strength, stats0.strength)
    again = experiments.latent_statistics(cfg.replace(resample=0), model, sae, tiny_env.results)[3]
    assert torch_equal(again.strength, stats0.strength)
    assert cfg.replace(resample=0).key("vector") != cfg.key("vector") and cfg.replace(resample=0).key("pairs") == cfg.key("pairs")
    with pytest.raises(ConfigError, match="resample=-1"):
        experiments.validate(cfg.replace(resample=-1))


def torch_equal(a, b) -> bool:
    import torch
    return bool(torch.equal(a, b))


def test_saif_steer_runs_a_control_with_the_papers_weighting_and_another_tasks_pairs(tiny_env, capsys):
    from saif_core import cli

    code = cli.main(["steer", "--model", "tiny-llama", "--task", "translate_fr", "--vector", "random_latents",
                     "--weighting", "difference", "--vector-task", "translate_zh", "--alpha", "3", "--k", "2",
                     "--n", "2", "--max-new-tokens", "4", "--json"])
    assert code == 0
    out = json.loads(capsys.readouterr().out)
    cfg = RunConfig.from_file(next(tiny_env.results.glob(f"translate_fr-{out['key']}/config.json")))
    assert (cfg.vector, cfg.weighting, cfg.vector_task) == ("random_latents", "difference", "translate_zh")
    assert cli.build_parser().parse_args(["steer", "--task", "translate_fr"]).weighting == RunConfig.weighting
    with pytest.raises(SystemExit):
        cli.build_parser().parse_args(["steer", "--task", "translate_fr", "--weighting", "mean"])
