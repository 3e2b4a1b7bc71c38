"""The rule judges: agreement with the hand-labelled set, the rubric's edges, accuracies
with intervals, and ``saif judge``. Offline, about two seconds."""
import argparse
import doctest
import io
import json
import subprocess
import sys
from pathlib import Path

import pytest

from saif_core import data, details, evaluate, langid, rubric, text
from saif_core.cli import add_judge_command, read_judge_records
from saif_core.evaluate import Verdict, accuracy, accuracy_by, confusion_matrix, judge, wilson_interval
from saif_core.text import normalise

DATA = Path(__file__).parent / "data"
AGREEMENT = [json.loads(line) for line in (DATA / "judge_agreement.jsonl").open(encoding="utf-8")]
# Floors against regressions at what judge v8 measured on the test part: 87.6% of 500 overall
# (rounds 9 and 10, labelled after v8 was frozen: 86.8% of 68 and 87.1% of 62; rounds 6 and 7: 88.7%
# and 90.3%), lowest task 84.7% (translate_en). Issue #14's goal, 90% / 85%, is not reached: a one-word error the
# reference's words and their WordNet synonyms cannot tell from a paraphrase ('an incident' for the
# thunderstorm; 'enthusiastic' for warm), and the line between garbled partial translations and
# unrelated text.
MIN_TEST_AGREEMENT, MIN_TASK_AGREEMENT, MIN_ROUND_AGREEMENT = 0.87, 0.83, 0.86


def test_agreement_set_is_large_split_and_covers_every_task_and_label():
    assert len(AGREEMENT) >= 250
    cells = {(evaluate.base_task(case["task"]), case["label"]) for case in AGREEMENT}
    assert cells == {(task, label) for task in evaluate.TASKS for label in evaluate.LABELS}
    assert all(case.get("rationale") and case["split"] in ("calibration", "test") for case in AGREEMENT)
    origins = {case["origin"].split("/")[0] for case in AGREEMENT}
    assert {"synthetic", "smollm2-135m-instruct", "gemma-3-270m", "qwen2.5-coder-0.5b-instruct"} <= origins
    conditions = {case["origin"].split("/")[1] for case in AGREEMENT if not case["origin"].startswith("synthetic")}
    assert conditions == {"original", "prompted", "steered"}
    assert sum(case["split"] == "test" for case in AGREEMENT) >= 120
    test_origins = {case["origin"] for case in AGREEMENT if case["split"] == "test"}
    assert any(o.startswith("synthetic/") for o in test_origins) and any(not o.startswith("synthetic/") for o in test_origins)


def test_judge_agrees_with_hand_labels_on_the_test_part():
    report = evaluate.agreement(AGREEMENT)
    print(report["text"])
    test = report["test"]
    assert test["n"] >= 120
    assert test["agreement"] >= MIN_TEST_AGREEMENT, report["text"]
    assert min(test["by_task"].values()) >= MIN_TASK_AGREEMENT, report["text"]
    assert min(test["by_round"][r] for r in (6, 7, 9, 10)) >= MIN_ROUND_AGREEMENT and test["interval"][0] < test["agreement"] < test["interval"][1]


def test_later_rounds_were_drawn_from_the_record_and_never_overlap_earlier_cases():
    """Rounds 4 to 10 are real outputs (the record's, scripts/agreement_outputs_record.py; rounds 8
    to 10 also 40 fresh Qwen translations of extraction sentences each), each leaving out what the
    set held before it: no task, content item, model and condition twice. Round 8 tested judge v7
    and then became calibration for v8; rounds 6, 7, 9 and 10 are test."""
    later = [c for c in AGREEMENT if c.get("round")]
    assert {c["round"] for c in later} == {4, 5, 6, 7, 8, 9, 10} and len(later) == 901
    assert {c["split"] for c in later if c["round"] in (6, 7, 9, 10)} == {"test"}
    assert {c["split"] for c in later if c["round"] in (4, 5, 8)} == {"calibration"}
    # the record's Qwen translate_en outputs were all labelled by round 7: rounds 8 to 10 hold 40
    # fresh ones each, of sentences no round used before
    fresh = {r: [c["content_id"] for c in later if c["round"] == r and c["origin"] == "qwen2.5-coder-0.5b-instruct/prompted"]
             for r in (8, 9, 10)}
    assert all(len(ids) == 40 for ids in fresh.values()) and len(set().union(*fresh.values())) == 120
    keys = [(c["task"], c["content_id"], c["origin"]) for c in AGREEMENT if not c["origin"].startswith("synthetic")]
    assert not {k for k in keys if keys.count(k) > 1} & {(c["task"], c["content_id"], c["origin"]) for c in later}


