"""The notebooks' studies and tables (saif_core.studies, saif_core.tables) and the figures they
draw, on small synthetic inputs: a tmp SAE root, a tmp results store, hand-made records, and
fake runs in place of the pipeline, so that no model loads."""
import json
import math

import matplotlib.pyplot as plt
import pandas as pd
import pytest

from saif_core import experiments as E, features, plots, quality, saes, studies, tables
from saif_core.features import SelectionError

MODEL = "smollm2-135m-instruct"


# ---------------------------------------------------------------- fixtures: a tmp SAE root, fake runs


def write_sae(root, model, layer, d_sae, metrics=None, log=None):
    folder = root / model / f"blocks.{layer}.hook_resid_post" / f"width_{d_sae}"
    folder.mkdir(parents=True)
    (folder / "cfg.json").write_text(json.dumps({"d_sae": d_sae}))
    if metrics is not None:
        (folder / "metrics.json").write_text(json.dumps(metrics))
    if log is not None:
        (folder / "training_log.jsonl").write_text("".join(json.dumps(r) + "\n" for r in log))
    return f"{model}/blocks.{layer}.hook_resid_post/width_{d_sae}"


def metrics(fvu, seconds=600.0, **extra):
    return {"fvu": fvu, "l0": 64.0, "dead_fraction": 0.01, "ce_increase": 0.2, "n_tokens": 1000,
            "training_tokens": 10_000, "training_seconds": seconds, **extra}


@pytest.fixture
def sae_root(tmp_path, monkeypatch):
    """Two models: toy-a with SAEs at layers 3 (two widths) and 5 (one, still training: no
    metrics), toy-b with one SAE; corpus statistics and held-out text for toy-a."""
    root = tmp_path / "saes"
    write_sae(root, "toy-a", 5, 64)
    write_sae(root, "toy-a", 3, 128, metrics(0.2, unique_training_tokens=9_000, corpus_version=2),
              [{"tokens": 100, "fvu": 0.9, "dead": 0}, {"tokens": 200, "fvu": 0.5, "dead": 32}])
    write_sae(root, "toy-a", 3, 32, metrics(0.3), [{"tokens": 100, "fvu": 0.8, "dead": 8}])
    write_sae(root, "toy-b", 1, 16, metrics(0.1))
    (root / "toy-a" / "corpus_stats.json").write_text(json.dumps(
        {"train_tokens": 10, "heldout_tokens": 4, "train": {"plain/en": {"docs": 2, "tokens": 6}, "task/fr": {"docs": 1, "tokens": 4}}}))
    (root / "toy-a" / "heldout.jsonl").write_text("".join(json.dumps({"text": f"doc {i}"}) + "\n" for i in range(5)))
    monkeypatch.setenv("SAIF_SAES", str(root))
    return root


def fake_summary(cfg):
    """A run summary whose accuracies depend on the configuration only."""
    d = cfg.asdict()
    v = (hash((d["task"], d["placement"], d["vector"], d["alpha"], d["sae"], d["k"])) % 11) / 10
    s = {"config": d, "key": "key", "n": d["n_eval"] or 20}
    for c in d["conditions"]:
        s[c] = {"n": s["n"], "strict": v / 2, "loose": v, "strict_ci": [0.0, v], "loose_ci": [0.0, 1.0]}
    return s


@pytest.fixture
def fake_runs(monkeypatch):
    """``E.run``, ``E.with_alpha`` and ``E.passing_latents`` replaced by fakes; returns the calls."""
    calls = []

    def run(cfg, root=None, progress=True):
        calls.append(("run", cfg))
        if cfg.sae == "too-few-latents":
            raise SelectionError("k=8 but only 0 latents pass the rule. Fix: use k <= 0")
        return fake_summary(cfg)

    def with_alpha(cfg, alpha, alphas=E.DEV_ALPHAS, root=None, progress=False, n_dev=None):
        calls.append(("with_alpha", cfg, alpha, tuple(alphas), n_dev))
        return cfg.replace(alpha=max(alphas) if alpha == "auto" else float(alpha)), [{"alpha": max(alphas)}]

    def passing_latents(cfg, root=None):
        calls.append(("passing", cfg))
        return {("summarize", "pre"): 5, ("keyword", "post"): 0}.get((cfg.task, cfg.placement), 9)

    monkeypatch.setattr(E, "run", run)
    monkeypatch.setattr(E, "with_alpha", with_alpha)
    monkeypatch.setattr(E, "passing_latents", passing_latents)
    return calls


