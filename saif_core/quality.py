"""Output quality beside accuracy: does steering still produce fluent, non-repetitive text?

* ``distinct_trigrams``: the share of a response's word trigrams that are distinct (1 for
  prose, towards 0 for a loop; CJK characters count as words). A loop without spaces
  ("VoVoVoVo...") has no word trigrams and scores 1, so read it beside ``is_loop``.
* ``is_loop``: whether a response is a repetition loop by the judge's own rule
  (``text.loop_note`` at ``rubric.MIN_DISTINCT_TRIGRAMS`` and ``rubric.LOOP_REPEATS``: word
  trigrams, character 6-grams, or one 4-gram repeated), with no reference needed.
* ``perplexity``: per-token perplexity of a response *under the unsteered model*, given
  its prompt: how surprising the steered text is to the model it was steered from.

Example:
    >>> distinct_trigrams("the cat sat on the mat")
    1.0
    >>> distinct_trigrams("VoVoVoVoVoVoVoVoVoVoVoVo"), is_loop("VoVoVoVoVoVoVoVoVoVoVoVo")
    (1.0, True)
    >>> ppl = perplexity(model, [model.format_prompt("Bonjour.")], ["Hello."])
"""
from __future__ import annotations

import math

import torch

from .rubric import LOOP_REPEATS, MIN_DISTINCT_TRIGRAMS
from .text import loop_note, trigram_counts


def distinct_trigrams(text: str) -> float:
    """Distinct / total word trigrams (1.0 when the text has fewer than three words)."""
    distinct, total = trigram_counts(text)
    return distinct / total if total else 1.0


def is_loop(text: str) -> bool:
    """Whether ``text`` is a repetition loop by the judge's rule (see the module's docstring)."""
    return loop_note(text, MIN_DISTINCT_TRIGRAMS, LOOP_REPEATS) is not None


@torch.no_grad()
def perplexity(model, formatted_prompts: list[str], responses: list[str], batch_size: int = 16) -> list[float]:
    """exp(mean next-token NLL) of each response's tokens given its formatted prompt, under
    ``model`` with no hooks; NaN for an empty response."""
    out = []
    for i in range(0, len(responses), batch_size):
        rows, spans = [], []
        for p, r in zip(formatted_prompts[i : i + batch_size], responses[i : i + batch_size]):
            prompt_ids = model.encode(p)
            resp_ids = model.tokenizer(r, add_special_tokens=False)["input_ids"] if r else []
            rows.append(prompt_ids + resp_ids)
            spans.append((len(prompt_ids), len(resp_ids)))
        ids, mask = model.pad(rows, side="right")
        logp = torch.log_softmax(model.hf(input_ids=ids, attention_mask=mask).logits.float(), dim=-1)
        for j, (start, n) in enumerate(spans):
            if n == 0:
                out.append(math.nan)
                continue
            targets = ids[j, start : start + n]
            nll = -logp[j, start - 1 : start + n - 1].gather(-1, targets[:, None]).mean().item()
            out.append(math.exp(nll))
    return out
