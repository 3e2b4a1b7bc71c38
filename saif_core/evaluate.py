"""Strict / loose / fail judges for the five SAIF tasks, and accuracies with intervals.

The paper judged outputs with GPT-4o-mini. These judges apply the rubric of DESIGN.md by
rule, offline and deterministically, and every :class:`Verdict` says why in terms a reader
can check (which segment was in which language, which length ratio, which overlap). The
rubric is written once, here: its thresholds are the named constants below, from which
:data:`RUBRIC` (the table of notebook 11) and :func:`rubric` (the LLM judge's prompt) are
built. Responses are cleaned by :func:`saif_core.text.normalise` first; lengths count
words, a CJK character as one. The loop and copy rules refine DESIGN.md's rubric so that
a model stuck in a loop never scores strict.

Example:
    >>> judge("translate_fr", "The cat is sleeping.", "Translation: Le chat dort.").label
    'strict'
    >>> judge("keyword", "Write about rivers.", "We crossed several rivers today.", keyword="river")
    Verdict(label='loose', reason="'river' occurs only as part of 'rivers'", ...)
    >>> accuracy(["strict", "loose", "fail", "strict"])["loose"]
    0.75
"""
from __future__ import annotations

import math
import re
from collections import Counter
from dataclasses import dataclass, field

from .data import TARGET_LANGUAGE, TASK_IDS
from .langid import LANGUAGE_NAMES, dominant_language, language_of, segments, words
from .text import (
    SUMMARY_LABELS, TRANSLATION_LABELS, content_words, keyword_forms, loop_note, normalise, similarity, stem,
)

TASKS = TASK_IDS
LABELS = ("strict", "loose", "fail")

ECHO_SIMILARITY = 0.9
MAX_TRANSLATION_RATIO = 3.0
MIN_KEYWORD_WORDS = 5
MIN_SUMMARY_WORDS = 3
MAX_SUMMARY_RATIO_FAIL = 0.9
MAX_SUMMARY_RATIO_STRICT = 0.5
MIN_OVERLAP_FAIL = 0.3
MIN_OVERLAP_STRICT = 0.5
MIN_DISTINCT_TRIGRAMS = 0.5


# The rubric as data (the table of notebooks/11_tables.ipynb), from the thresholds above.
RUBRIC = [
    {"task": "translate_*", "label": "fail", "rule": f"empty; similarity to the source >= {ECHO_SIMILARITY}; no segment in the "
     "target language; or a repetition loop with fewer distinct words than half the source's words"},
    {"task": "translate_*", "label": "strict", "rule": f"every segment (sentence, or script run for Chinese) in the target "
     f"language, length <= {MAX_TRANSLATION_RATIO:g}x the source's, no repetition loop"},
    {"task": "translate_*", "label": "loose", "rule": "otherwise (some segment in the target language)"},
    {"task": "keyword", "label": "strict", "rule": f"the keyword as a whole word (any case) in a non-degenerate response "
     f"(>= {MIN_KEYWORD_WORDS} words, no word above half of them, no loop, not a copy of the source)"},
    {"task": "keyword", "label": "loose", "rule": "the keyword in another form (inside a word, inflected) or only in degenerate text"},
    {"task": "keyword", "label": "fail", "rule": "the keyword absent"},
    {"task": "summarize", "label": "fail", "rule": f"< {MIN_SUMMARY_WORDS} words; >= {MAX_SUMMARY_RATIO_FAIL:.0%} of the source's "
     f"length; another language; < {MIN_OVERLAP_FAIL:.0%} of its content words in the source"},
    {"task": "summarize", "label": "strict", "rule": f"<= {MAX_SUMMARY_RATIO_STRICT:.0%} of the source's length, >= "
     f"{MIN_OVERLAP_STRICT:.0%} of its content words in the source, no repetition loop"},
    {"task": "summarize", "label": "loose", "rule": "otherwise"},
    {"task": "all", "label": "-", "rule": f"repetition loop: under {MIN_DISTINCT_TRIGRAMS:.0%} of the word trigrams (or of the "
     "character 6-grams) distinct; lengths in words, one CJK character = one word"},
]