# ---------------------------------------------------------------- models and shipped SAEs (00, 01)


def test_model_registry_has_one_row_per_model():
    df = tables.model_registry()
    assert list(df.columns) == ["id", "source", "layers", "d_model", "chat", "steering layer", "notes"]
    row = df.set_index("id").loc[MODEL]
    assert (row["layers"], row["d_model"], row["steering layer"]) == (30, 576, 23)


def test_sae_quality_reads_metrics_and_skips_saes_in_training(sae_root):
    assert tables.models_with_saes() == ["toy-a", "toy-b"]
    q = tables.sae_quality(["toy-a"])
    assert list(q.columns) == tables.QUALITY_COLUMNS
    assert q[["layer", "d_sae"]].values.tolist() == [[3, 32], [3, 128]]  # layer 5 has no metrics.json yet
    assert q.train_minutes.tolist() == [10.0, 10.0]
    assert q.unique_tokens.tolist()[1] == 9_000 and q.corpus_version.tolist() == [1, 2]
    assert q.sae.tolist()[0] == "toy-a/blocks.3.hook_resid_post/width_32"
    assert len(tables.sae_quality()) == 3 and tables.sae_quality(["nobody"]).empty


def test_corpus_tables_and_heldout_text(sae_root):
    assert tables.corpus_stats("toy-a")["train_tokens"] == 10
    df = tables.corpus(["toy-a"])
    assert df.index.names == ["model", "source/lang"] and df.loc[("toy-a", "task/fr"), "tokens"] == 4
    assert tables.heldout_texts("toy-a", 2) == ["doc 0", "doc 1"] and len(tables.heldout_texts("toy-a")) == 5


def test_training_logs_and_curves(sae_root):
    logs = tables.training_logs(["toy-a"])
    assert set(zip(logs.layer, logs.d_sae)) == {(3, 32), (3, 128)} and len(logs) == 3
    fig = plots.training_curves(logs, ["toy-a"])
    dead = {line.get_label(): list(line.get_ydata()) for line in fig.axes[1].get_lines()}
    assert dead["L3 w128"] == [0.0, 25.0]  # % of 128 latents
    plt.close(fig)


def test_saes_by_layer_and_width(sae_root):
    by_layer = studies.saes_by_layer("toy-a")
    assert list(by_layer) == [3, 5] and by_layer[3].d_sae == 32  # the narrowest
    assert list(studies.saes_by_layer("toy-a", [5, 7])) == [5]
    assert studies.layer_with_most_widths("toy-a") == 3
    assert [s.d_sae for s in studies.saes_at_layer("toy-a", 3)] == [32, 128]
    assert studies.saes_at_layer("toy-a", 4) == []


def test_steering_sae_recheck_measures_each_model_on_its_heldout_text(sae_root, monkeypatch):
    seen = []
    monkeypatch.setattr(studies, "load_model", lambda model_id: f"model:{model_id}")
    monkeypatch.setattr(saes, "default_sae_id", lambda model_id: "toy-a/blocks.3.hook_resid_post/width_32")
    monkeypatch.setattr(saes, "load_sae", lambda sae_id, model=None: f"sae:{sae_id}")
    monkeypatch.setattr(studies.sae_metrics, "sae_metrics", lambda m, sae, layer, texts: seen.append((m, sae, layer, texts)) or {"fvu": 0.1})
    live = studies.steering_sae_recheck(["toy-a"], 2)
    assert live == {"toy-a/blocks.3.hook_resid_post/width_32": {"fvu": 0.1}}
    assert seen == [("model:toy-a", "sae:toy-a/blocks.3.hook_resid_post/width_32", 3, ["doc 0", "doc 1"])]


# ---------------------------------------------------------------- strength from the residual norm (06, 07, 10)


