"""The judging rubric, written once: its thresholds are the named constants below, and both
the table of notebook 11 (:data:`RUBRIC`) and the LLM judge's instructions (:func:`rubric`)
are built from them, so the rule judge (``evaluate``) and the LLM judge apply the same numbers.

Meaning is checked against reference answers (``data/contents/references``): a translation
must say what the source says (chrF of its target-language text against the reference
translation), a summary must be faithful (its content words in the source, chrF against the
reference summary, no number or date the source lacks); numbers, weekdays and months must match
the reference's (:mod:`saif_core.details`). Without a reference, a translation or a summary
cannot be strict. The chrF and length thresholds were chosen by ``scripts/calibrate_judge.py``
on the calibration part of the hand-labelled agreement set (``tests/data/judge_agreement.jsonl``),
never on its test part (``saif judge --agreement``; the README has the confusion matrix).

Example:
    >>> rubric("translate_fr").startswith("The task was to translate the source into French")
    True
"""
from __future__ import annotations

from .data import KEYWORD_TASK, TARGET_LANGUAGE, TASK_IDS
from .langid import LANGUAGE_NAMES

# 1: form only (language and length); 2: meaning checked against references (chrF, lengths);
# 3: + numbers, weekdays and months, untranslated source words, copies of the prompt with a few
# words added, loops on word 4-grams; 4: commentary about the translation ("Voici la traduction",
# "This translates to") is not part of it, and the chrF thresholds were re-chosen on a calibration
# part that holds 259 more real outputs (round 4 of the agreement set); 5: Chinese is scored on
# characters (chrF with character unigrams: CHRF_CHAR_ORDER), a Latin-script source word left
# anywhere in a translation keeps it from strict, thresholds re-chosen with round 5 in the
# calibration part; 6 (English by sentence embeddings) was tried and not adopted (branch
# judge-v6); 7: an English translation must carry the reference's content words, as themselves or
# WordNet synonyms (saif_core.synonyms), to be strict, and one carrying under a quarter of them
# (and no source word) is unrelated; English chrF thresholds re-chosen with that rule (frozen
# before round 8, where it agreed less than 5: its strict rule, 95% coverage, rejected paraphrases);
# 8: the same rules, every English threshold re-chosen with round 8 in the calibration part
# (strict from 75% coverage). Records an older judge labelled are re-judged from their stored
# outputs (``experiments.rejudge_stale``): bump this whenever a verdict can change.
JUDGE_VERSION = 8
LABELS = ("strict", "loose", "fail")

ECHO_SIMILARITY = 0.9  # a response this similar to the source (difflib ratio) copies it
MIN_DISTINCT_TRIGRAMS = 0.5  # under this share of distinct word trigrams (or character 6-grams): a loop
LOOP_REPEATS = 4  # one word 4-gram (Chinese: character 6-gram) this often: a loop, however well it began
MIN_TARGET_SHARE = 0.25  # of a sentence's 3-word windows, for a target language to count beside its main one
# translation: chrF (sacrebleu, 0-100) of the target-language text against the reference
# (chosen by scripts/calibrate_judge.py on the agreement set's calibration part)
STRICT_CHRF = {"fr": 45.0, "en": 27.5, "zh": 65.0}  # says what the source says
LOOSE_CHRF = {"fr": 17.5, "en": 17.5, "zh": 22.5}  # carries part of the source's content
# English only (WordNet, saif_core.synonyms): share of the reference's content words a translation
# carries as themselves, another form or a synonym; under the loose one, with no source word kept
# either, the text is unrelated to the source
MIN_REFERENCE_COVERAGE = {"en": 0.75}  # strict
LOOSE_REFERENCE_COVERAGE = {"en": 0.25}
CHRF_CHAR_ORDER = {"fr": 6, "en": 6, "zh": 1}  # chrF's character n-gram order per target language
MIN_UNTRANSLATED_LETTERS = 4  # a source word this long, kept as is but translated in the reference: not strict
MIN_TRANSLATION_LENGTH = 0.8  # strict: target-language text / reference, in characters (no spaces)
MAX_TRANSLATION_LENGTH = 1.8
# keyword
MIN_KEYWORD_WORDS = 5
COPY_SHARE, MAX_COPY_ADDED = 0.8, 3  # the prompt's words kept, words added: a copy of the prompt
MAX_WORD_SHARE = 0.5  # one word above this share of a response's words makes it degenerate
# summary
MIN_SUMMARY_WORDS = 3
MAX_SUMMARY_RATIO_FAIL = 0.9  # of the source's length: a (near) copy
MAX_SUMMARY_RATIO_STRICT = 0.5
MIN_OVERLAP_FAIL = 0.3  # share of the summary's content words found in the source
MIN_OVERLAP_STRICT = 0.5
STRICT_SUMMARY_CHRF = 37.5  # chrF against the reference summary (calibrated like the above)


def _pct(x: float) -> str:
    return f"{x:.0%}"


def _per_language(thresholds: dict) -> str:
    return ", ".join(f"{v:g} into {LANGUAGE_NAMES[k]}" for k, v in thresholds.items())


