"""Strict / loose / fail judges for the five SAIF tasks, and accuracies with intervals.

The paper judged outputs with GPT-4o-mini. These judges apply the rubric of DESIGN.md
by rule, offline and deterministically, and every :class:`Verdict` says why, in terms
a reader can check (which segment was in which language, which length ratio, which
overlap). Rules, after :func:`normalise` (whitespace, surrounding quotes, markdown,
code fences, and a bare label line such as ``Translation:`` for translations and
``Summary:`` for summaries):

- Translation into X: **fail** if empty, (nearly) identical to the source
  (similarity >= 0.9), no segment is in X, or degenerate: a repetition loop with fewer
  distinct words than half the source's words ("CommentCommentComment..."). **strict** if every segment (sentence,
  or script run for Chinese) is in X, the length is at most 3x the source's, and the
  text is no repetition loop. **loose** otherwise.
- Keyword k: **strict** if k occurs as a whole word (any case) in a non-degenerate
  response. **loose** if k occurs in another form (inside a word, plural or other
  inflection) or only in degenerate text. **fail** if absent.
- Summarize: **fail** if under 3 words, at least 90% of the source's length, in
  another language than the source, or under 30% of its content words occur in the
  source. **strict** if at most 50% of the length, at least 50% overlap and no
  repetition loop. **loose** otherwise.

Lengths are counted in words, each CJK character counting as one. Degenerate text
(keyword task): under 5 words, one word above half of them, a repetition loop, or a
copy of the source. A repetition loop: under half of the word trigrams are distinct
(a text said three times over). The loop rule and the copy rule refine DESIGN.md's
rubric so that a model stuck in a loop never scores strict.

Example:
    >>> judge("translate_fr", "The cat is sleeping.", "Translation: Le chat dort.").label
    'strict'
    >>> judge("keyword", "Write about rivers.", "We crossed several rivers today.", keyword="river")
    Verdict(label='loose', reason="'river' occurs only as part of 'rivers'", ...)
    >>> accuracy(["strict", "loose", "fail", "strict"])["loose"]
    0.75
"""
from __future__ import annotations

import difflib
import json
import math
import re
import sys
import unicodedata
from collections import Counter
from dataclasses import dataclass, field

from .langid import LANGUAGE_NAMES, dominant_language, language_of, segments, words

TASKS = ("translate_fr", "translate_zh", "translate_en", "keyword", "summarize")
LABELS = ("strict", "loose", "fail")
TARGET_LANGUAGE = {"translate_fr": "fr", "translate_zh": "zh", "translate_en": "en"}

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

