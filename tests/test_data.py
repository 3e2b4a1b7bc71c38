"""Tasks, contents, splits and pairs (saif_core.data): real files, offline, no model."""
import doctest
import json
import re
import shutil
from collections import Counter

import pytest

import saif_core.data as data
from saif_core.paths import DATA_DIR
from saif_core.data import (
    KEYWORD_SLOT, SPLIT_NAMES, TASK_IDS, DataError, all_contents, build_pairs,
    eval_prompts, get_task, join, load_contents, load_task, make_splits, split, task_contents,
)

CJK = re.compile(r"[\u4e00-\u9fff]")
TRANSLATION_SOURCES = {"translate_fr": "fr", "translate_zh": "zh", "translate_en": "en"}


@pytest.fixture(scope="module")
def contents():
    return all_contents()


@pytest.fixture(scope="module")
def splits():
    return data.load_splits()["tasks"]


# ---------------------------------------------------------------- tasks and variants


def test_the_five_tasks_load():
    assert TASK_IDS == ("translate_fr", "translate_zh", "translate_en", "keyword", "summarize")
    assert sorted(p.stem for p in (DATA_DIR / "tasks").glob("*.json")) == sorted(TASK_IDS)
    for task_id in TASK_IDS:
        task = get_task(task_id)
        assert task.id == task_id and task.description and task.output


def test_unknown_task_lists_known_ids():
    with pytest.raises(DataError) as e:
        get_task("translate_de")
    assert "translate_de" in str(e.value)
    assert all(t in str(e.value) for t in TASK_IDS)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_variant_counts(task_id):
    task = get_task(task_id)
    paraphrases = [v for v in task.variants if v.kind == "paraphrase"]
    translations = [v for v in task.variants if v.kind == "translation"]
    assert len(task.variants) >= 16
    assert len(paraphrases) >= 8 and all(v.lang == "en" for v in paraphrases)
    assert len(translations) >= 8
    assert {"fr", "zh", "es", "de"} <= {v.lang for v in translations}
    assert len({v.text for v in task.variants}) == len(task.variants), "duplicate variant"


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_paraphrases_differ_in_syntax_not_only_words(task_id):
    texts = [v.text for v in get_task(task_id).variants if v.kind == "paraphrase"]
    first_words = {t.split()[0].lower() for t in texts}
    assert len(first_words) >= 6, first_words
    assert any(t.endswith("?") for t in texts), "no question form"
    assert any(t.rstrip().endswith(":") or re.search(r":\s*\S+$", t) for t in texts), "no label form"


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_variants_work_before_and_after_the_content(task_id):
    # Words pointing at a position would be wrong in one of the two placements.
    for v in get_task(task_id).variants:
        assert not re.search(r"\b(above|below|following|preceding)\b", v.text, re.I), v.text


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_canonical_variant_is_english(task_id):
    task = get_task(task_id)
    assert sum(v.canonical for v in task.variants) == 1
    assert task.canonical.lang == "en" and task.canonical.kind == "paraphrase"


def test_keyword_variants_all_have_the_slot():
    template = data.task_template("keyword")
    assert template.needs_keyword and all(KEYWORD_SLOT in v.text for v in template.variants)
    for task_id in set(TASK_IDS) - {"keyword"}:
        assert not get_task(task_id).needs_keyword


@pytest.mark.parametrize("task_id, word", [("keyword", data.KEYWORDS[0]), ("keyword:umbrella", "umbrella")])
def test_a_keyword_task_asks_every_item_for_one_fixed_word(task_id, word):
    task = get_task(task_id)
    assert task.id == task_id and task.keyword == word and task.file_id == "keyword" and not task.needs_keyword
    assert len(task.variants) == len(data.task_template("keyword").variants)
    assert all(word in v.text for v in task.variants)
    assert {v.lang for v in task.variants} >= {"en", "fr", "zh", "es", "de"}
    assert split(task_id, "evaluation") == split("keyword", "evaluation")
    for p in build_pairs(task_id, split(task_id, "extraction"), n=40):
        assert word in p.positive and word not in p.negative.lower()