def test_residual_norm_reads_content_only_prompts(monkeypatch):
    class Model:
        def format_prompt(self, p):
            return f"<{p}>"

    seen = {}
    monkeypatch.setattr(studies, "load_model", lambda model_id: Model())
    monkeypatch.setattr(features, "residual_norm", lambda m, layer, prompts: seen.setdefault(layer, prompts) and 2.5)
    assert studies.residual_norm(MODEL, 7, "translate_fr", 3) == 2.5
    assert len(seen[7]) == 3 and all(p.startswith("<") for p in seen[7])


def test_alpha_at_scales_the_norm():
    assert studies.alpha_at(0.25, 375.123) == 93.78
    assert studies.alpha_at(1.0, 12.0) == 12.0


def test_layer_sweep_runs_each_layer_at_each_scale_and_notes_failures(fake_runs):
    base = E.RunConfig(normalize=True, conditions=("steered",), n_eval=5)
    by_layer = {5: saes.SAESpec("too-few-latents", MODEL, 5, 16), 23: saes.SAESpec("good", MODEL, 23, 16)}
    df, not_run = studies.layer_sweep(base, by_layer, {5: 100.0, 23: 400.0}, [0.25, 0.5])
    assert not_run == {5: "SelectionError: k=8 but only 0 latents pass the rule"}
    assert df.scale.tolist() == [0.25, 0.5] and df.alpha.tolist() == [100.0, 200.0] and set(df.sae) == {"good"}
    runs = [c[1] for c in fake_runs if c[0] == "run"]
    assert [(r.sae, r.alpha) for r in runs] == [("too-few-latents", 25.0), ("good", 100.0), ("good", 200.0)]


def test_width_sweep_gives_every_width_the_same_norms(fake_runs):
    base = E.RunConfig(normalize=True, conditions=("steered",))
    specs = [saes.SAESpec("narrow", MODEL, 29, 4608), saes.SAESpec("wide", MODEL, 29, 18432)]
    df = studies.width_sweep(base, specs, [0.5, 1.0], 10.0)
    assert df[["d_sae", "scale", "alpha"]].values.tolist() == [[4608, 0.5, 5.0], [4608, 1.0, 10.0],
                                                                [18432, 0.5, 5.0], [18432, 1.0, 10.0]]
    assert list(df.columns[-2:]) == ["d_sae", "scale"]


# ---------------------------------------------------------------- k (03), vectors


@pytest.mark.parametrize("ks, n, expected", [
    ([1, 2, 4, 8, 16, 24], 13, ([1, 2, 4, 8, 13], [16, 24])),
    ([1, 2, 4], 13, ([1, 2, 4], [])),
    ([1, 13, 24], 13, ([1, 13], [24])),
    ([8], 3, ([3], [8])),
])
def test_ks_to_run_ends_at_the_widest_vector(ks, n, expected):
    assert studies.ks_to_run(ks, n) == expected


def test_vector_norm_is_the_norm_of_the_built_vector(monkeypatch):
    import torch

    class SV:
        vector = torch.tensor([3.0, 4.0])

    seen = []
    monkeypatch.setattr(E, "load_cached", lambda model, sae: ("m", "S"))
    monkeypatch.setattr(E, "build_vector", lambda cfg, m, S: seen.append(cfg) or (SV(), []))
    assert studies.vector_norm(E.RunConfig(k=3)) == 5.0
    assert seen[0].k == 3 and seen[0].sae is not None  # validated: the default SAE filled in


# ---------------------------------------------------------------- judged records (04)


def records():
    rows = []
    for i, (lang, labels) in enumerate([("de", ("fail", "loose", "fail")), ("en", ("fail", "strict", "strict")),
                                        ("en", ("loose", "strict", "loose")), ("zh", ("fail", "strict", "fail"))]):
        for cond, label in zip(("original", "prompted", "steered"), labels):
            rows.append({"condition": cond, "content_id": f"c{i}", "lang": lang, "source": f"source {i}",
                         "output": f"{cond} output {i} " + "x" * 200, "label": label, "reason": "r" * 150})
    return rows


def test_accuracy_by_language():
    by = tables.accuracy_by_language(records())
    assert list(by.columns) == [(m, c) for m in ("strict", "loose") for c in ("original", "prompted", "steered")]
    assert by.loc["en", ("strict", "steered")] == 0.5 and by.loc["en", ("loose", "steered")] == 1.0
    assert by.loc["de", ("loose", "original")] == 0.0