_TRANSLATION_LABELS = (
    "translation", "translated text", "traduction", "texte traduit", "french translation",
    "chinese translation", "english translation", "traduction en français", "french", "chinese",
    "english", "in french", "in chinese", "in english", "en français", "français", "answer",
    "output", "response", "réponse", "翻译", "译文", "中文", "中文翻译", "英文", "法语", "法文",
)
_SUMMARY_LABELS = ("summary", "short summary", "résumé", "tl;dr", "tldr", "answer", "output",
                   "response", "réponse", "摘要", "总结")
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "「": "」", "『": "』", "`": "`"}
STOPWORDS = frozenset("""
a an the and or but if of to in on at by for with from as into onto about over under after before
than then so too very just also not no nor is are was were be been being am do does did doing have
has had having it its this that these those there here he she they we you i me my your his her our
their them him us who whom which what when where why how all any both each few more most other some
such only own same can will would should could may might must shall s t don let up out off again
further once
le la les un une des du de d l et ou mais donc car ni ne pas que qu qui quoi dont où ce cet cette ces
je tu il elle on nous vous ils elles se sa son ses leur leurs mon ma mes ton ta tes notre votre au
aux en y à dans par pour sur avec sans sous est sont était être avoir a ont été fait plus moins très
même si jusqu
el los las una unos unas y o pero del al lo es son fue ser por para con sin su sus mi tu muy más
der die das ein eine und oder aber ist sind war nicht mit von zu auf für im dem den des sich es
的 了 是 在 和 也 就 都 而 及 与 着 或 一 个 这 那 之 其
""".split())


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
    """Judge one response to one task; see the module docstring for the rubric.

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


# --- normalisation ---------------------------------------------------------------------

def normalise(text: str, labels: tuple[str, ...] = ()) -> str:
    """Strips what does not belong to the answer: code fences, markdown emphasis,
    surrounding quotes, whitespace, and a leading bare label from ``labels``.

    >>> normalise('```\\n**Translation:** "Le chat dort."\\n```', _TRANSLATION_LABELS)
    'Le chat dort.'
    """
    text = unicodedata.normalize("NFC", text or "")
    text = re.sub(r"^[ \t]*```[\w+-]*[ \t]*$", "", text, flags=re.M)
    text = re.sub(r"\*\*|__", "", text)
    text = re.sub(r"(?<![\w*])[*_]([^*_\n]+)[*_](?![\w*])", r"\1", text)
    text = re.sub(r"^#{1,6}\s+", "", text, flags=re.M)
    text = re.sub(r"[ \t]+", " ", text)
    label = re.compile(
        r"^(?:%s)\s*[:：]\s*" % "|".join(re.escape(w) for w in sorted(labels, key=len, reverse=True)),
        re.I) if labels else None
    for _ in range(3):  # labels and quotes may nest either way round
        before = text
        text = text.strip()
        if label:
            text = label.sub("", text)
        if len(text) >= 2 and _QUOTES.get(text[0]) == text[-1]:
            text = text[1:-1]
        if text == before:
            break
    return text.strip()


def similarity(a: str, b: str) -> float:
    """How alike two texts are, 0 to 1 (difflib ratio on case-folded, space-collapsed text).

    >>> similarity("Hello!", "hello!")
    1.0
    """
    a, b = (" ".join(t.casefold().split())[:2000] for t in (a, b))
    return difflib.SequenceMatcher(None, a, b, autojunk=False).ratio()


def trigram_counts(text: str) -> tuple[int, int]:
    """(distinct, total) word trigrams: nearly equal for prose, far apart for a loop.

    >>> trigram_counts("The river. The river. The river. The river.")
    (2, 6)
    """
    tokens = [w.casefold() for w in words(text)]
    trigrams = [tuple(tokens[i : i + 3]) for i in range(len(tokens) - 2)]
    return len(set(trigrams)), len(trigrams)


def char_ngram_counts(text: str, n: int = 6) -> tuple[int, int]:
    """(distinct, total) character n-grams with whitespace removed: catches loops that
    have no spaces to split on, such as "CommentCommentComment" or a repeated Chinese phrase.

    >>> char_ngram_counts("CommentCommentCommentComment")
    (7, 23)
    """
    chars = "".join(text.casefold().split())
    grams = [chars[i : i + n] for i in range(len(chars) - n + 1)]
    return len(set(grams)), len(grams)


def _loop_note(text: str) -> str | None:
    distinct, total = trigram_counts(text)
    if total >= 6 and distinct < MIN_DISTINCT_TRIGRAMS * total:
        return f"repetition loop (only {distinct} of its {total} word trigrams are distinct)"
    distinct, total = char_ngram_counts(text)
    if total >= 18 and distinct < MIN_DISTINCT_TRIGRAMS * total:
        return f"repetition loop (only {distinct} of its {total} character 6-grams are distinct)"
    return None


def _name(language: str | None) -> str:
    return LANGUAGE_NAMES.get(language, language or "no language")


# --- translation -----------------------------------------------------------------------

def judge_translation(target: str, source: str, response: str) -> Verdict:
    """Translation into ``target`` (an ISO code: fr, zh, en).

    >>> judge_translation("fr", "Hello!", "Hello!").reason
    'the response is (nearly) identical to the source (similarity 1.00)'
    """
    text = normalise(response, _TRANSLATION_LABELS)
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
    loop = _loop_note(text)
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

def keyword_forms(keyword: str) -> list[str]:
    """The keyword and the inflections that do not contain it (y -> ies, e dropped before
    -ing, f -> ves); any word containing one of these is 'another form'.

    >>> keyword_forms("library")
    ['library', 'libraries', 'libraried']
    """
    k = keyword.casefold().strip()
    forms = [k, k.replace(" ", "")] if " " in k else [k]
    if re.search(r"[^aeiou]y$", k):
        forms += [k[:-1] + "ies", k[:-1] + "ied"]
    elif k.endswith("e") and len(k) > 2:
        forms.append(k[:-1] + "ing")
    elif k.endswith("fe"):
        forms.append(k[:-2] + "ves")
    elif k.endswith("f"):
        forms.append(k[:-1] + "ves")
    return forms


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
    if loop := _loop_note(text):
        problems.append(loop)
    if source and similarity(text, source) >= ECHO_SIMILARITY:
        problems.append("it copies the source")
    return problems


# --- summary ---------------------------------------------------------------------------

def stem(word: str) -> str:
    """A crude stem, enough to match ``sells`` with ``selling`` and ``bake`` with ``baking``.

    >>> stem("selling"), stem("sells"), stem("libraries"), stem("baking"), stem("bake")
    ('sell', 'sell', 'library', 'bak', 'bak')
    """
    w = word.casefold()
    for suffix, replacement in (("ies", "y"), ("ing", ""), ("ed", ""), ("es", ""), ("s", ""), ("ly", "")):
        if w.endswith(suffix) and len(w) - len(suffix) >= 3:
            w = w[: -len(suffix)] + replacement
            break
    return w[:-1] if w.endswith("e") and len(w) > 3 else w


def content_words(text: str) -> list[str]:
    """Distinct lower-cased words that are neither stop words, digits nor single letters.

    >>> content_words("The cat and the dog.")
    ['cat', 'dog']
    """
    found = (w.casefold() for w in words(text))
    return list(dict.fromkeys(w for w in found if w not in STOPWORDS and not w.isdigit()
                              and (len(w) > 1 or not w.isascii())))


def judge_summary(source: str, response: str) -> Verdict:
    """Summarisation.

    >>> judge_summary("Tom lost his keys on the way to work. He searched everywhere, but "
    ...               "his daughter found them in the fridge.", "Tom lost his keys.").label
    'strict'
    """
    text = normalise(response, _SUMMARY_LABELS)
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
    if loop := _loop_note(text):
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


# --- saif judge ------------------------------------------------------------------------

def read_judge_records(lines) -> list[dict]:
    """Parses and checks every line of a ``saif judge`` input before anything is judged;
    a bad line raises ValueError naming its number. Blank lines are skipped.

    >>> read_judge_records(['{"task": "keyword", "source": "s", "response": "r"}'])
    Traceback (most recent call last):
    ...
    ValueError: line 1: task 'keyword' needs a non-empty 'keyword' string
    """
    records = []
    for number, line in enumerate(lines, start=1):
        if not line.strip():
            continue
        try:
            record = json.loads(line)
        except json.JSONDecodeError as error:
            raise ValueError(f"line {number}: not valid JSON ({error.msg} at column {error.colno})") from None
        if not isinstance(record, dict):
            raise ValueError(f"line {number}: expected a JSON object, got {type(record).__name__}")
        for name in ("task", "source", "response"):
            if not isinstance(record.get(name), str):
                problem = "missing" if name not in record else f"not a string ({record[name]!r})"
                raise ValueError(f"line {number}: field {name!r} is {problem}")
        if record["task"] not in TASKS:
            raise ValueError(f"line {number}: unknown task {record['task']!r}; known tasks: {', '.join(TASKS)}")
        keyword = record.get("keyword")
        if record["task"] == "keyword" and not (isinstance(keyword, str) and keyword.strip()):
            raise ValueError(f"line {number}: task 'keyword' needs a non-empty 'keyword' string")
        records.append(record)
    return records


def judge_records(records, judge_fn=judge) -> list[dict]:
    """Each record with ``label`` and ``reason`` added (a new dict; input left alone)."""
    out = []
    for record in records:
        verdict = judge_fn(record["task"], record["source"], record["response"], record.get("keyword"))
        out.append({**record, "label": verdict.label, "reason": verdict.reason})
    return out


def run_judge_command(args) -> int:
    """``saif judge IN.jsonl``: verdicts to stdout as JSONL; exit 2 on a malformed input."""
    try:
        if args.input == "-":
            records = read_judge_records(sys.stdin.read().splitlines())
        else:
            with open(args.input, encoding="utf-8") as handle:
                records = read_judge_records(handle.read().splitlines())
    except (OSError, ValueError) as error:
        print(f"saif judge: error: {args.input}: {error}", file=sys.stderr)
        return 2
    judge_fn = judge
    if getattr(args, "llm", None):
        from .llm_judge import LLMJudge, agreement_report

        llm = LLMJudge(model=args.llm, base_url=args.base_url)
        judge_fn = llm.judge
        print(agreement_report(records, llm)["text"], file=sys.stderr)
    judged = judge_records(records, judge_fn)
    for record in judged:
        print(json.dumps(record, ensure_ascii=False))
    if args.summary:
        for task, result in sorted(accuracy_by(judged, key="task").items()):
            print(f"{task:<14} n={result['n']:<4} SA={result['strict']:.1%} LA={result['loose']:.1%}",
                  file=sys.stderr)
    return 0


def add_judge_command(subparsers) -> None:
    """Registers ``saif judge`` on the ``saif`` command's subparsers."""
    parser = subparsers.add_parser(
        "judge", help="strict / loose / fail verdicts for a JSONL of task, source, response[, keyword]",
        description="Reads {task, source, response, keyword?} per line (a file, or - for stdin) and "
                    "writes the same records with 'label' and 'reason' added to stdout.")
    parser.add_argument("input", help="JSONL file, or - for stdin")
    parser.add_argument("--summary", action="store_true", help="print SA / LA per task to stderr")
    parser.add_argument("--llm", metavar="MODEL", default=None,
                        help="judge with an LLM at an OpenAI-compatible endpoint instead of the rules, "
                             "and print its agreement with the rules to stderr")
    parser.add_argument("--base-url", default=None,
                        help="endpoint for --llm (default: $OPENAI_BASE_URL, else api.openai.com)")
    parser.set_defaults(func=run_judge_command)
