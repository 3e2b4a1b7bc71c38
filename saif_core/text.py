"""Text statistics the judges are built from: normalisation, similarity, n-gram counts,
stems, content words and keyword inflections. Pure functions of text, no thresholds
(those are the rubric's, in :mod:`saif_core.rubric`).

Example:
    >>> normalise('**Summary:** "Tom lost his keys."', labels=("summary",))
    'Tom lost his keys.'
    >>> trigram_counts("the river, the river, the river")
    (2, 4)
"""
from __future__ import annotations

import difflib
from collections import Counter
import re
import unicodedata

from sacrebleu.metrics import CHRF

from .langid import words

_CHRF = {}  # char_order -> sacrebleu CHRF
_ANSI = re.compile(r"\x1b\[[0-9;?]*[ -/]*[@-~]|\x1b[@-Z\\-_]")  # terminal escape sequences
_QUOTES = {'"': '"', "'": "'", "“": "”", "‘": "’", "«": "»", "「": "」", "『": "』", "`": "`"}
TRANSLATION_LABELS = (
    "translation", "translated text", "traduction", "texte traduit", "french translation",
    "chinese translation", "english translation", "traduction en français", "french", "chinese",
    "english", "in french", "in chinese", "in english", "en français", "français", "answer",
    "output", "response", "réponse", "翻译", "译文", "中文", "中文翻译", "英文", "法语", "法文",
)
"""Bare label lines a model may write before a translation (``Translation:``), for :func:`normalise`."""
SUMMARY_LABELS = ("summary", "short summary", "résumé", "tl;dr", "tldr", "answer", "output",
                  "response", "réponse", "摘要", "总结")
"""The same before a summary (``Summary:``)."""
COMMENTARY = re.compile("|".join((
    r"\bvoici (?:la|une|ma) traduction", r"\bcette traduction\b", r"\bse traduit (?:par|en)\b",
    r"\bhere(?: is|'s) (?:the|a|my) (?:\w+ )?translation", r"\bthe (?:\w+ )?translation (?:is|of)\b",
    r"\btranslates? (?:to|into|as)\b", r"\btranslated (?:as|to|into)\b", r"\bthis (?:translation|sentence|phrase) "
    r"(?:is|means|conveys|keeps|preserves|captures)\b", r"\bin (?:french|chinese|english|spanish|german), (?:the|this)\b",
    r"以下是", r"翻译(?:如下|成|为)", r"这句话的意思", r"译文",
)), re.I)
"""A sentence that talks about the translation instead of being one ("Voici la traduction en
français :", "This translates to", "以下是翻译"), in any language: commentary for the judge."""
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


def normalise(text: str, labels: tuple[str, ...] = ()) -> str:
    """Strips what does not belong to the answer: terminal escapes and control characters,
    code fences, markdown emphasis, surrounding quotes, whitespace, and a leading bare label
    from ``labels``.

    >>> normalise('```\\n**Translation:** "Le chat dort."\\n```', ("translation",))
    'Le chat dort.'
    """
    text = _ANSI.sub("", text or "")
    text = "".join(ch for ch in text if ch in "\n\t" or unicodedata.category(ch) not in ("Cc", "Cs"))
    text = unicodedata.normalize("NFC", text)
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


def loop_note(text: str, min_distinct: float, max_repeats: int | None = None) -> str | None:
    """Why ``text`` is a repetition loop, or None: under ``min_distinct`` of its word trigrams
    (when it has 6 or more) or of its character 6-grams (when 18 or more) are distinct, or
    one word 4-gram (for unspaced Chinese text: one character 6-gram) occurs ``max_repeats``
    times or more (a good start that ends in a loop).

    >>> loop_note("the river, the river, the river, the river", 0.5)
    'repetition loop (only 2 of its 6 word trigrams are distinct)'
    """
    distinct, total = trigram_counts(text)
    if total >= 6 and distinct < min_distinct * total:
        return f"repetition loop (only {distinct} of its {total} word trigrams are distinct)"
    distinct, total = char_ngram_counts(text)
    if total >= 18 and distinct < min_distinct * total:
        return f"repetition loop (only {distinct} of its {total} character 6-grams are distinct)"
    if max_repeats:
        tokens = [w.casefold() for w in words(text)]
        cjk = sum(len(w) == 1 and not w.isascii() for w in tokens) > len(tokens) / 2
        grams = Counter(_char_grams(text) if cjk else zip(tokens, tokens[1:], tokens[2:], tokens[3:]))
        if grams:
            gram, count = grams.most_common(1)[0]
            if count >= max_repeats:
                shown = gram if isinstance(gram, str) else " ".join(gram)
                return f"repetition loop ({shown!r} occurs {count} times)"
    return None


def _char_grams(text: str, n: int = 6) -> list[str]:
    chars = "".join(ch for ch in text if ch.isalnum())
    return [chars[i : i + n] for i in range(len(chars) - n + 1)]


def count_words(text: str) -> int:
    """Words as a person counts them: whitespace-separated tokens with a letter or digit,
    each CJK character counting as one word ("three-century-old" and "d'une" are one).

    >>> count_words("Le vélo d'une ingénieure. 猫睡觉")
    7
    """
    n = 0
    for token in text.split():
        cjk = sum(_is_cjk(ch) for ch in token)
        rest = "".join(ch for ch in token if not _is_cjk(ch))
        n += cjk + (1 if any(ch.isalnum() for ch in rest) else 0)
    return n


def _is_cjk(ch: str) -> bool:
    return "\u3400" <= ch <= "\u9fff" or "\uf900" <= ch <= "\ufaff" or "\u3040" <= ch <= "\u30ff" or "\uac00" <= ch <= "\ud7af"


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


def chrf(hypothesis: str, reference: str, char_order: int = 6) -> float:
    """chrF (sacrebleu's sentence chrF2: character n-grams up to ``char_order``, recall weighted
    twice), 0-100: how much of the reference's wording a text carries. Paraphrases of a correct
    translation score well above unrelated text in the same language (calibration:
    ``saif_core.rubric``, which also sets the order per language: Chinese characters are words,
    so their unigram F-score tracks meaning better than 6-grams, which mostly measure order).

    >>> round(chrf("Le chat dort.", "Le chat dort."))
    100
    >>> round(chrf("我的电脑太慢了。", "我的电脑太慢了。", char_order=1))
    100
    """
    if char_order not in _CHRF:
        _CHRF[char_order] = CHRF(char_order=char_order)
    return _CHRF[char_order].sentence_score(hypothesis, [reference]).score
