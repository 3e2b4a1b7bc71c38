"""Semantic proximity on concept tokens against a random-latent null (saif_core.proximity)."""
import numpy as np
import pytest

from saif_core import features, proximity as P


def test_concept_words_name_the_instruction_not_the_request():
    zh = P.concept_words("translate_zh")
    assert {"chinese", "mandarin", "chinois", "translate"} <= zh
    assert not {"bitte", "please", "diesen"} & zh  # German / English request words every family uses
    assert "lantern" in P.concept_words("keyword:lantern")
    assert "summarize" in P.concept_words("summarize") or "summary" in P.concept_words("summarize")


@pytest.mark.parametrize("token, lang, expected", [
    (" Chinese", "zh", True), ("China", "zh", True), (" Mandarin", "zh", True), ("中文", "zh", True),
    ("北京", "zh", True),  # a word of the target language
    (" bread", "zh", False), (" Beijing", None, False), ("  ", "zh", False), ("123", "fr", False),
    (" Français", "fr", True), (" lantern", None, True), (" lanterns", None, True),
])
def test_is_concept(token, lang, expected):
    task = {"zh": "translate_zh", "fr": "translate_fr", None: "keyword:lantern"}[lang]
    assert P.is_concept(token, P.concept_words(task), lang) is expected


def test_latent_scores_match_the_logit_lens_latent_by_latent(tiny_env):
    from saif_core import experiments as E
    from saif_core.config import RunConfig

    cfg = E.validate(RunConfig(model="tiny-llama", task="translate_fr"))
    model, sae = E.load_cached(cfg.model, cfg.sae)
    words = P.concept_words("translate_fr")
    scores = P.latent_scores(model, sae, words, "fr", top=10, batch=7)
    assert scores.shape == (sae.W_dec.shape[0],) and ((0 <= scores) & (scores <= 1)).all()
    for j in (0, 5, sae.W_dec.shape[0] - 1):
        toks = [t for t, _ in features.logit_lens(model, sae.W_dec[j], 10)]
        assert scores[j] == pytest.approx(sum(P.is_concept(t, words, "fr") for t in toks) / 10)


def test_the_null_is_the_mean_of_k_random_latents():
    scores = np.r_[np.ones(10), np.zeros(90)]
    null = P.random_latent_null(scores, 4, draws=2000, seed=1)
    assert null.shape == (2000,) and set(np.unique(null * 4)) <= {0, 1, 2, 3, 4}
    assert null.mean() == pytest.approx(0.1, abs=0.01)
    assert (P.random_latent_null(scores, 4, draws=50, seed=3) == P.random_latent_null(scores, 4, draws=50, seed=3)).all()