def test_steered_examples_prefer_strict_then_loose_then_fail():
    ex = tables.steered_examples(records(), 2)
    assert [(e["lang"], e["label"]) for e in ex] == [("de", "fail"), ("en", "strict"), ("en", "loose"), ("zh", "fail")]
    assert ex[1]["original output"].startswith("original output 1") and len(ex[1]["steered output"]) == 160
    assert len(ex[0]["reason"]) == 100
    assert len(tables.steered_examples(records(), 1)) == 3


def test_language_examples_figure():
    by, ex = tables.accuracy_by_language(records()), tables.steered_examples(records(), 2)
    fig = plots.language_examples(by, ex, "translate_fr by input language (toy)")
    bars = fig.axes[0].patches
    assert len(bars) == 2 * 3 * 3 and fig.axes[0].get_title() == "translate_fr by input language (toy)"
    assert len(fig.axes[1].texts) == len(ex)
    plt.close(fig)


# ---------------------------------------------------------------- five tasks, two models (05)


def test_tasks_and_models_steps_k_down_and_skips_what_cannot_run(fake_runs, monkeypatch):
    def default_sae_id(model_id, root=None):
        if model_id == "no-sae":
            raise saes.SAEError("no SAE for no-sae at its steering layer (3). Fix: train one")
        return "sae"

    monkeypatch.setattr(saes, "default_sae_id", default_sae_id)
    out = studies.tasks_and_models([MODEL, "no-sae"], ["translate_fr", "summarize", "keyword"], 8, "auto", 4, 16, 2, 8, 0)
    assert out.not_measured == {"no-sae": "no SAE for no-sae at its steering layer (3)",
                                f"{MODEL}/keyword": "no latent passes the selection rule (post 0, pre 9)"}
    assert out.stepped_down == {f"{MODEL}/summarize": {"post": 8, "pre": 5}, f"{MODEL}/keyword": {"post": 0, "pre": 8}}
    df = out.rows
    assert df.condition.tolist() == ["original", "prompted", "steered (post)", "steered (pre)"] * 2
    pre = df[df.condition == "steered (pre)"]
    assert pre.placement.tolist() == ["pre", "pre"] and pre.k.tolist() == [8, 5]
    assert (pre.alpha.values == df[df.condition == "steered (post)"].alpha.values).all()  # the post vector's alpha
    tuned = [c for c in fake_runs if c[0] == "with_alpha"]
    assert [(c[1].task, c[2], c[4]) for c in tuned] == [("translate_fr", "auto", 2), ("summarize", "auto", 2)]


def test_tasks_models_claims():
    rows = []
    for model, (orig, post, pre, prompted) in {"a": (0.0, 0.4, 0.2, 0.45), "b": (0.3, 0.2, 0.3, 0.9)}.items():
        for task in ("t1", "t2"):
            for cond, v in zip(("original", "steered (post)", "steered (pre)", "prompted"), (orig, post, pre, prompted)):
                rows.append({"model": model, "task": task, "condition": cond, "strict": v / 2, "loose": v})
    claims = studies.tasks_models_claims(pd.DataFrame(rows))
    assert {m: {k: v for k, v in c.items() if k != "means"} for m, c in claims.items()} == {
        "a": {"steered_above_original_SA": True, "post_above_pre": True, "steered_LA_close_to_prompted": True},
        "b": {"steered_above_original_SA": False, "post_above_pre": False, "steered_LA_close_to_prompted": False}}
    assert claims["a"]["means"]["prompted"] == {"strict": 0.225, "loose": 0.45}


# ---------------------------------------------------------------- output quality (08)


def test_output_quality_takes_the_median_perplexity_of_non_empty_outputs(monkeypatch):
    class Model:
        def format_prompt(self, p):
            return p

    recs = [{"prompt": "p", "output": o} for o in ("a b c d", "a a a a a a", "", "one two")]
    monkeypatch.setattr(E, "records", lambda cfg: recs)
    monkeypatch.setattr(studies, "load_model", lambda model_id: Model())
    monkeypatch.setattr(quality, "perplexity", lambda m, prompts, outs: [float(len(o)) if o else math.nan for o in outs])
    q = studies.output_quality(E.RunConfig(alpha=2.0))
    assert q["perplexity"] == 7.0  # median of 7, 11, 7
    assert q["distinct_trigrams"] == pytest.approx((1.0 + 0.25 + 1.0 + 1.0) / 4)
    assert q["loops"] == 0.0  # "a a a a a a": six words are too few to call a loop


