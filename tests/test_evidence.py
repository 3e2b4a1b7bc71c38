"""Each claim's evidence (saif_core.evidence) end to end on the tiny random model, at a smoke
size: the arms run, the comparisons are paired on the same items, every claim row is complete,
and nothing reduced is left unsaid."""
import shutil

import numpy as np
import pytest

from saif_core import claims, data, evidence as EV, protocol
from saif_core.verdicts import VERDICTS

SMOKE = dict(n_dev=2, n_eval=3, scales=(0.5, 2.0), max_new_tokens=5, n_extract=12)


@pytest.fixture
def env(tiny_env, monkeypatch):
    monkeypatch.setattr(protocol, "N_EXTRACT", 12)
    monkeypatch.setattr(protocol, "MAX_NEW_TOKENS", 5)
    return tiny_env


def check(ev, notebook):
    assert ev.claims, "no claim tested"
    for row in ev.claims:
        claims.check_row(row)
        assert row["notebook"] == notebook and row["verdict"] in VERDICTS and row["model"] == "tiny-llama"
    return ev


def test_k_sweep_compares_k_at_one_scale(env):
    ev = check(EV.k_sweep("tiny-llama", "translate_fr", ks=(1, 2, 99), **SMOKE), "03_topk")
    steered = ev.rows[ev.rows.condition == "steered"]
    assert steered.alpha.nunique() == 1  # matched norm: one strength for every k
    assert {1, 2} < set(steered.k) and int(steered.k.max()) < 99  # 99 runs as the most that pass; k=8 always runs
    assert any("k above" in n for n in ev.notes)  # the reduction is said
    assert {r["id"] for r in ev.claims} == {"k_needed_strict", "k_needed_loose"}
    assert list(ev.dev.scale) == [0.5, 2.0] and ev.dev.chosen.sum() == 1 and set(ev.dev.arm) == {"k=8"}
    assert steered.alpha.iloc[0] > 0 and ev.dev[ev.dev.chosen].alpha.item() == steered.alpha.iloc[0]
    assert all(r["n"] == 3 and "below the protocol" in r["note"] for r in ev.claims)


def test_tasks_models_pools_tasks_per_model(env):
    ev = check(EV.tasks_models(["tiny-llama"], ["translate_fr", "translate_zh"], **SMOKE), "05_tasks_models")
    assert [r["id"] for r in ev.claims] == ["steers", "post_above_pre", "close_to_prompting"]
    assert all(r["n"] == 6 for r in ev.claims)  # two tasks of three items, pooled
    assert set(ev.rows.arm) == {"original", "prompted", "SAIF (post)", "SAIF (pre)"}
    french, cfg = EV.steered_above("tiny-llama", "translate_fr", **SMOKE)
    check(french, "04_french_examples")
    assert french.claims[0]["id"] == "sa_above_30" and french.claims[0]["n"] == 3
    post = ev.rows[(ev.rows.arm == "SAIF (post)") & (ev.rows.task == "translate_fr")].iloc[0]
    assert cfg.alpha == post.alpha  # the same tuned arm as 05's: one run, shared


def test_controls_run_at_the_saif_scale(env):
    ev = check(EV.controls("tiny-llama", "translate_fr", resamples=2, **SMOKE), "10_baselines")
    steered = ev.rows[ev.rows.condition == "steered"]
    assert steered.alpha.nunique() == 1
    assert {"a random direction", "k random latents", "the difference of means", "the single best latent",
            "another task's SAIF vector", "SAIF, resample 0", "SAIF, resample 1"} <= set(steered.arm)
    assert {r["id"] for r in ev.claims} == {f"beats_{k}" for k in EV.CONTROLS}


def three_layers(env, tmp_path, monkeypatch) -> None:
    """SAEs of one width at the tiny model's layers 0, 1 and 2 (SAIF_SAES points at them)."""
    from sae_factory import make_sae

    root = tmp_path / "saes"
    shutil.copytree(env.sae_root, root)
    make_sae(root, model="tiny-llama", layer=2, d_in=64, kind="jumprelu")
    make_sae(root, model="tiny-llama", layer=0, d_in=64, kind="jumprelu", seed=1)
    monkeypatch.setenv("SAIF_SAES", str(root))


def test_layer_sweep_needs_equal_widths_and_chooses_the_earlier_layer_on_dev(env, tmp_path, monkeypatch):
    three_layers(env, tmp_path, monkeypatch)
    ev = check(EV.layer_sweep("tiny-llama", "translate_fr", width=128, **SMOKE), "06_layer_sweep")
    (row,) = ev.claims
    assert row["id"] == "last_layer" and row["claim"].startswith("the last layer (2) beats")
    assert set(ev.rows.layer) == {2, int(row["claim"].split("earlier layer (")[1].split(",")[0])}
    assert sorted(set(ev.dev.layer)) == [0, 1, 2] and ev.dev.groupby("layer").chosen.sum().tolist() == [1, 1, 1]
    with pytest.raises(ValueError, match="a sweep needs two or more"):
        EV.layer_sweep("tiny-llama", "translate_fr", width=999, **SMOKE)


