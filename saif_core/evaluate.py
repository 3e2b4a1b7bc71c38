"""Strict / loose / fail judges for the SAIF tasks: meaning, not just form.

The paper judged outputs with GPT-4o-mini. These judges apply the rubric of
:mod:`saif_core.rubric` (its thresholds are named constants there) by rule, offline and
deterministically, and every :class:`Verdict` says why in terms a reader can check: which
segment was in which language, how close the target-language text is to the reference
(chrF), which length ratio, which overlap. Responses are cleaned by
:func:`saif_core.text.normalise` first; lengths count words, a CJK character as one.
Accuracies and intervals are in :mod:`saif_core.stats` (re-exported here).

Example:
    >>> judge("translate_fr", "The cat is sleeping.", "Le chat dort.", reference="Le chat dort.").label
    'strict'
    >>> judge("translate_fr", "The cat is sleeping.", "Le chat dort.").reason
    'meaning not checked (no reference translation): all 1 segment(s) in French, so at best loose'
"""
from __future__ import annotations

import re
from collections import Counter
from dataclasses import dataclass, field

from . import rubric as R
from .data import TARGET_LANGUAGE, TASK_IDS
from .details import differences, invented
from .langid import LANGUAGE_NAMES, Segment, dominant_language, language_of, segments, window_share, words
from .rubric import JUDGE_VERSION, LABELS, RUBRIC, base_task, rubric  # noqa: F401  (re-exported)
from .stats import accuracy, accuracy_by, confusion_matrix, wilson_interval  # noqa: F401  (re-exported)
from .synonyms import coverage
from .text import (
    COMMENTARY, STOPWORDS, SUMMARY_LABELS, TRANSLATION_LABELS, chrf, content_words, count_words, keyword_forms, loop_note, normalise, similarity,
    stem,
)

TASKS = TASK_IDS


@dataclass(frozen=True)
class Verdict:
    """A judge's label (``strict``, ``loose`` or ``fail``), the reason in words, and the
    measured quantities behind it (JSON-serialisable)."""

    label: str
    reason: str
    details: dict = field(default_factory=dict, compare=False, repr=False)

    def __repr__(self) -> str:
        return f"Verdict(label={self.label!r}, reason={self.reason!r}, ...)"


def judge(task: str, source: str, response: str, keyword: str | None = None, reference: str | None = None) -> Verdict:
    """Judge one response by the rubric. ``reference``: the reference translation into the
    task's language, or the reference summary (without one, nothing is strict).

    >>> judge("translate_zh", "The cat sleeps.", "猫在 sofa 上睡觉。", reference="猫在睡觉。").label
    'loose'
    """
    task = base_task(task)
    if task in TARGET_LANGUAGE:
        return judge_translation(TARGET_LANGUAGE[task], source, response, reference)
    if task == "keyword":
        if not isinstance(keyword, str) or not keyword.strip():
            raise ValueError("the keyword task needs the keyword (keyword='...')")
        return judge_keyword(keyword, source, response)
    return judge_summary(source, response, reference)


def _name(language: str | None) -> str:
    return LANGUAGE_NAMES.get(language, language or "no language")


def _chars(text: str) -> int:
    return len(re.sub(r"\s", "", text))


# --- translation -----------------------------------------------------------------------