def test_a_loop_without_spaces_has_no_word_trigrams_but_is_a_loop():
    looped, prose = "VoVoVoVoVoVoVoVoVoVoVoVoVoVoVoVo", "Le chat dort sur le canapé depuis ce matin, au soleil."
    assert quality.distinct_trigrams(looped) == 1.0  # no word trigrams to count: why 08 shows loops too
    assert quality.is_loop(looped) and not quality.is_loop(prose)
    assert quality.is_loop("Voici une réponse. " * 8)


# ---------------------------------------------------------------- latents and their tokens (09, 11)


def test_latent_lens_rounds_statistics_and_adds_the_vector_row(monkeypatch):
    table = [{"latent": 7, "strength": 1.23456, "stability": 0.5, "probability": 0.875, "sensitivity": 0.1049},
             {"latent": 3, "strength": 2.0, "stability": 0.25, "probability": 1.0, "sensitivity": 0.09}]

    class SV:
        latents, vector = [7, 3], "v"

    monkeypatch.setattr(E, "load_cached", lambda model, sae: ("m", "S"))
    monkeypatch.setattr(E, "build_vector", lambda cfg, m, S: (SV(), table))
    monkeypatch.setattr(features, "latent_top_tokens", lambda m, S, latents, top: {j: [f"t{j}"] * top for j in latents})
    monkeypatch.setattr(features, "logit_lens", lambda m, d, top: [("v", 1.0)] * top)
    lens = studies.latent_lens(MODEL, ["translate_fr", "keyword"], 2, 16, 0, 3)
    assert lens.latent.tolist() == [7, 3, "vector"] * 2
    assert list(lens.columns) == ["task", "latent", "strength", "stability", "probability", "sensitivity", "top tokens"]
    assert lens.strength.tolist()[:2] == [1.23, 2.0] and lens.sensitivity.tolist()[0] == round(0.1049, 2)
    assert lens["top tokens"].tolist()[:3] == [["t7"] * 3, ["t3"] * 3, ["v"] * 3]
    assert math.isnan(lens.sensitivity.tolist()[2])
    assert studies.latent_lens(MODEL, ["keyword"], 2, 16, 0, 3, vector=False).latent.tolist() == [7, 3]
    # with a notes list, a task where fewer than k latents pass gets them, and a note says so
    seen = []
    monkeypatch.setattr(E, "build_vector", lambda cfg, m, S: (seen.append(cfg.k) or SV(), table))
    monkeypatch.setattr(E, "passing_latents", lambda cfg: 2)
    notes = []
    studies.latent_lens(MODEL, ["translate_fr"], 8, 16, 0, 3, notes=notes)
    assert seen == [2] and len(notes) == 1 and "k lowered from 8 to 2" in notes[0]


def test_target_language_share_counts_long_or_han_tokens_of_the_latents_only():
    lens = pd.DataFrame([
        {"task": "translate_fr", "latent": 1, "top tokens": [" bonjour", "é", " la", "ordinateur", "中文"]},
        {"task": "translate_fr", "latent": "vector", "top tokens": ["français"] * 5},
        {"task": "translate_zh", "latent": 2, "top tokens": ["中", "ab"]},
    ])
    assert tables.promoted_tokens(lens, "translate_fr") == ["bonjour", "ordinateur", "中文"]
    assert tables.target_language_share(lens, "translate_fr", "fr") == pytest.approx(2 / 3)
    assert tables.target_language_share(lens, "translate_zh", "zh") == 1.0
    assert tables.target_language_share(lens, "translate_en", "en") == 0.0  # no tokens


def test_instruction_variants_tables():
    df = tables.instruction_variants(["translate_fr", "keyword"])
    assert df.shape == (2, 6) and df.variants.tolist() == [20, 20]
    assert (df.paraphrases + df.translations).tolist() == [20, 20]
    assert tables.variant_examples(["translate_fr"], every=4).shape == (5, 4)