def test_the_study_keywords_occur_in_no_keyword_prompt():
    for item in data.task_contents("keyword"):
        assert not any(w in item.text.lower() for w in data.KEYWORDS), item.id


@pytest.mark.parametrize("bad", ["translate_fr:lantern", "keyword:two words", "keyword:123"])
def test_bad_keyword_task_ids_are_named(bad):
    with pytest.raises(DataError, match="keyword"):
        get_task(bad)


def test_bad_task_file_is_refused(tmp_path):
    raw = json.loads((DATA_DIR / "tasks" / "summarize.json").read_text(encoding="utf-8"))
    for v in raw["variants"]:
        v.pop("canonical", None)
    (tmp_path / "summarize.json").write_text(json.dumps(raw), encoding="utf-8")
    with pytest.raises(DataError, match="canonical"):
        load_task(tmp_path / "summarize.json")


# ---------------------------------------------------------------- contents


def test_content_counts(contents):
    assert len(contents) >= 600
    langs = Counter(c.lang for c in contents.values())
    assert {"en", "fr", "zh", "es", "de"} <= set(langs)
    sentences = load_contents(DATA_DIR / "contents" / "sentences.jsonl")
    per_lang = Counter(c.lang for c in sentences)
    assert len(sentences) >= 350 and min(per_lang[lang] for lang in ("en", "fr", "zh", "es", "de")) >= 60
    assert len(load_contents(DATA_DIR / "contents" / "passages.jsonl")) >= 130
    assert len(load_contents(DATA_DIR / "contents" / "keyword_prompts.jsonl")) >= 130


def test_language_labels_match_the_script(contents):
    for c in contents.values():
        assert bool(CJK.search(c.text)) == (c.lang == "zh"), c.id


def test_sentences_are_8_to_25_words():
    for c in load_contents(DATA_DIR / "contents" / "sentences.jsonl"):
        if c.lang == "zh":
            assert 10 <= len(c.text) <= 50, c.id
        else:
            assert 8 <= len(c.text.split()) <= 25, c.id


def test_passages_have_3_to_6_sentences():
    for c in load_contents(DATA_DIR / "contents" / "passages.jsonl"):
        n = len(re.findall(r"[。！？]|[.!?](?=\s|$)", c.text))
        assert 3 <= n <= 6, (c.id, n)


def test_keywords_are_single_words_absent_from_their_prompt():
    items = load_contents(DATA_DIR / "contents" / "keyword_prompts.jsonl")
    for c in items:
        assert c.keyword and re.fullmatch(r"[a-z]+", c.keyword), c.id
        assert c.keyword not in c.text.lower(), c.id


def test_texts_are_unique(contents):
    texts = Counter(c.text for c in contents.values())
    assert texts.most_common(1)[0][1] == 1


# ---------------------------------------------------------------- contents: errors


@pytest.mark.parametrize("bad_line, problem", [
    ('{"id": "x3", "text": "oops"', "bad JSON"),
    ('{"text": "no id here"}', "missing 'id'"),
    ('{"id": "x3", "text": ""}', "missing 'text'"),
    ('["a", "list"]', "JSON object"),
    ('{"id": "x1", "text": "again"}', "duplicate id 'x1' (first on line 1)"),
])
def test_malformed_line_names_file_line_and_problem(tmp_path, bad_line, problem):
    path = tmp_path / "c.jsonl"
    good = ['{"id": "x1", "text": "One.", "lang": "en"}', '{"id": "x2", "text": "Two."}']
    path.write_text("\n".join(good + [bad_line]) + "\n", encoding="utf-8")
    with pytest.raises(DataError) as e:
        load_contents(path)
    assert str(path) in str(e.value) and "line 3" in str(e.value) and problem in str(e.value)