def judge_translation(target: str, source: str, response: str, reference: str | None = None) -> Verdict:
    """Translation into ``target`` (fr, zh, en), its meaning checked against ``reference``.

    >>> judge_translation("fr", "Hello!", "Hello!").reason
    'the response is (nearly) identical to the source (similarity 1.00)'
    """
    text = normalise(response, TRANSLATION_LABELS)
    if not words(text):
        return Verdict("fail", "empty response (no letters or digits)", {"response": text})
    echo = similarity(text, source)
    if echo >= R.ECHO_SIMILARITY:
        return Verdict("fail", f"the response is (nearly) identical to the source (similarity {echo:.2f})",
                       {"similarity": echo})
    source_language = language_of(source)
    in_play = tuple(dict.fromkeys(lang for lang in (target, source_language, "en") if lang))
    found = segments(text, source, in_play)
    details = {"segments": [[s.text, list(s.languages)] for s in found], "similarity": round(echo, 3),
               "source_language": source_language}
    found = [_without_stray(s, target) for s in found]
    talk = [s for s in found if COMMENTARY.search(s.text)]  # about the translation, not part of it
    found = [s for s in found if s not in talk]
    in_target = [s for s in found if target in s.languages]
    if not in_target:
        shown = "; ".join(s.describe() for s in (found or talk)[:4])
        only = " besides commentary" if talk else ""
        return Verdict("fail", f"no segment in {_name(target)}{only}: {shown}", details)
    if loop := loop_note(text, R.MIN_DISTINCT_TRIGRAMS, R.LOOP_REPEATS):
        return Verdict("fail", f"degenerate: {loop}", details)
    foreign = [s for s in found if any(lang != target for lang in s.languages)]
    problems = []
    if foreign:
        shown = "; ".join(s.describe() for s in foreign[:3])
        more = f" and {len(foreign) - 3} more" if len(foreign) > 3 else ""
        problems.append(f"{len(foreign)} of {len(found)} segments not (only) in {_name(target)}: {shown}{more}")
    if talk:
        problems.append(f"commentary ({talk[0].text[:60]!r})")
    form = f"all {len(in_target)} segment(s) in {_name(target)}" if not problems else problems[0]
    if not reference:
        return Verdict("loose", f"meaning not checked (no reference translation): {form}, so at best loose", details)
    target_text = " ".join(s.text for s in in_target)
    order = R.CHRF_CHAR_ORDER[target]
    score, length = chrf(target_text, reference, order), _chars(target_text) / max(1, _chars(reference))
    details.update(chrf=round(score, 1), length=round(length, 3))
    meaning = f"chrF{'' if order == 6 else f' (character {order}-grams)'} {score:.0f} against the reference"
    if score < R.LOOSE_CHRF[target]:
        return Verdict("fail", f"{_name(target)} text unrelated to the source ({meaning}, < {R.LOOSE_CHRF[target]:g})", details)
    if score < R.STRICT_CHRF[target]:
        problems.append(f"only part of the source's meaning ({meaning}, < {R.STRICT_CHRF[target]:g})")
    if kept := untranslated(text, source, reference):  # anywhere: a Latin word left in Chinese is no segment of its own
        details["untranslated"] = kept
        problems.append(f"source words left untranslated ({', '.join(repr(w) for w in kept[:4])})")
    if target in R.MIN_REFERENCE_COVERAGE:
        share, missing = coverage(target_text, reference)
        details.update(coverage=share, missing=missing)
        if share < R.LOOSE_REFERENCE_COVERAGE[target] and not kept:
            return Verdict("fail", f"{_name(target)} text unrelated to the source: it carries {share:.0%} of the "
                           f"reference's content words (< {R.LOOSE_REFERENCE_COVERAGE[target]:.0%}), not "
                           f"{', '.join(repr(w) for w in missing[:4])} nor a synonym, and no source word", details)
        if share < R.MIN_REFERENCE_COVERAGE[target]:
            problems.append(f"the reference's {', '.join(repr(w) for w in missing[:4])} not carried, nor a synonym "
                            f"({share:.0%} of its content words, < {R.MIN_REFERENCE_COVERAGE[target]:.0%})")
    if wrong := differences(target_text, reference, target):
        details["wrong_detail"] = wrong
        problems.append(f"a detail differs ({wrong})")
    if not R.MIN_TRANSLATION_LENGTH <= length <= R.MAX_TRANSLATION_LENGTH:
        problems.append(f"{length:.2f}x the reference's length (outside {R.MIN_TRANSLATION_LENGTH:g}-{R.MAX_TRANSLATION_LENGTH:g})")
    if problems:
        return Verdict("loose", f"{len(in_target)} segment(s) in {_name(target)}, but " + "; ".join(problems), details)
    return Verdict("strict", f"all {len(in_target)} segment(s) in {_name(target)}; {meaning}; "
                   f"{length:.1f}x its length", details)


def untranslated(text: str, source: str, reference: str) -> list[str]:
    """Words of the source carried into a translation unchanged that the reference translates:
    letter words of ``MIN_UNTRANSLATED_LETTERS`` or more (any case; function words such as
    German "will", which English has too, aside), and CJK characters in a translation out of
    Chinese. Names and words the languages share are in the reference too.

    >>> untranslated("The new park has a natural lake with patos and barcas.",
    ...              "El nuevo parque tiene un lago artificial con patos y barcas.",
    ...              "The new park has an artificial lake with ducks and rowboats.")
    ['patos', 'barcas']
    """
    seen = {w.casefold() for w in words(reference)}
    source_words = {w.casefold() for w in words(source)}
    out = []
    for w in words(text):
        key = w.casefold()
        cjk = len(w) == 1 and "\u4e00" <= w <= "\u9fff"
        letters = w.isalpha() and not cjk and len(w) >= R.MIN_UNTRANSLATED_LETTERS and key not in STOPWORDS
        if (cjk or letters) and key in source_words and key not in seen:
            out.append(w)
    return list(dict.fromkeys(out))