def test_placement_statistics_bootstrap_both_placements_on_the_same_resamples(env):
    ev = check(EV.placement_statistics("tiny-llama", "translate_fr", k=2, n_pairs=12, n_boot=200), "02_placement")
    assert [r["id"] for r in ev.claims] == ["placement_strength", "placement_stability", "placement_probability"]
    for r in ev.claims:
        assert r["interval"][0] <= r["effect"] <= r["interval"][1]  # the latents are fixed: no selection bias
        assert r["effect"] == pytest.approx(r["arms"]["post"] - r["arms"]["pre"], abs=1e-4)


def test_proximity_claims_per_task(env):
    ev = check(EV.proximity_claims("tiny-llama", ["translate_fr"], k=2, draws=50), "09_semantic_proximity")
    assert ev.rows.iloc[0]["task"] == "translate_fr" and 0 <= ev.rows.iloc[0]["score"] <= 1
    assert len(data.split("translate_fr", "dev")) >= 2


def test_width_sweep_tests_each_width(env, tmp_path, monkeypatch):
    from sae_factory import make_sae

    root = tmp_path / "saes"
    shutil.copytree(env.sae_root, root)
    make_sae(root, model="tiny-llama", layer=1, d_in=64, kind="jumprelu", d_sae=512)
    monkeypatch.setenv("SAIF_SAES", str(root))
    ev = check(EV.width_sweep("tiny-llama", "translate_fr", layer=1, **SMOKE), "07_sae_width")
    assert [r["id"] for r in ev.claims] == ["steers_width_128", "steers_width_512", "steers_every_width"]
    every = ev.claims[-1]
    assert every["n"] == 3 and set(every["arms"]) == {"width 128", "width 512"}
    assert sorted(set(ev.rows.d_sae)) == [128, 512]


def test_combine_keeps_every_models_rows_claims_and_notes():
    import pandas as pd

    a = EV.Evidence(pd.DataFrame([{"model": "a", "strict": 0.1}]), [{"id": "x"}], ["note a"], pd.DataFrame([{"scale": 1}]))
    b = EV.Evidence(pd.DataFrame([{"model": "b", "strict": 0.2}]), [{"id": "y"}], [], pd.DataFrame())
    ev = EV.combine([a, b])
    assert list(ev.rows.model) == ["a", "b"] and [c["id"] for c in ev.claims] == ["x", "y"]
    assert ev.notes == ["note a"] and list(ev.dev.scale) == [1]
    assert EV.combine([]).rows.empty


def test_fit_k_says_when_no_latent_passes(env, monkeypatch):
    from saif_core import experiments as E, features

    cfg = protocol.arm("tiny-llama", "translate_fr", n_extract=12)
    monkeypatch.setattr(E, "passing_latents", lambda c: 0)
    with pytest.raises(features.SelectionError, match="no latent passes"):
        EV.fit_k(cfg, [])
    notes = []
    monkeypatch.setattr(E, "passing_latents", lambda c: 3)
    assert EV.fit_k(cfg, notes).k == 3 and notes[0].startswith("tiny-llama / translate_fr: only 3 latents pass")
    assert "k lowered from 8 to 3" in notes[0]
    EV.fit_k(cfg.replace(sae="tiny-llama/blocks.1.hook_resid_post/width_128", placement="pre"), notes)
    assert notes[1].startswith("tiny-llama / translate_fr / blocks.1.hook_resid_post/width_128 / pre pairs: only 3")
    assert EV.fit_k is protocol.fit_k  # one rule for the steering notebooks and the headline choice