@pytest.mark.parametrize("case", AGREEMENT, ids=lambda c: f"{c['task']}-{c['label']}-{c['response'][:20]}")
def test_every_verdict_has_a_reason_and_serialisable_details(case):
    verdict = judge(case["task"], case["source"], case["response"], case.get("keyword"), case.get("reference"))
    assert verdict.label in evaluate.LABELS
    assert len(verdict.reason) > 10
    json.dumps(verdict.details)


def test_docstring_examples_run():
    for module in (evaluate, langid, text, details, rubric):
        result = doctest.testmod(module, optionflags=doctest.ELLIPSIS)
        assert result.attempted >= 2 and result.failed == 0, module.__name__


def test_language_id_on_short_and_mixed_text():
    """The judge's segmentation on tests/data/langid_cases.jsonl (figures in LANGID.md)."""
    cases = [json.loads(line) for line in (DATA / "langid_cases.jsonl").open(encoding="utf-8")]
    single = [c for c in cases if c["lang"] != "mixed"]
    right = []
    for case in single:
        other = "fr" if case["lang"] == "en" else "en"
        found = {lang for s in langid.segments(case["text"], in_play=(case["lang"], other)) for lang in s.languages}
        right.append(found == {case["lang"]})
    mixed = [c for c in cases if c["lang"] == "mixed"]
    caught = [{lang for s in langid.segments(c["text"], in_play=tuple(c["parts"])) for lang in s.languages}
              == set(c["parts"]) for c in mixed]
    cjk_caught = [ok for c, ok in zip(mixed, caught) if "zh" in c["parts"]]
    print(f"\nlanguage id: {sum(right)}/{len(single)} single-language texts, "
          f"{sum(caught)}/{len(mixed)} mixed sentences ({sum(cjk_caught)}/{len(cjk_caught)} with Chinese)")
    assert sum(right) / len(single) >= 0.95
    assert all(cjk_caught) and sum(caught) >= 4


# --- the rubric's edges, one rule at a time --------------------------------------------

def test_translation_reasons_name_segments_languages_and_meaning():
    ref = "Le chat dort."
    verdict = judge("translate_fr", "The cat sleeps.", "Le chat dort.\n\nNote: 'dort' means sleeps.", reference=ref)
    assert verdict.label == "loose"
    assert "(en)" in verdict.reason and "Note:" in verdict.reason
    strict = judge("translate_fr", "The cat sleeps.", "Le chat dort.", reference=ref)
    assert strict.label == "strict" and "chrF 100 against the reference" in strict.reason
    assert strict.details["segments"] == [["Le chat dort.", ["fr"]]]


def test_meaning_decides_between_a_translation_a_partial_one_and_unrelated_text():
    source = "The baker on our street opens at five so the bread is still warm when commuters pass by."
    ref = ("Le boulanger de notre rue ouvre à cinq heures, si bien que le pain est encore chaud quand les gens "
           "passent en allant au travail.")
    paraphrase = "Notre boulanger ouvre dès cinq heures, alors le pain est encore chaud quand passent les gens qui vont au travail."
    assert judge("translate_fr", source, paraphrase, reference=ref).label == "strict"
    assert judge("translate_fr", source, "Le boulanger de notre rue ouvre à cinq heures.", reference=ref).label == "loose"
    unrelated = judge("translate_fr", source, "Il fait très beau aujourd'hui et nous allons au parc.", reference=ref)
    assert unrelated.label == "fail" and "unrelated to the source" in unrelated.reason