def write_summary(root, name, k=8, alpha=2.0, conditions=("steered",), strict=0.25, **changes):
    cfg = E.RunConfig(sae=f"{MODEL}/blocks.23.hook_resid_post/width_2304", k=k, alpha=alpha, conditions=conditions,
                      **changes).asdict()
    s = {"config": cfg, "key": name, "n": 10,
         **{c: {"n": 10, "strict": strict, "loose": 2 * strict, "strict_ci": [0, 1], "loose_ci": [0, 1]} for c in conditions}}
    (root / name).mkdir(parents=True)
    (root / name / "summary.json").write_text(json.dumps(s))


def test_stored_accuracy_keeps_the_last_saif_run_of_each_cell(tmp_path):
    write_summary(tmp_path, "a", conditions=("original", "steered"), strict=0.1)
    write_summary(tmp_path, "b", strict=0.333)  # a later run of the same cell: kept
    write_summary(tmp_path, "c", placement="pre")
    write_summary(tmp_path, "d", k=4)
    write_summary(tmp_path, "e", eval_split="dev")
    write_summary(tmp_path, "f", normalize=True)
    write_summary(tmp_path, "g", vector="diff_means")
    (tmp_path / "h").mkdir()
    (tmp_path / "h" / "summary.json").write_text("{damaged")
    acc = tables.stored_accuracy(8, tmp_path)
    assert list(acc.columns) == tables.ACCURACY_COLUMNS
    assert acc[["placement", "condition", "SA", "LA"]].values.tolist() == [
        ["post", "original", 0.1, 0.2], ["post", "steered", 0.33, 0.67], ["pre", "steered", 0.25, 0.5]]
    assert acc.sae.tolist()[0] == "blocks.23.hook_resid_post/width_2304"
    assert tables.stored_accuracy(4, tmp_path).shape[0] == 1
    assert tables.stored_accuracy(8, tmp_path / "empty").empty
    # the protocol's runs (unit-norm vectors) instead, with their weighting
    unit = tables.stored_accuracy(8, tmp_path, unit_norm=True)
    assert unit.shape[0] == 1 and unit.weighting.tolist() == [E.RunConfig.weighting]  # the default
    assert list(unit.columns) == [c for c in tables.ACCURACY_COLUMNS if c != "alpha"][:5] + ["weighting", "alpha"] + ["condition", "n", "SA", "LA"]


# ---------------------------------------------------------------- baselines (10)


def test_baselines_choose_each_scale_on_dev_then_share_the_items(fake_runs):
    base = E.RunConfig(normalize=True, conditions=("steered",), n_eval=6)
    chosen, dev = studies.scales_on_dev(base, [0.25, 0.5], 100.0, 4)
    assert list(chosen) == ["saif", "diff_means", "single_latent"] and chosen["diff_means"].vector == "diff_means"
    assert all(c.alpha == 50.0 for c in chosen.values())
    assert [c[3] for c in fake_runs if c[0] == "with_alpha"] == [(25.0, 50.0)] * 3
    rows = studies.baseline_rows(chosen)
    assert [r["condition"] for r in rows] == ["original", "prompted", "SAIF (k latents)", "difference of means", "single latent"]
    assert [r["vector"] for r in rows] == ["saif", "saif", "saif", "diff_means", "single_latent"]


# ---------------------------------------------------------------- figures


def test_sweep_width_is_the_last_layers_narrowest_width_an_earlier_layer_shares(sae_root, monkeypatch):
    from types import SimpleNamespace

    monkeypatch.setattr(studies, "get_spec", lambda m: SimpleNamespace(last_layer={"toy-a": 5, "toy-b": 1}[m]))
    write_sae(sae_root, "toy-a", 5, 128)
    assert studies.sweep_width("toy-a") == 128  # layer 5 has 64 and 128; only 128 is at an earlier layer too
    assert studies.sweep_width("toy-b") is None  # one layer only