def rubric(task: str, keyword: str | None = None) -> str:
    """The rubric of ``task`` in prose, from the thresholds above: the LLM judge's instructions.

    >>> rubric("translate_zh")[:49]
    'The task was to translate the source into Chinese'
    """
    if task in TARGET_LANGUAGE:
        language = LANGUAGE_NAMES[TARGET_LANGUAGE[task]]
        return (
            f"The task was to translate the source into {language}. Label 'fail' if the response is empty, "
            f"(nearly) identical to the source, or has no part in {language}. Label 'strict' if every sentence "
            f"(for Chinese: every run of one script) is in {language} and the response is at most "
            f"{MAX_TRANSLATION_RATIO:g} times the source's length in words (a Chinese character counts as a "
            "word) and does not repeat itself in a loop. Label 'loose' otherwise (for example a translation "
            "followed by commentary in another language, a sentence mixing languages, or a far too long response).")
    if task == "keyword":
        return (
            f"The task was to write a response that includes the keyword \"{keyword or ''}\". Label 'strict' if "
            f"the keyword occurs as a whole word (any case) in a non-degenerate response: at least "
            f"{MIN_KEYWORD_WORDS} words, no word more than half of them, no repetition loop, not a copy of the "
            "prompt. Label 'loose' if the keyword occurs only in another form (inside another word, plural or "
            "other inflection) or only in degenerate text. Label 'fail' if it does not occur in any form.")
    if task == "summarize":
        return (
            f"The task was to summarize the source. Label 'fail' if the response has fewer than "
            f"{MIN_SUMMARY_WORDS} words, is at least {MAX_SUMMARY_RATIO_FAIL:.0%} of the source's length in "
            f"words, is in another language than the source, or fewer than {MIN_OVERLAP_FAIL:.0%} of its "
            f"content words occur in the source. Label 'strict' if it is at most {MAX_SUMMARY_RATIO_STRICT:.0%} "
            f"of the source's length, at least {MIN_OVERLAP_STRICT:.0%} of its content words occur in the "
            "source, and it does not repeat itself in a loop. Label 'loose' otherwise.")
    raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")


@dataclass(frozen=True)
class Verdict:
    """A judge's label (``strict``, ``loose`` or ``fail``), the reason in words, and the
    measured quantities behind it (JSON-serialisable)."""

    label: str
    reason: str
    details: dict = field(default_factory=dict, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Verdict(label={self.label!r}, reason={self.reason!r}, ...)"


def judge(task: str, source: str, response: str, keyword: str | None = None) -> Verdict:
    """Judge one response to one task by the rubric (:data:`RUBRIC`, thresholds above).

    >>> judge("translate_zh", "The cat sleeps.", "猫在 sofa 上睡觉。").label
    'loose'
    """
    if task not in TASKS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASKS)}")
    if task in TARGET_LANGUAGE:
        return judge_translation(TARGET_LANGUAGE[task], source, response)
    if task == "keyword":
        if not isinstance(keyword, str) or not keyword.strip():
            raise ValueError("the keyword task needs the keyword (keyword='...')")
        return judge_keyword(keyword, source, response)
    return judge_summary(source, response)


def _name(language: str | None) -> str:
    return LANGUAGE_NAMES.get(language, language or "no language")


# --- translation -----------------------------------------------------------------------