def test_tasks_models_size_claim_over_instruction_tuned_models_and_the_base_contrast(monkeypatch):
    """Two instruction-tuned models give the size claim (every's intersection-union); a base
    model's claims say it is the contrast and it is left out of the size claim."""
    from types import SimpleNamespace

    from saif_core import protocol as P, saes

    hits = {"chat-a": 40, "chat-b": 30, "base-c": 0}
    monkeypatch.setattr(saes, "default_sae_id", lambda m: f"{m}/sae")
    monkeypatch.setattr(EV, "get_spec", lambda m: SimpleNamespace(chat=not m.startswith("base")))
    monkeypatch.setattr(EV, "_tuned", lambda cfg, *a, **kw: SimpleNamespace(cfg=cfg, scale=1.0))
    monkeypatch.setattr(P, "arm", lambda model, task, **kw: SimpleNamespace(model=model, task=task, **kw))
    monkeypatch.setattr(P, "evaluate", lambda cfg, conditions=("steered",): {})
    monkeypatch.setattr(EV, "arm_rows", lambda summary, arm, **kw: [])

    def outcomes(cfg, condition="steered", measure="strict"):
        n = hits[cfg.model] if condition == "steered" else 2
        return np.r_[np.ones(n), np.zeros(100 - n)]

    monkeypatch.setattr(P, "outcomes", outcomes)
    ev = EV.tasks_models(["chat-a", "chat-b", "base-c"], ["translate_fr"])
    size = [r for r in ev.claims if r["id"] == "steers_every_size"]
    assert len(size) == 1 and size[0]["model"] == "chat-a + chat-b" and size[0]["verdict"] == "holds"
    assert size[0]["effect"] == pytest.approx(0.28)  # the weaker model's gain
    assert {r.get("role") for r in ev.claims if r["model"] == "base-c"} == {"base-model contrast"}
    # prompted LA is 0.02 for every model (outcomes above), so each "close to prompting" that holds is said to be at the floor
    floor = [n.split(":")[0] for n in ev.notes if "holds at the floor" in n]
    assert floor == ["base-c"] == [r["model"] for r in ev.claims if r["id"] == "close_to_prompting" and r["verdict"] == "holds"]
    assert [r["model"] for r in ev.claims if r.get("caveat") == "at the floor: prompted LA 0.020"] == ["base-c"]
    assert "| **holds** (at the floor: prompted LA 0.020) |" in claims.markdown(ev.claims)
    assert not any(r.get("role") for r in ev.claims if r["model"] != "base-c")


def test_tasks_models_leaves_a_task_without_a_vector_out_of_the_pool_and_says_so(monkeypatch):
    """A task where no latent passes the selection rule has no vector: it leaves that model's
    pool for every arm alike (the pool stays paired), a note says so, and the claim names the
    tasks pooled."""
    from types import SimpleNamespace

    from saif_core import features, protocol as P, saes

    def tuned(cfg, *a, **kw):
        if cfg.task == "summarize":
            raise features.SelectionError("m / summarize: no latent passes the selection rule (min_prob 0.5). Fix: ...")
        return SimpleNamespace(cfg=cfg, scale=1.0)

    monkeypatch.setattr(saes, "default_sae_id", lambda m: f"{m}/sae")
    monkeypatch.setattr(EV, "get_spec", lambda m: SimpleNamespace(chat=True))
    monkeypatch.setattr(EV, "_tuned", tuned)
    monkeypatch.setattr(P, "arm", lambda model, task, **kw: SimpleNamespace(model=model, task=task, **kw))
    monkeypatch.setattr(P, "evaluate", lambda cfg, conditions=("steered",): {})
    monkeypatch.setattr(EV, "arm_rows", lambda summary, arm, **kw: [])
    monkeypatch.setattr(P, "outcomes", lambda cfg, condition="steered", measure="strict": np.r_[np.ones(30), np.zeros(70)])
    ev = EV.tasks_models(["m"], ["translate_fr", "summarize", "translate_zh"])
    assert ev.notes == ["m / summarize: left out of the pool (m / summarize: no latent passes the selection rule (min_prob 0.5))"]
    assert all(r["n"] == 200 and r["tasks"] == ["translate_fr", "translate_zh"] for r in ev.claims)
    assert "2 tasks pooled" in ev.claims[0]["claim"]
    only = EV.tasks_models(["m"], ["summarize"])
    assert not only.claims and "m: no task has a vector; no claim tested" in only.notes


def test_layer_sweep_skips_a_layer_without_a_vector_and_says_so(env, tmp_path, monkeypatch):
    from saif_core import features

    three_layers(env, tmp_path, monkeypatch)
    real = EV._tuned

    def tuned(cfg, *a, **kw):
        if "blocks.0." in cfg.sae:
            raise features.SelectionError("tiny-llama / translate_fr: no latent passes the selection rule. Fix: ...")
        return real(cfg, *a, **kw)

    monkeypatch.setattr(EV, "_tuned", tuned)
    ev = check(EV.layer_sweep("tiny-llama", "translate_fr", width=128, **SMOKE), "06_layer_sweep")
    assert "earlier layer (1," in ev.claims[0]["claim"] and any(n.startswith("layer 0: not swept") for n in ev.notes)
    monkeypatch.setattr(EV, "_tuned", lambda cfg, *a, **kw: (_ for _ in ()).throw(features.SelectionError("none. Fix")))
    none = EV.layer_sweep("tiny-llama", "translate_fr", width=128, **SMOKE)
    assert not none.claims and none.rows.empty and "no claim tested" in none.notes[-1]