def test_placement_intervals_draws_a_panel_per_statistic():
    rows = pd.DataFrame([{"statistic": s, "placement": p, "value": v, "low": v - 0.1, "high": v + 0.1}
                         for s in ("strength", "stability", "probability") for p, v in (("post", 0.8), ("pre", 0.5))])
    fig = plots.placement_intervals(rows, "t")
    assert [ax.get_title() for ax in fig.axes] == ["strength", "stability", "probability"]
    plt.close(fig)


def test_arms_by_model_draws_a_panel_per_model_of_the_steered_arms():
    rows = pd.DataFrame([{"model": m, "arm": a, "condition": c, "strict": 0.2, "loose": 0.5, "strict_ci": [0.1, 0.3]}
                         for m in ("a", "b") for a, c in (("layer 5", "steered"), ("original", "original"))])
    fig = plots.arms_by_model(rows, "t")
    assert [ax.get_title() for ax in fig.axes] == ["a", "b"] and len(fig.axes[0].patches) == 2  # SA and LA of one arm
    plt.close(fig)
    empty = plots.arms_by_model(pd.DataFrame())
    assert empty.axes[0].texts[0].get_text() == "no arm was measured"
    plt.close(empty)


def test_sa_la_bars_draws_la_behind_sa():
    df = pd.DataFrame({"condition": ["original", "steered"], "strict": [0.1, 0.5], "loose": [0.2, 0.9],
                       "strict_ci": [[0.0, 0.3], [0.3, 0.7]]})
    ax = plots.sa_la_bars(df, "condition", ci=True)
    heights = sorted(round(p.get_height(), 3) for p in ax.patches)
    assert heights == [0.1, 0.2, 0.5, 0.9]
    assert [t.get_text() for t in ax.get_xticklabels()] == ["original", "steered"]
    assert ax.get_ylabel() == "SA (solid, 95% CI), LA (light)"
    plt.close(ax.figure)
    grouped = pd.DataFrame({"width": ["a", "b", "a", "b"], "scale": [0.5, 0.5, 1.0, 1.0], "strict": [0.1, 0.2, 0.3, 0.4],
                            "loose": [0.5, 0.6, 0.7, 0.8]})
    ax = plots.sa_la_bars(grouped, "width", hue="scale", labels={0.5: "half", 1.0: "one"})
    assert [t.get_text() for t in ax.get_legend().get_texts()] == ["half", "one"]
    xs = sorted({round(p.get_x() + p.get_width() / 2, 3) for p in ax.patches})
    assert xs == [-0.2, 0.2, 0.8, 1.2]
    plt.close(ax.figure)


def test_layer_and_alpha_figures():
    df = pd.DataFrame({"layer": [17, 23, 17, 23], "scale": [0.5, 0.5, 1.0, 1.0], "strict": [0.1, 0.2, 0.3, 0.4],
                       "loose": [0.5, 0.6, 0.7, 0.8]})
    fig = plots.layer_curves(df, [0.5, 1.0], 29, "translate_fr, toy")
    assert [line.get_label() for line in fig.axes[0].get_lines()][:2] == ["|v| = 0.5 x residual norm", "|v| = 1 x residual norm"]
    assert fig.axes[1].get_title() == "translate_fr, toy: loose accuracy"
    plt.close(fig)
    sweep = pd.DataFrame({"alpha": [0.0, 2.0], "strict": [0.0, 0.5], "loose": [0.1, 0.6], "strict_ci": [[0, 0.1], [0.3, 0.7]],
                          "loose_ci": [[0, 0.2], [0.4, 0.8]], "distinct_trigrams": [0.9, 0.5], "perplexity": [2.0, 8.0]})
    fig = plots.alpha_quality(sweep, "translate_fr")
    assert fig.axes[0].get_title() == "translate_fr: accuracy" and list(fig.axes[2].get_lines()[0].get_ydata()) == [2.0, 8.0]
    plt.close(fig)


def test_save_table_writes_csv_png_and_pdf(tmp_path):
    df = pd.DataFrame({"a": [1, 2], "b": ["x", "y"]})
    png = plots.save_table(df, "11_tables-toy", "A toy table", folder=tmp_path)
    assert png.exists() and (tmp_path / "11_tables-toy.pdf").exists()
    assert (tmp_path / "11_tables-toy.csv").read_text() == "a,b\n1,x\n2,y\n"
    plt.close("all")