def test_blank_lines_are_skipped(tmp_path):
    path = tmp_path / "c.jsonl"
    path.write_text('{"id": "a", "text": "A."}\n\n{"id": "b", "text": "B.", "keyword": "bee"}\n')
    assert [c.id for c in load_contents(path)] == ["a", "b"]
    assert load_contents(path)[1].keyword == "bee"


def test_ids_unique_across_files(tmp_path):
    (tmp_path / "contents").mkdir()
    (tmp_path / "contents" / "a.jsonl").write_text('{"id": "same", "text": "A."}\n')
    (tmp_path / "contents" / "b.jsonl").write_text('{"id": "same", "text": "B."}\n')
    with pytest.raises(DataError, match="already used in a.jsonl"):
        all_contents(tmp_path)


# ---------------------------------------------------------------- splits


def test_splits_file_is_what_the_seeded_script_makes():
    """The first draw is the seeded script's on the contents of its time (those ``added`` later
    left out); growing the stored splits on today's contents changes nothing."""
    stored = data.load_splits()
    added = {i for ids in stored.get("added", {}).values() for i in ids}
    first = {t: {name: [i for i in ids if i not in added] for name, ids in parts.items()}
             for t, parts in stored["tasks"].items()}
    def cut(parts):  # the seeded order, as the splits cut it (dev sizes were raised since)
        return parts["evaluation"] + parts["dev"] + parts["extraction"]

    fresh = make_splits(stored["seed"], exclude=added)["tasks"]
    assert all(fresh[t]["evaluation"] == first[t]["evaluation"] and cut(fresh[t]) == cut(first[t]) for t in first)
    other = make_splits(stored["seed"] + 1, exclude=added)["tasks"]
    assert all(cut(other[t]) != cut(first[t]) for t in first)
    assert make_splits(stored["seed"], keep=stored) == stored


def _split_world(tmp_path, n: int, eval_size: int = 4, dev_size: int = 2):
    """A data folder with one content file of ``n`` English sentences and the translate_fr task."""
    (tmp_path / "contents").mkdir(exist_ok=True)
    (tmp_path / "tasks").mkdir(exist_ok=True)
    rows = [{"id": f"sent-en-{i:04d}", "text": f"Sentence number {i} is here.", "lang": "en"} for i in range(1, n + 1)]
    (tmp_path / "contents" / "sentences.jsonl").write_text("".join(json.dumps(r) + "\n" for r in rows))
    for t in TASK_IDS:
        raw = json.loads((data.data_root() / "tasks" / f"{t}.json").read_text(encoding="utf-8"))
        raw["splits"] = {"evaluation": eval_size, "dev": dev_size}
        (tmp_path / "tasks" / f"{t}.json").write_text(json.dumps(raw))


def test_growing_the_splits_moves_no_item_and_deals_new_contents_to_dev_first(tmp_path, monkeypatch):
    monkeypatch.setattr(data, "TASK_IDS", ("translate_fr",))
    _split_world(tmp_path, 10)
    first = make_splits(0, tmp_path)
    parts = first["tasks"]["translate_fr"]
    assert [len(parts[n]) for n in ("evaluation", "dev", "extraction")] == [4, 2, 4] and "added" not in first
    _split_world(tmp_path, 16, dev_size=5)  # six new sentences; dev raised from 2 to 5
    grown = make_splits(0, tmp_path, keep=first)
    g = grown["tasks"]["translate_fr"]
    assert g["evaluation"] == parts["evaluation"]  # no evaluation item moves
    assert g["dev"][:2] == parts["dev"] and len(g["dev"]) == 5  # dev keeps its items, then new ones
    assert g["extraction"][:4] == parts["extraction"] and len(g["extraction"]) == 7  # extraction keeps its order
    assert sorted(grown["added"]["translate_fr"]) == [f"sent-en-{i:04d}" for i in range(11, 17)]
    assert make_splits(0, tmp_path, keep=grown) == grown  # idempotent
    _split_world(tmp_path, 9)  # a content that a split names is gone
    with pytest.raises(DataError, match="no longer among its contents.*--reshuffle"):
        make_splits(0, tmp_path, keep=first)