@pytest.mark.parametrize("preamble", ["Voici la traduction en français :", "Here is the French translation:",
                                      "This sentence translates to French as follows:"])
def test_commentary_about_the_translation_is_not_part_of_it(preamble):
    source = "Meine Mutter backt zu jedem Geburtstag in der Familie einen Käsekuchen."
    ref = "Ma mère fait un gâteau au fromage blanc pour chaque anniversaire de la famille."
    assert judge("translate_fr", source, ref, reference=ref).label == "strict"
    talked = judge("translate_fr", source, f'{preamble}\n\n"{ref}"', reference=ref)
    assert talked.label == "loose" and "commentary" in talked.reason
    after = judge("translate_fr", source, f"{ref}\n\nCette traduction conserve le sens original du texte.", reference=ref)
    assert after.label == "loose" and "commentary" in after.reason
    copied = judge("translate_fr", source, f"{preamble} {source}", reference=ref)
    assert copied.label == "fail"


def test_without_a_reference_a_translation_is_at_best_loose_and_says_why():
    verdict = judge("translate_fr", "The cat sleeps.", "Le chat dort.")
    assert verdict.label == "loose" and "meaning not checked" in verdict.reason


@pytest.mark.parametrize("response", ["x", "ok", "\x1b[31mLe\x1b[0m", "chat", "猫"])
def test_a_response_far_shorter_than_its_source_is_never_strict(response):
    source = "The black cat sleeps all day on the warm windowsill of the kitchen."
    for task, ref in (("translate_fr", "Le chat noir dort toute la journée sur le rebord chaud de la fenêtre de la cuisine."),
                      ("translate_zh", "黑猫整天睡在厨房温暖的窗台上。"), ("translate_en", source)):
        assert judge(task, "Le chat noir dort toute la journée.", response, reference=ref).label != "strict"
    assert normalise("\x1b[31mLe chat\x1b[0m\x07") == "Le chat"


def test_a_spanish_or_italian_answer_is_not_french():
    ref = "Ce sentier de montagne est fermé en hiver à cause du risque d'avalanches."
    for answer in ("Este sendero de montaña está cerrado en invierno por el riesgo de avalanchas.",
                   "Questo sentiero di montagna è chiuso in inverno per il rischio di valanghe."):
        verdict = judge("translate_fr", "This mountain trail is closed in winter because of the avalanche risk.", answer,
                        reference=ref)
        assert verdict.label == "fail" and "no segment in French" in verdict.reason


def test_label_line_is_stripped_only_where_the_rubric_allows():
    assert normalise("Translation: Le chat.", text.TRANSLATION_LABELS) == "Le chat."
    assert normalise("Translation: Le chat.") == "Translation: Le chat."  # keyword task: kept
    assert normalise("Here is the translation: Le chat.", text.TRANSLATION_LABELS).startswith("Here")
    assert normalise("«  Le chat.  »") == "Le chat."


def test_keyword_forms_and_degenerate_text():
    assert judge("keyword", "s", "The puppy chased a butterfly across the yard.", keyword="Puppy").label == "strict"
    assert judge("keyword", "s", "Two babies slept in the room next door.", keyword="baby").label == "loose"
    assert judge("keyword:lantern", "s", "We sat on the lantern-lit porch until late.", keyword="lantern").label == "loose"
    assert judge("keyword", "s", "", keyword="baby").label == "fail"
    copy = judge("keyword", "Write about the garden in spring.", "Write about the garden in spring.", keyword="garden")
    assert copy.label == "fail" and "copies the prompt" in copy.reason
    repeated = judge("keyword", "s", "lantern lantern lantern lantern lantern lantern", keyword="lantern")
    assert repeated.label == "fail" and "degenerate" in repeated.reason


