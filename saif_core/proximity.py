"""Semantic proximity: do a vector's latents promote tokens of their instruction's meaning?

A task's **concept tokens** are the words its instruction variants are made of (their content
words, in every language the variants use, matched on a 4-letter prefix, so that "China" and
" Chinese" both match the variants' "Chinese", and "Mandarin" matches because a variant says
"Mandarin") and, for a translation task, tokens in the target language. A direction's **concept score** is the
share of its top-``top`` logit-lens tokens that are concept tokens; the **score of a selection**
is the mean over its latents' decoder directions. Its **null** is the same mean over ``k`` latents
drawn at random from the same SAE: the claim "the selected latents promote their instruction's
meaning" holds when the selection scores above that null (``verdicts.exceeds_null``).

Example:
    >>> words = proximity.concept_words("translate_zh")
    >>> proximity.is_concept(" Mandarin", words, "zh"), proximity.is_concept(" bread", words, "zh")
    (True, False)
    >>> scores = proximity.latent_scores(model, sae, words, "zh")
    >>> verdicts.exceeds_null("...", scores[selected].mean(), proximity.random_latent_null(scores, len(selected)))
"""
from __future__ import annotations

import numpy as np
import torch

from . import data
from .langid import language_of, script_language
from .text import content_words

STEM = 4  # letters of a word that must match a concept word's
FAMILIES = {"translation": ("translate_fr", "translate_zh", "translate_en"), "keyword": ("keyword:lantern",),
            "summary": ("summarize",)}


def _variant_words(task: str) -> set[str]:
    t = data.get_task(task)
    return {w for v in t.variants for w in content_words(v.fill(t.keyword or ""))}


def concept_words(task: str) -> set[str]:
    """Lower-cased content words of every instruction variant of ``task`` (keyword filled in),
    less the request words that variants of another family of tasks use too ("bitte", "diesen",
    "please"): what is left names the instruction's meaning ("translate", "chinois", "中文")."""
    family = next((f for f, ts in FAMILIES.items() if data.get_task(task).id in {data.get_task(x).id for x in ts}), None)
    others = set().union(*(_variant_words(x) for f, ts in FAMILIES.items() if f != family for x in ts))
    return _variant_words(task) - others


def _han(s: str) -> bool:
    return any("\u3400" <= ch <= "\u9fff" for ch in s)


def is_concept(token: str, words: set[str], target_lang: str | None = None) -> bool:
    """Whether a (decoded) token is a concept token: its stripped, lower-cased form shares a
    ``STEM``-letter prefix with a concept word (a Han token: shares a character with one), or,
    for a translation task, is a word of the target language."""
    w = token.strip().casefold()
    if not w or not any(ch.isalpha() for ch in w):
        return False
    if _han(w):
        if any(ch in cw for cw in words if _han(cw) for ch in w if _han(ch)):
            return True
    elif len(w) >= STEM and any(len(cw) >= STEM and cw[:STEM] == w[:STEM] for cw in words):
        return True
    if target_lang is None or len(w) < 3 and not _han(w):
        return False
    if target_lang == "zh":
        return script_language(w) == "zh"
    return language_of(w) == target_lang


@torch.no_grad()
def latent_scores(model, sae, words: set[str], target_lang: str | None, top: int = 20, batch: int = 256) -> np.ndarray:
    """Per latent of ``sae``: the share of its decoder direction's top-``top`` logit-lens tokens
    that are concept tokens, shape ``[d_sae]`` (one pass over the SAE, in batches)."""
    W = sae.W_dec.detach()
    verdict: dict[int, bool] = {}
    out = np.zeros(W.shape[0])
    for i in range(0, W.shape[0], batch):
        d = W[i : i + batch].to(model.device, model.hf.dtype)[:, None]
        ids = model.hf.lm_head(model.hf.model.norm(d))[:, 0].float().topk(top).indices.tolist()
        for j, row in enumerate(ids):
            for t in row:
                if t not in verdict:
                    verdict[t] = is_concept(model.tokenizer.decode([t]), words, target_lang)
            out[i + j] = sum(verdict[t] for t in row) / top
    return out


def random_latent_null(scores: np.ndarray, k: int, draws: int = 1000, seed: int = 0) -> np.ndarray:
    """The mean score of ``k`` latents drawn at random (without replacement), ``draws`` times."""
    rng = np.random.default_rng(seed)
    return np.array([scores[rng.choice(scores.size, k, replace=False)].mean() for _ in range(draws)])