@pytest.mark.parametrize("task_id", TASK_IDS)
def test_splits_disjoint_sized_and_eligible(task_id, splits, contents):
    parts = splits[task_id]
    assert set(parts) == set(SPLIT_NAMES)
    ids = [i for name in SPLIT_NAMES for i in parts[name]]
    assert len(ids) == len(set(ids)), "an item is in two splits"
    assert len(parts["evaluation"]) >= 100 and len(parts["extraction"]) >= 30
    assert set(ids) == {c.id for c in task_contents(task_id)}
    assert all(i in contents for i in ids)


@pytest.mark.parametrize("task_id, lang", TRANSLATION_SOURCES.items())
def test_translation_sources_never_in_the_target_language(task_id, lang):
    for name in SPLIT_NAMES:
        items = split(task_id, name)
        assert all(c.lang != lang for c in items)
        assert len({c.lang for c in items}) >= 3  # inputs in several languages (Fig. 4)


def test_task_inputs_are_the_right_kind():
    assert all(c.id.startswith("sent-") for t in TRANSLATION_SOURCES for c in split(t, "evaluation"))
    assert all(c.id.startswith("pass-") for c in split("summarize", "evaluation"))
    assert all(c.keyword for name in SPLIT_NAMES for c in split("keyword", name))


def test_split_errors(tmp_path):
    with pytest.raises(DataError, match="unknown split 'test'"):
        split("keyword", "test")
    shutil.copytree(DATA_DIR / "tasks", tmp_path / "tasks")
    shutil.copytree(DATA_DIR / "contents", tmp_path / "contents")
    with pytest.raises(DataError, match="--make-splits"):
        split("keyword", "dev", tmp_path)  # no splits.json yet
    (tmp_path / "splits.json").write_text(json.dumps({"seed": 0, "tasks": {"keyword": {"dev": []}}}))
    with pytest.raises(DataError, match="'dev' of task 'keyword' is empty"):
        split("keyword", "dev", tmp_path)


# ---------------------------------------------------------------- pairs


@pytest.fixture(scope="module")
def fr_items():
    return split("translate_fr", "extraction")[:40]


def test_pairs_deterministic_under_a_seed(fr_items):
    a = build_pairs("translate_fr", fr_items, seed=3)
    assert a == build_pairs("translate_fr", fr_items, seed=3)
    b = build_pairs("translate_fr", fr_items, seed=4)
    assert [p.variant for p in a] != [p.variant for p in b]
    assert [p.content for p in a] == [p.content for p in b] == fr_items


def test_post_and_pre_order(fr_items):
    post = build_pairs("translate_fr", fr_items, placement="post", seed=0)
    pre = build_pairs("translate_fr", fr_items, placement="pre", seed=0)
    for a, b in zip(post, pre):
        assert a.variant == b.variant and a.negative == b.negative == a.content.text
        assert a.positive == a.content.text + "\n\n" + a.instruction
        assert b.positive == b.instruction + "\n\n" + b.content.text
        assert a.positive.startswith(a.content.text) and b.positive.endswith(b.content.text)


def test_every_variant_used_once_per_block(fr_items):
    task = get_task("translate_fr")
    k = len(task.variants)
    pairs = build_pairs(task, fr_items, seed=0, n=2 * k)
    assert Counter(p.variant for p in pairs[:k]) == Counter(task.variants)
    assert Counter(p.variant for p in pairs[k:]) == Counter(task.variants)
    assert {p.variant.lang for p in pairs} >= {"en", "fr", "zh", "es", "de"}