def _without_stray(segment: Segment, target: str) -> Segment:
    """A sentence in another main language keeps ``target`` among its languages only when enough
    of its windows are in it: Spanish or Italian often has one French-looking window."""
    languages = segment.languages
    if target in languages[1:] and window_share(segment.text, target, languages[0]) < R.MIN_TARGET_SHARE:
        return Segment(segment.text, tuple(lang for lang in languages if lang != target))
    return segment


# --- keyword ---------------------------------------------------------------------------

def judge_keyword(keyword: str, source: str, response: str) -> Verdict:
    """Keyword inclusion in a real (non-degenerate) answer.

    >>> judge_keyword("garden", "Write a note.", "The gardener showed me his roses today.").label
    'loose'
    """
    text = normalise(response)
    tokens = [w.casefold() for w in words(text)]
    phrase = r"\s+".join(re.escape(part) for part in keyword.split())
    whole = re.search(rf"(?<!\w)(?<!\w-){phrase}(?!\w)(?!-\w)", text, re.I)  # "lantern-lit" is another form
    details = {"words": len(tokens)}
    forms = keyword_forms(keyword)
    containing = [w for w in re.findall(r"\w+(?:[-']\w+)*", text) if any(f in w.casefold() for f in forms)]
    if not whole and not containing:
        return Verdict("fail", f"{keyword!r} does not occur, in any form", details)
    problems = _degenerate(text, tokens, source)
    if problems:
        return Verdict("fail", f"{keyword!r} occurs, but the response is degenerate: " + "; ".join(problems), details)
    if not whole:
        shown = ", ".join(repr(w) for w in dict.fromkeys(containing))
        return Verdict("loose", f"{keyword!r} occurs only as part of {shown}", details)
    return Verdict("strict", f"{keyword!r} occurs as a whole word ({whole.group(0)!r}) in a {len(tokens)}-word response",
                   details)


def _degenerate(text: str, tokens: list[str], source: str) -> list[str]:
    problems = []
    if len(tokens) < R.MIN_KEYWORD_WORDS:
        problems.append(f"{len(tokens)} words (< {R.MIN_KEYWORD_WORDS})")
    if tokens:
        top, count = Counter(tokens).most_common(1)[0]
        if count > len(tokens) * R.MAX_WORD_SHARE:
            problems.append(f"{top!r} is {count} of its {len(tokens)} words")
    if loop := loop_note(text, R.MIN_DISTINCT_TRIGRAMS, R.LOOP_REPEATS):
        problems.append(loop)
    if source and similarity(text, source) >= R.ECHO_SIMILARITY:
        problems.append("it copies the prompt")
    elif source and (added := _added_to_copy(tokens, source)) is not None:
        problems.append(f"it copies the prompt, adding {added} word(s)")
    return problems


def _added_to_copy(tokens: list[str], source: str) -> int | None:
    """How many words a response adds to a copy of the prompt: None unless it holds at least
    ``COPY_SHARE`` of the prompt's words and adds at most ``MAX_COPY_ADDED``."""
    prompt = Counter(w.casefold() for w in words(source))
    if not prompt:
        return None
    added = sum((Counter(tokens) - prompt).values())
    kept = sum((Counter(tokens) & prompt).values()) / sum(prompt.values())
    return added if kept >= R.COPY_SHARE and added <= R.MAX_COPY_ADDED else None


# --- summary ---------------------------------------------------------------------------