def test_summary_rules_each_fail_for_its_own_reason():
    source = " ".join(["The old mill by the river was restored by volunteers over three summers."]
                      + ["It now grinds flour for the village bakery and hosts school visits."]
                      + ["The volunteers hope to add a small museum about local farming next year."])
    ref = "Volunteers restored the old mill, which now grinds flour for the bakery."
    assert judge("summarize", source, "Mill restored.", reference=ref).label == "fail"  # 2 words
    assert "in French" in judge("summarize", source, "Le vieux moulin a été restauré par des bénévoles.", reference=ref).reason
    assert judge("summarize", source, "Volunteers restored the old mill, which now grinds flour.", reference=ref).label == "strict"
    unchecked = judge("summarize", source, "Volunteers restored the old mill, which now grinds flour.")
    assert unchecked.label == "loose" and "no reference summary" in unchecked.reason
    looping = source.split(".")[0] + ". " + "They hope, they hope, they hope, they hope, they hope."
    assert "repetition loop" in judge("summarize", source, looping, reference=ref).reason


def test_unknown_task_and_missing_keyword_are_clear_errors():
    with pytest.raises(ValueError, match="known tasks: translate_fr"):
        judge("translate_de", "a", "b")
    with pytest.raises(ValueError, match="needs the keyword"):
        judge("keyword", "a", "b")


def test_tasks_and_target_languages_are_defined_once():
    assert evaluate.TASKS is data.TASK_IDS and evaluate.TARGET_LANGUAGE is data.TARGET_LANGUAGE
    for task in data.TASK_IDS:  # the task files agree with the map
        assert data.get_task(task).target_lang == data.TARGET_LANGUAGE.get(task), task


def test_judge_is_deterministic():
    case = AGREEMENT[8]
    args = (case["task"], case["source"], case["response"], case.get("keyword"), case.get("reference"))
    first = judge(*args)
    assert all(judge(*args) == first for _ in range(3))


# --- accuracies --------------------------------------------------------------------------

def test_loose_accuracy_counts_strict_and_loose():
    result = accuracy(["strict", "loose", "fail", "strict", Verdict("loose", "r")])
    assert result["n"] == 5 and result["strict"] == 0.4 and result["loose"] == 0.8
    low, high = result["loose_ci"]
    assert low < 0.8 < high


def test_wilson_interval_known_values_and_edges():
    assert [round(x, 4) for x in wilson_interval(8, 10)] == [0.4902, 0.9433]
    assert wilson_interval(0, 10)[0] == 0.0 and wilson_interval(10, 10)[1] == 1.0
    assert wilson_interval(0, 0) == (0.0, 1.0)


def test_accuracy_by_condition_and_bad_labels():
    records = [{"condition": "steered", "label": "strict"}, {"condition": "original", "label": "fail"}]
    by = accuracy_by(records)
    assert by["steered"]["strict"] == 1.0 and by["original"]["loose"] == 0.0
    assert accuracy([])["strict"] is None
    with pytest.raises(ValueError, match="unknown label"):
        accuracy(["strict", "partial"])


# --- saif judge ----------------------------------------------------------------------------

def _run(argv, stdin=""):
    parser = argparse.ArgumentParser(prog="saif")
    add_judge_command(parser.add_subparsers(dest="command"))
    args = parser.parse_args(argv)
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdin, sys.stdout, sys.stderr
    sys.stdin, sys.stdout, sys.stderr = io.StringIO(stdin), out, err
    try:
        code = args.func(args)
    finally:
        sys.stdin, sys.stdout, sys.stderr = old
    return code, out.getvalue(), err.getvalue()


def test_judge_command_adds_label_and_reason_to_every_record(tmp_path):
    path = tmp_path / "in.jsonl"
    sample = AGREEMENT[::37][:20]  # every task
    records = [{k: v for k, v in case.items() if k not in ("label", "rationale")} for case in sample]
    records[0]["extra"] = "kept"
    path.write_text("\n".join(json.dumps(r, ensure_ascii=False) for r in records) + "\n\n", encoding="utf-8")
    code, out, err = _run(["judge", str(path), "--summary"])
    assert code == 0
    lines = [json.loads(line) for line in out.splitlines()]
    assert len(lines) == 20 and lines[0]["extra"] == "kept"
    assert [line["label"] for line in lines] == [judge(c["task"], c["source"], c["response"], c.get("keyword"),
                                                       c.get("reference")).label for c in sample]
    assert all(line["reason"] for line in lines)
    assert "translate_fr" in err and "SA=" in err


