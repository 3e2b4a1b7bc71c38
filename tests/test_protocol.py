"""The evaluation protocol (saif_core.protocol) on the tiny random model: choices on dev only,
one measurement on the whole evaluation split, paired outcomes in split order."""
import json

import pytest

from saif_core import data, protocol


@pytest.fixture
def small(tiny_env, monkeypatch):
    monkeypatch.setattr(protocol, "MIN_DEV", 5)
    return tiny_env


def tiny_arm(**kw):
    return protocol.arm("tiny-llama", "translate_fr", **{"k": 2, "n_extract": 16, "max_new_tokens": 5,
                                                          "batch_size": 32, **kw})


def test_an_arm_carries_the_fixed_settings():
    cfg = protocol.arm("smollm2-135m-instruct", "translate_fr")
    assert (cfg.k, cfg.min_prob, cfg.weighting, cfg.n_extract, cfg.normalize) == (
        protocol.K, protocol.MIN_PROB, "difference", protocol.N_EXTRACT, True)
    assert cfg.n_eval is None and cfg.max_new_tokens == 128
    assert protocol.arm("smollm2-135m-instruct", "translate_fr", placement="pre").placement == "pre"


def test_tune_chooses_on_dev_and_never_generates_an_evaluation_item(small):
    tuned = protocol.tune(tiny_arm(), scales=(0.5, 4.0))
    assert [r["scale"] for r in tuned.dev_rows] == [0.5, 4.0]
    assert all(r["n"] == len(data.split("translate_fr", "dev")) for r in tuned.dev_rows)
    best = max(tuned.dev_rows, key=lambda r: (r["strict"], r["loose"], -r["scale"]))
    assert tuned.scale == best["scale"] and tuned.cfg.alpha == protocol.alpha_at(best["scale"], tuned.norm)
    assert tuned.cfg.eval_split == "evaluation" and tuned.cfg.n_eval is None and tuned.cfg.normalize
    evaluation = {it.id for it in data.split("translate_fr", "evaluation")}
    seen = {json.loads(line)["content_id"] for f in small.results.rglob("records.jsonl") for line in f.open()}
    assert seen and not seen & evaluation


def test_outcomes_are_paired_in_split_order(small):
    cfg = protocol.at_scale(tiny_arm(), 1.0)
    assert cfg.alpha == protocol.alpha_at(1.0, protocol.residual_norm(cfg))
    with pytest.raises(ValueError, match="have no steered record"):
        protocol.outcomes(cfg, "steered")
    summary = protocol.evaluate(cfg, ("original", "steered"))
    n = len(data.split("translate_fr", "evaluation"))
    assert summary["n"] == n
    strict, loose = protocol.outcomes(cfg, "steered"), protocol.outcomes(cfg, "steered", "loose")
    assert strict.shape == loose.shape == (n,) and (loose >= strict).all()
    assert strict.mean() == pytest.approx(summary["steered"]["strict"])
    assert protocol.outcomes(cfg, "original", "loose").mean() == pytest.approx(summary["original"]["loose"])


def test_a_task_with_too_small_splits_is_refused(monkeypatch):
    monkeypatch.setattr(protocol, "MIN_DEV", 1000)
    with pytest.raises(data.DataError, match="the protocol needs at least 1000"):
        protocol.check_split_sizes("translate_fr")


def test_a_smoke_run_limits_dev_and_evaluation_items(tiny_env):
    tuned = protocol.tune(tiny_arm(n_eval=3), scales=(0.5, 1.0), n_dev=2)  # no split-size check for a smoke run
    assert all(r["n"] == 2 for r in tuned.dev_rows) and tuned.cfg.n_eval == 3
    protocol.evaluate(tuned.cfg, ("steered",))
    assert protocol.outcomes(tuned.cfg).shape == (3,)
    with pytest.raises(ValueError, match="equal strengths"):
        protocol.tune(tiny_arm(n_eval=3), scales=(0.5, 0.5), n_dev=2)


def test_the_headline_model_is_chosen_on_prompted_dev_accuracy(tiny_env, monkeypatch):
    from saif_core import experiments as E, saes

    model, rows = protocol.headline_model(["tiny-llama"], n_dev=2, max_new_tokens=3, n_extract=8, k=2)
    assert model == "tiny-llama" and rows[0]["n"] == 2 and set(rows[0]) == {"model", "n", "strict", "loose"}
    evaluation = {it.id for it in data.split("translate_fr", "evaluation")}
    assert not any(r["content_id"] in evaluation for f in tiny_env.results.rglob("records.jsonl")
                   for r in map(json.loads, f.open()))
    # the choice: strict, then loose, then the order given; a model without a steering SAE is skipped
    fake = {"a": (0.1, 0.5), "b": (0.2, 0.3), "c": (0.2, 0.4)}
    monkeypatch.setattr(E, "run", lambda cfg, progress=False: {"n": 40, "prompted": dict(zip(("strict", "loose"), fake[cfg.model]))})
    def default_sae_id(m):
        if m not in fake:
            raise saes.SAEError(f"no SAE for {m}. Fix: make saes")
        return "x"

    monkeypatch.setattr(saes, "default_sae_id", default_sae_id)
    monkeypatch.setattr(protocol, "arm", lambda m, task, **kw: type("C", (), {"model": m})())
    # the run builds its vector from the latents that pass; a model with none is skipped
    from saif_core import features

    no_latents = set()

    def fit_k(cfg, notes):
        if cfg.model in no_latents:
            raise features.SelectionError(f"{cfg.model} / translate_fr: no latent passes the selection rule. Fix: x")
        return cfg

    monkeypatch.setattr(protocol, "fit_k", fit_k)
    model, rows = protocol.headline_model(["a", "b", "c", "d"])
    assert model == "c" and rows[-1] == {"model": "d", "skipped": "no SAE for d"}
    no_latents.add("c")
    model, rows = protocol.headline_model(["a", "b", "c"])
    assert model == "b" and rows[-1] == {"model": "c", "skipped": "c / translate_fr: no latent passes the selection rule"}