def judge_summary(source: str, response: str, reference: str | None = None) -> Verdict:
    """Summarisation, its faithfulness checked against the source and ``reference``.

    >>> judge_summary("Tom lost his keys on the way to work. He searched everywhere, but "
    ...               "his daughter found them in the fridge.", "Tom lost his keys.").label
    'loose'
    """
    text = normalise(response, SUMMARY_LABELS)
    n_words, n_source = count_words(text), max(1, count_words(source))
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
    if n_words < R.MIN_SUMMARY_WORDS:
        failures.append(f"{n_words} word(s) (< {R.MIN_SUMMARY_WORDS})")
    else:
        if ratio >= R.MAX_SUMMARY_RATIO_FAIL or similarity(text, source) >= R.ECHO_SIMILARITY:
            failures.append(f"{length}: a copy or near-copy")
        if language != source_language:
            failures.append(f"in {_name(language)}, the source is in {_name(source_language)}")
        if overlap < R.MIN_OVERLAP_FAIL:
            failures.append(f"{words_shared}, < {R.MIN_OVERLAP_FAIL:.0%}: unrelated")
        if loop := loop_note(text, R.MIN_DISTINCT_TRIGRAMS, R.LOOP_REPEATS):
            failures.append(loop)
    if failures:
        return Verdict("fail", "; ".join(failures), details)
    problems = []
    if ratio > R.MAX_SUMMARY_RATIO_STRICT:
        problems.append(f"{length}, > {R.MAX_SUMMARY_RATIO_STRICT:.0%}")
    if overlap < R.MIN_OVERLAP_STRICT:
        problems.append(f"{words_shared}, < {R.MIN_OVERLAP_STRICT:.0%}")
    if new := invented(text, source, source_language):
        problems.append(f"names {new} that the source does not")
    if not reference:
        problems.append("faithfulness not checked (no reference summary), so at best loose")
    else:
        score = chrf(text, reference)
        details["chrf"] = round(score, 1)
        if score < R.STRICT_SUMMARY_CHRF:
            problems.append(f"chrF {score:.0f} against the reference summary, < {R.STRICT_SUMMARY_CHRF:g}")
    if problems:
        return Verdict("loose", "; ".join(problems), details)
    return Verdict("strict", f"{length}; {words_shared}; chrF {details['chrf']:.0f} against the reference summary", details)


# --- records ---------------------------------------------------------------------------

def judge_records(records, judge_fn=judge) -> list[dict]:
    """Each record with ``label`` and ``reason`` added (a new dict; input left alone)."""
    out = []
    for record in records:
        verdict = judge_fn(record["task"], record["source"], record["response"], record.get("keyword"),
                           record.get("reference"))
        out.append({**record, "label": verdict.label, "reason": verdict.reason})
    return out


def agreement(cases, judge_fn=judge) -> dict:
    """How far ``judge_fn`` agrees with hand labels (each case's ``label``), per ``split``
    (e.g. calibration / test), task and label, with a confusion matrix and a 95% Wilson interval
    per split; a split labelled in several rounds (each case's optional ``round``) also gets
    each round's agreement, since a round labelled after the judge was frozen is the fair test."""
    judged = judge_records([{k: v for k, v in c.items() if k != "label"} for c in cases], judge_fn)
    report, lines = {}, []
    for split in sorted({c.get("split", "all") for c in cases}):
        pairs = [(c, j) for c, j in zip(cases, judged) if c.get("split", "all") == split]
        expected, got = [c["label"] for c, _ in pairs], [j["label"] for _, j in pairs]

        def share(rows):
            return round(sum(c["label"] == j["label"] for c, j in rows) / len(rows), 3) if rows else None

        by_task = {t: share([p for p in pairs if base_task(p[0]["task"]) == t]) for t in sorted({base_task(c["task"]) for c, _ in pairs})}
        by_label = {lab: share([p for p in pairs if p[0]["label"] == lab]) for lab in LABELS}
        hits = sum(c["label"] == j["label"] for c, j in pairs)
        rounds = sorted({c.get("round") or 0 for c, _ in pairs})  # 0: cases labelled before rounds were numbered
        by_round = {r: share([p for p in pairs if (p[0].get("round") or 0) == r]) for r in rounds}
        report[split] = {"n": len(pairs), "agreement": share(pairs), "interval": wilson_interval(hits, len(pairs)),
                         "by_task": by_task, "by_label": by_label, "by_round": by_round,
                         "confusion": confusion_matrix(expected, got),
                         "disagreements": [{**j, "expected": c["label"]} for c, j in pairs if c["label"] != j["label"]]}
        low, high = report[split]["interval"]
        lines += [f"{split}: {report[split]['agreement']:.1%} of {len(pairs)} cases agree (95% CI {low:.1%}-{high:.1%})",
                  *(["  by round: " + ", ".join(
                      f"{r or 'earlier'} {v:.1%} of {sum((c.get('round') or 0) == r for c, _ in pairs)}"
                      for r, v in by_round.items())]
                    if len(rounds) > 1 else []),
                  "  by task:  " + ", ".join(f"{t} {v:.0%}" for t, v in by_task.items()),
                  "  by label: " + ", ".join(f"{lab} {v:.0%}" for lab, v in by_label.items() if v is not None),
                  report[split]["confusion"], ""]
    report["text"] = "\n".join(lines)
    return report