def test_n_cycles_through_the_items(fr_items):
    pairs = build_pairs("translate_fr", fr_items[:3], n=7)
    assert [p.content.id for p in pairs] == [fr_items[i % 3].id for i in range(7)]


def test_keyword_is_filled_in():
    items = split("keyword", "extraction")
    for p in build_pairs(data.task_template("keyword"), items, seed=0, n=60):
        assert KEYWORD_SLOT not in p.positive
        assert p.content.keyword in p.instruction and p.content.keyword in p.positive
        assert p.content.keyword not in p.negative.lower()


def test_pair_errors(fr_items):
    with pytest.raises(DataError, match="placement must be one of"):
        build_pairs("translate_fr", fr_items, placement="middle")
    with pytest.raises(DataError, match="at least one content item"):
        build_pairs("translate_fr", [])
    no_keyword = [data.ContentItem("x", "Write about rain.", "en")]
    with pytest.raises(DataError, match="no keyword"):
        build_pairs(data.task_template("keyword"), no_keyword)


def test_eval_prompts_original_and_prompted():
    item = split("keyword", "evaluation")[0]
    prompts = eval_prompts("keyword", item)
    assert prompts["original"] == item.text
    assert prompts["prompted"] == item.text + "\n\n" + f'Include the word "{data.KEYWORDS[0]}" in your response.'
    pre = eval_prompts("summarize", split("summarize", "evaluation")[0], placement="pre")
    assert pre["prompted"].startswith("Summarize this text briefly.\n\n")
    assert join("A.", "B.") == "A.\n\nB."


def test_format_prompts_uses_the_models_formatter():
    class Model:  # stands in for SaifModel: only format_prompt is used
        def format_prompt(self, prompt):
            return f"<user>{prompt}</user>"

    assert data.format_prompts(Model(), ["a", "b"]) == ["<user>a</user>", "<user>b</user>"]


# ---------------------------------------------------------------- module


def test_docstring_examples_hold():
    result = doctest.testmod(data)
    assert result.attempted >= 5 and result.failed == 0


def test_summary_command(capsys):
    data.main(["--summary"])
    out = capsys.readouterr().out
    assert "translate_fr: 20 variants" in out and "splits summarize: extraction" in out


@pytest.mark.parametrize("task_id", ["translate_fr", "translate_zh", "translate_en", "summarize"])
def test_every_item_of_every_split_has_its_reference(task_id):
    task = get_task(task_id)
    key = task.target_lang or "summary"
    for name in SPLIT_NAMES:
        for item in split(task_id, name):
            ref = item.reference(key)
            assert isinstance(ref, str) and ref.strip(), (task_id, name, item.id)
            assert ref != item.text


def test_references_never_translate_into_the_sources_own_language():
    for item in data.task_contents("translate_fr"):
        assert item.lang not in item.references


def test_summaries_are_at_most_half_the_passage():
    from saif_core.langid import words

    for item in data.task_contents("summarize"):
        assert len(words(item.references["summary"])) <= 0.5 * len(words(item.text)), item.id


def test_a_contents_line_may_carry_its_references(tmp_path):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "a", "text": "Good night.", "lang": "en", "references": {"fr": "Bonne nuit."}}\n'
                    '{"id": "b", "text": "Hello."}\n', encoding="utf-8")
    a, b = load_contents(path)
    assert a.reference("fr") == "Bonne nuit." and a.reference("zh") is None and b.references == {}


@pytest.mark.parametrize("refs, match", [('"Bonne nuit."', "must be an object"), ('{"de": "Gute Nacht."}', "'de' is not one of"),
                                         ('{"fr": ""}', "non-empty string")])
def test_bad_references_are_named(tmp_path, refs, match):
    path = tmp_path / "mine.jsonl"
    path.write_text('{"id": "a", "text": "Good night.", "references": %s}\n' % refs, encoding="utf-8")
    with pytest.raises(DataError, match=f"mine.jsonl, line 1: .*{match}"):
        load_contents(path)