RUBRIC = [
    {"task": "translate_*", "label": "strict", "rule": f"every segment in the target language, saying what the source says "
     f"(chrF against the reference >= {_per_language(STRICT_CHRF)}; "
     f"{MIN_TRANSLATION_LENGTH:g}-{MAX_TRANSLATION_LENGTH:g}x its length; the reference's numbers, weekdays and months; "
     f"into English also >= {MIN_REFERENCE_COVERAGE['en']:.0%} of the reference's content words as themselves or a "
     "WordNet synonym), "
     "no commentary or other-language text, no loop"},
    {"task": "translate_*", "label": "loose", "rule": f"a segment in the target language carrying part of the source's content "
     f"(chrF >= {_per_language(LOOSE_CHRF)}): partial or inaccurate (a number, weekday or "
     "month other than the reference's), or with commentary"},
    {"task": "translate_*", "label": "fail", "rule": f"empty; a copy (similarity >= {ECHO_SIMILARITY}); a fragment; no segment in "
     "the target language; a repetition loop; or target-language text unrelated to the source (into English also: "
     f"< {LOOSE_REFERENCE_COVERAGE['en']:.0%} of the reference's content words, no source word kept)"},
    {"task": "keyword", "label": "strict", "rule": f"the keyword as a whole word (any case) in a non-degenerate response "
     f"(>= {MIN_KEYWORD_WORDS} words, no word above {_pct(MAX_WORD_SHARE)} of them, no loop, not a copy of the prompt: "
     f">= {_pct(COPY_SHARE)} of its words with <= {MAX_COPY_ADDED} added)"},
    {"task": "keyword", "label": "loose", "rule": "the keyword in another form (inside a word, inflected) in a non-degenerate response"},
    {"task": "keyword", "label": "fail", "rule": "the keyword absent, or a degenerate response"},
    {"task": "summarize", "label": "strict", "rule": f"same language, <= {_pct(MAX_SUMMARY_RATIO_STRICT)} of the source's length, "
     f">= {_pct(MIN_OVERLAP_STRICT)} of its content words in the source, chrF against the reference summary >= "
     f"{STRICT_SUMMARY_CHRF:g}, no number, weekday or month the source does not name, no loop"},
    {"task": "summarize", "label": "loose", "rule": "shorter than the source and on its content, but too long, partial or partly unfaithful"},
    {"task": "summarize", "label": "fail", "rule": f"< {MIN_SUMMARY_WORDS} words; >= {_pct(MAX_SUMMARY_RATIO_FAIL)} of the source's "
     f"length or a copy; another language; < {_pct(MIN_OVERLAP_FAIL)} of its content words in the source; a loop"},
    {"task": "all", "label": "-", "rule": f"loop: under {_pct(MIN_DISTINCT_TRIGRAMS)} of the word trigrams (or character "
     f"6-grams) distinct, or one word 4-gram (character 6-gram) {LOOP_REPEATS} times; lengths in words, one CJK character = one word; "
     "without a reference nothing is strict"},
]


def base_task(task: str) -> str:
    """``keyword`` for ``keyword:<word>``; other task ids unchanged (and checked)."""
    name = task.split(":", 1)[0]
    if name not in TASK_IDS:
        raise ValueError(f"unknown task {task!r}; known tasks: {', '.join(TASK_IDS)} (and keyword:<word>)")
    return name


def rubric(task: str, keyword: str | None = None, reference: str | None = None) -> str:
    """The rubric of ``task`` in prose, from the thresholds above: the LLM judge's
    instructions, and what a person labelling outputs by hand reads. ``keyword:<word>``
    names its keyword (``keyword`` overrides it).

    >>> 'keyword "lantern"' in rubric("keyword:lantern")
    True
    """
    if keyword is None and ":" in task:
        keyword = task.split(":", 1)[1]
    task = base_task(task)
    if task in TARGET_LANGUAGE:
        language = LANGUAGE_NAMES[TARGET_LANGUAGE[task]]
        ref = ("Compare its meaning with the REFERENCE translation (another correct wording is fine)."
               if reference else "No reference translation is given, so meaning cannot be checked: never "
               "answer 'strict'.")
        return (
            f"The task was to translate the source into {language}. {ref} Label 'strict' if the whole response "
            f"is in {language}, says what the source says (nothing important missing, added or wrong: every number, "
            f"day and month right), with no "
            f"commentary, notes or text in another language, and no repetition. Label 'loose' if some of it is in "
            f"{language} and carries part of the source's content: a partial or inaccurate translation, or a "
            f"translation followed by commentary or other-language text. Label 'fail' if it is empty, a copy of the "
            f"source, only a word or two, has nothing in {language}, falls into a repetition loop (the same words "
            f"over and over), or is {language} text unrelated to the source.")
    if task == KEYWORD_TASK:
        return (
            f"The task was to write a normal answer to the prompt that includes the keyword \"{keyword or ''}\". Label "
            f"'strict' if the keyword occurs as a whole word (any case) in a real answer: at least {MIN_KEYWORD_WORDS} "
            f"words, not a repetition loop, not the keyword repeated, not a copy of the prompt (even with a few words "
            f"added). Label 'loose' if it "
            "occurs only in another form (inside another word, plural or other inflection) in a real answer. Label "
            "'fail' if it does not occur, or if the response is degenerate (a loop, the keyword repeated, a copy).")
    ref = ("Compare it with the REFERENCE summary for what matters." if reference else
           "No reference summary is given, so faithfulness cannot be checked: never answer 'strict'.")
    return (
        f"The task was to summarize the source. {ref} Label 'strict' if the response is in the source's language, "
        f"at most {_pct(MAX_SUMMARY_RATIO_STRICT)} of its length, states its main point faithfully (nothing invented, "
        f"no number or date the source does not give), "
        f"and does not repeat itself. Label 'loose' if it is shorter than the source and about its content but too "
        f"long, partial or partly unfaithful. Label 'fail' if it has fewer than {MIN_SUMMARY_WORDS} words, copies the "
        f"source or nearly ({_pct(MAX_SUMMARY_RATIO_FAIL)} of its length or more), is in another language, is "
        "unrelated to the source, or falls into a repetition loop.")