def test_judge_command_reads_stdin():
    line = json.dumps({"task": "translate_zh", "source": "Hello!", "response": "你好！", "reference": "你好！"},
                      ensure_ascii=False)
    code, out, _ = _run(["judge", "-"], stdin=line)
    assert code == 0 and json.loads(out)["label"] == "strict"


def test_judge_command_reports_agreement_per_split(tmp_path):
    path = tmp_path / "labelled.jsonl"
    path.write_text("\n".join(json.dumps(c, ensure_ascii=False) for c in AGREEMENT[:30]) + "\n", encoding="utf-8")
    code, out, _ = _run(["judge", str(path), "--agreement"])
    assert code == 0 and "calibration:" in out and "expected \\ judged" in out


@pytest.mark.parametrize("bad_line, message", [
    ("{not json", "line 2: not valid JSON"),
    ('["a list"]', "line 2: expected a JSON object"),
    ('{"task": "summarize", "source": "s"}', "line 2: field 'response' is missing"),
    ('{"task": "translate_de", "source": "s", "response": "r"}', "line 2: unknown task 'translate_de'"),
    ('{"task": "keyword", "source": "s", "response": "r"}', "line 2: task 'keyword' needs"),
    ('{"task": "summarize", "source": "s", "response": null}', "line 2: field 'response' is not a string"),
])
def test_malformed_line_exits_2_naming_the_line_and_writes_nothing(tmp_path, bad_line, message):
    good = json.dumps({"task": "translate_fr", "source": "Hi.", "response": "Salut."})
    path = tmp_path / "bad.jsonl"
    path.write_text(f"{good}\n{bad_line}\n{good}\n", encoding="utf-8")
    code, out, err = _run(["judge", str(path)])
    assert code == 2 and out == "" and message in err


def test_missing_input_file_exits_2(tmp_path):
    code, out, err = _run(["judge", str(tmp_path / "absent.jsonl")])
    assert code == 2 and out == "" and "absent.jsonl" in err


def test_read_judge_records_skips_blank_lines():
    assert len(read_judge_records(["", json.dumps({"task": "summarize", "source": "s", "response": "r"}), " "])) == 1


def test_saif_console_script_runs_judge(tmp_path):
    """Through the real ``saif`` entry point."""
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"task": "keyword", "source": "s", "response": "We swam in the river all day.",
                                "keyword": "river"}) + "\n", encoding="utf-8")
    done = subprocess.run([sys.executable, "-m", "saif_core.cli", "judge", str(path)],
                          capture_output=True, text=True, timeout=120)
    assert done.returncode == 0, done.stderr
    assert json.loads(done.stdout)["label"] == "strict"


# Unspaced loops seen from steered SmolLM2 ("CommentCommentComment..." was judged strict
# French before the character-level check): a loop is never strict, spaces or not.
@pytest.mark.parametrize("task, response", [
    ("translate_fr", "CommentCommentCommentCommentCommentCommentCommentComment"),
    ("translate_fr", "ZCommentCommentCommentCommentCommentCommentCommentCommentCom"),
    ("translate_zh", "我们明天去公园我们明天去公园我们明天去公园我们明天去公园"),
])
def test_unspaced_repetition_is_never_strict(task, response):
    verdict = judge(task, "We are going to the park tomorrow with my sister.", response)
    assert verdict.label != "strict", verdict.reason
    assert "repetition loop" in verdict.reason


# A loop of one or two words cannot hold a translation: steered SmolLM2 at its last layer
# produced "CommentComment..." for every input, which the loose rule alone scored LA 1.0.
@pytest.mark.parametrize("response, label", [
    ("CommentCommentCommentCommentCommentCommentCommentComment", "fail"),
    ("A performance's a performance's a performance's a performance's a performance's", "fail"),
    ("Nous allons au parc demain avec ma sœur. Nous allons au parc demain avec ma sœur. "
     "Nous allons au parc demain avec ma sœur. Nous allons au parc demain avec ma sœur.", "fail"),
])
def test_degenerate_loops_fail_translation(response, label):
    verdict = judge("translate_fr", "We are going to the park tomorrow with my sister.", response)
    assert verdict.label == label, verdict.reason