def judge_translation(target: str, source: str, response: str) -> Verdict:
    """Translation into ``target`` (an ISO code: fr, zh, en).

    >>> judge_translation("fr", "Hello!", "Hello!").reason
    'the response is (nearly) identical to the source (similarity 1.00)'
    """
    text = normalise(response, TRANSLATION_LABELS)
    if not words(text):
        return Verdict("fail", "empty response (no letters or digits)", {"response": text})
    echo = similarity(text, source)
    if echo >= ECHO_SIMILARITY:
        return Verdict("fail", f"the response is (nearly) identical to the source (similarity {echo:.2f})",
                       {"similarity": echo})
    source_language = language_of(source)
    in_play = tuple(dict.fromkeys(lang for lang in (target, source_language, "en") if lang))
    found = segments(text, source, in_play)
    ratio = len(words(text)) / max(1, len(words(source)))
    details = {"segments": [[s.text, list(s.languages)] for s in found], "length_ratio": round(ratio, 3),
               "similarity": round(echo, 3), "source_language": source_language}
    in_target = [s for s in found if target in s.languages]
    foreign = [s for s in found if any(lang != target for lang in s.languages)]
    if not in_target:
        shown = "; ".join(s.describe() for s in found[:4])
        return Verdict("fail", f"no segment in {_name(target)}: {shown}", details)
    loop = loop_note(text, MIN_DISTINCT_TRIGRAMS)
    distinct = {w.casefold() for w in words(text)}
    if loop and len(distinct) < 0.5 * len(words(source)):
        return Verdict("fail", f"degenerate: {loop}, with {len(distinct)} distinct word(s), under half the "
                       f"source's {len(words(source))}, so it cannot hold a translation", details)
    problems = []
    if foreign:
        shown = "; ".join(s.describe() for s in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        problems.append(f"{len(foreign)} of {len(found)} segments not (only) in {_name(target)}: {shown}{more}")
    if ratio > MAX_TRANSLATION_RATIO:
        problems.append(f"length ratio {ratio:.1f} > {MAX_TRANSLATION_RATIO:g}")
    if loop:
        problems.append(loop)
    if problems:
        return Verdict("loose", f"{len(in_target)} segment(s) in {_name(target)}, but " + "; ".join(problems),
                       details)
    return Verdict("strict", f"all {len(in_target)} segment(s) in {_name(target)}; length ratio {ratio:.1f}",
                   details)


# --- keyword ---------------------------------------------------------------------------

def judge_keyword(keyword: str, source: str, response: str) -> Verdict:
    """Keyword inclusion.

    >>> judge_keyword("garden", "Write a note.", "The gardener showed me his roses today.").label
    'loose'
    """
    text = normalise(response)
    tokens = [w.casefold() for w in words(text)]
    phrase = r"\s+".join(re.escape(part) for part in keyword.split())
    whole = re.search(rf"(?<!\w){phrase}(?!\w)", text, re.I)
    details = {"words": len(tokens)}
    if not whole:
        forms = keyword_forms(keyword)
        containing = [w for w in re.findall(r"\w+(?:[-']\w+)*", text) if any(f in w.casefold() for f in forms)]
        if not containing:
            return Verdict("fail", f"{keyword!r} does not occur, in any form", details)
        shown = ", ".join(repr(w) for w in dict.fromkeys(containing))
        return Verdict("loose", f"{keyword!r} occurs only as part of {shown}", details)
    problems = _degenerate(text, tokens, source)
    where = f"{keyword!r} occurs as a whole word ({whole.group(0)!r})"
    if problems:
        return Verdict("loose", f"{where}, but the text is degenerate: " + "; ".join(problems), details)
    return Verdict("strict", f"{where} in a {len(tokens)}-word response", details)


def _degenerate(text: str, tokens: list[str], source: str) -> list[str]:
    problems = []
    if len(tokens) < MIN_KEYWORD_WORDS:
        problems.append(f"{len(tokens)} words (< {MIN_KEYWORD_WORDS})")
    if tokens:
        top, count = Counter(tokens).most_common(1)[0]
        if count > len(tokens) / 2:
            problems.append(f"{top!r} is {count} of its {len(tokens)} words")
    if loop := loop_note(text, MIN_DISTINCT_TRIGRAMS):
        problems.append(loop)
    if source and similarity(text, source) >= ECHO_SIMILARITY:
        problems.append("it copies the source")
    return problems


# --- summary ---------------------------------------------------------------------------

def judge_summary(source: str, response: str) -> Verdict:
    """Summarisation.

    >>> judge_summary("Tom lost his keys on the way to work. He searched everywhere, but "
    ...               "his daughter found them in the fridge.", "Tom lost his keys.").label
    'strict'
    """
    text = normalise(response, SUMMARY_LABELS)
    n_words, n_source = len(words(text)), max(1, len(words(source)))
    ratio = n_words / n_source
    language, source_language = dominant_language(text), dominant_language(source)
    mine = content_words(text)
    source_stems = {stem(w) for w in content_words(source)}
    shared = [w for w in mine if stem(w) in source_stems]
    overlap = len(shared) / len(mine) if mine else 0.0
    details = {"words": n_words, "source_words": n_source, "length_ratio": round(ratio, 3),
               "language": language, "source_language": source_language, "overlap": round(overlap, 3)}
    length = f"length {ratio:.0%} of the source ({n_words}/{n_source} words)"
    words_shared = f"{len(shared)} of {len(mine)} content words occur in the source ({overlap:.0%})"
    failures = []
    if n_words < MIN_SUMMARY_WORDS:
        failures.append(f"{n_words} word(s) (< {MIN_SUMMARY_WORDS})")
    else:
        if ratio >= MAX_SUMMARY_RATIO_FAIL:
            failures.append(f"{length}, >= {MAX_SUMMARY_RATIO_FAIL:.0%}")
        if language != source_language:
            failures.append(f"in {_name(language)}, the source is in {_name(source_language)}")
        if overlap < MIN_OVERLAP_FAIL:
            failures.append(f"{words_shared}, < {MIN_OVERLAP_FAIL:.0%}")
    if failures:
        return Verdict("fail", "; ".join(failures), details)
    problems = []
    if ratio > MAX_SUMMARY_RATIO_STRICT:
        problems.append(f"{length}, > {MAX_SUMMARY_RATIO_STRICT:.0%}")
    if overlap < MIN_OVERLAP_STRICT:
        problems.append(f"{words_shared}, < {MIN_OVERLAP_STRICT:.0%}")
    if loop := loop_note(text, MIN_DISTINCT_TRIGRAMS):
        problems.append(loop)
    if problems:
        return Verdict("loose", "; ".join(problems), details)
    return Verdict("strict", f"{length}; {words_shared}", details)


# --- accuracies ------------------------------------------------------------------------

def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n is 0.

    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy(labels) -> dict:
    """Strict accuracy (SA: share labelled strict) and loose accuracy (LA: share labelled
    strict *or* loose, so LA >= SA), with Wilson 95% intervals. None when there are no labels.

    >>> accuracy(["strict", "loose", "fail", "fail"])
    {'n': 4, 'strict': 0.25, 'loose': 0.5, 'strict_ci': (0.045..., 0.699...), 'loose_ci': (0.150..., 0.849...)}
    """
    labels = [getattr(x, "label", x) for x in labels]
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown label(s) {sorted(unknown)}; labels are {', '.join(LABELS)}")
    n = len(labels)
    strict = labels.count("strict")
    loose = strict + labels.count("loose")
    if n == 0:
        return {"n": 0, "strict": None, "loose": None, "strict_ci": None, "loose_ci": None}
    return {"n": n, "strict": strict / n, "loose": loose / n,
            "strict_ci": wilson_interval(strict, n), "loose_ci": wilson_interval(loose, n)}


def accuracy_by(records, key: str = "condition", label_key: str = "label") -> dict:
    """:func:`accuracy` per value of ``records[i][key]`` (e.g. original / prompted / steered).

    >>> accuracy_by([{"condition": "steered", "label": "loose"}])["steered"]["loose"]
    1.0
    """
    groups: dict = {}
    for record in records:
        groups.setdefault(record[key], []).append(record[label_key])
    return {value: accuracy(labels) for value, labels in groups.items()}


def confusion_matrix(expected, predicted, labels=LABELS) -> str:
    """A plain-text confusion matrix, rows expected, columns predicted.

    >>> print(confusion_matrix(["strict", "fail"], ["strict", "loose"]))
    expected \\ judged  strict  loose   fail
    strict                 1      0      0
    loose                  0      0      0
    fail                   0      1      0
    """
    counts = Counter(zip(expected, predicted))
    lines = ["expected \\ judged " + "".join(f"{label:>7}" for label in labels)]
    lines += [f"{row:<17}" + "".join(f"{counts[(row, col)]:>7}" for col in labels) for row in labels]
    return "\n".join(lines)


# --- records ---------------------------------------------------------------------------

def judge_records(records, judge_fn=judge) -> list[dict]:
    """Each record with ``label`` and ``reason`` added (a new dict; input left alone)."""
    out = []
    for record in records:
        verdict = judge_fn(record["task"], record["source"], record["response"], record.get("keyword"))
        out.append({**record, "label": verdict.label, "reason": verdict.reason})
    return out

