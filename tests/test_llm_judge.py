"""The optional LLM judge, against a real OpenAI-compatible HTTP server started on
127.0.0.1 in this test: request shape, parsing, the on-disk cache, the agreement report."""
import argparse
import io
import json
import sys
import threading
from http.server import BaseHTTPRequestHandler, ThreadingHTTPServer

import pytest

from saif_core import evaluate, rubric
from saif_core.cli import add_judge_command
from saif_core.evaluate import judge
from saif_core.llm_judge import LLMJudge, agreement_report, build_messages, cache_key, parse_verdict

# The fake model's verdicts, keyed by a word of the response it is shown.
CANNED = {"canapé": "strict", "sofa": "fail", "gardener": "loose", "garden": "strict", "mill": "loose"}


class FakeOpenAI(BaseHTTPRequestHandler):
    """POST /v1/chat/completions -> a fixed verdict chosen from the response text in the prompt."""

    requests: list = []
    fail_next: list = []  # HTTP codes to answer before a normal reply

    def do_POST(self):
        body = json.loads(self.rfile.read(int(self.headers["Content-Length"])))
        type(self).requests.append({"path": self.path, "headers": dict(self.headers), "body": body})
        if type(self).fail_next:
            self.send_response(type(self).fail_next.pop(0))
            self.end_headers()
            self.wfile.write(b'{"error": "busy"}')
            return
        response = body["messages"][-1]["content"].split("RESPONSE:")[1]
        label = next((lab for word, lab in CANNED.items() if word in response), "fail")
        content = f'```json\n{{"label": "{label}", "reason": "canned verdict for testing"}}\n```'
        payload = json.dumps({"id": "x", "object": "chat.completion", "model": body["model"],
                              "choices": [{"index": 0, "message": {"role": "assistant", "content": content},
                                           "finish_reason": "stop"}]}).encode()
        self.send_response(200)
        self.send_header("Content-Type", "application/json")
        self.send_header("Content-Length", str(len(payload)))
        self.end_headers()
        self.wfile.write(payload)

    def log_message(self, *args):
        pass


@pytest.fixture()
def server():
    FakeOpenAI.requests, FakeOpenAI.fail_next = [], []
    httpd = ThreadingHTTPServer(("127.0.0.1", 0), FakeOpenAI)
    thread = threading.Thread(target=httpd.serve_forever, kwargs={"poll_interval": 0.05}, daemon=True)
    thread.start()
    yield f"http://127.0.0.1:{httpd.server_address[1]}/v1"
    httpd.shutdown()
    httpd.server_close()
    thread.join(timeout=5)


def test_request_shape_parsing_and_cache(server, tmp_path):
    judge = LLMJudge(model="fake-judge", base_url=server, api_key="sk-test", cache_dir=tmp_path)
    verdict = judge.judge("translate_fr", "The cat sleeps on the sofa.", "Le chat dort sur le canapé.")
    assert (verdict.label, verdict.reason) == ("strict", "canned verdict for testing")
    [request] = FakeOpenAI.requests
    assert request["path"] == "/v1/chat/completions"
    assert request["headers"]["Authorization"] == "Bearer sk-test"
    body = request["body"]
    assert body["model"] == "fake-judge" and body["temperature"] == 0
    assert [m["role"] for m in body["messages"]] == ["system", "user"]
    assert "into French" in body["messages"][1]["content"] and "Le chat dort" in body["messages"][1]["content"]

    again = judge.judge("translate_fr", "The cat sleeps on the sofa.", "Le chat dort sur le canapé.")
    assert again == verdict and len(FakeOpenAI.requests) == 1  # answered from the cache
    key = cache_key("fake-judge", body["messages"])
    assert json.loads((tmp_path / f"{key}.json").read_text())["model"] == "fake-judge"
    other_model = LLMJudge(model="other", base_url=server, cache_dir=tmp_path)
    other_model.judge("translate_fr", "The cat sleeps on the sofa.", "Le chat dort sur le canapé.")
    assert len(FakeOpenAI.requests) == 2  # the cache is keyed by model too


def test_environment_defaults_and_cache_dir(server, tmp_path, monkeypatch):
    monkeypatch.setenv("OPENAI_BASE_URL", server)
    monkeypatch.setenv("OPENAI_API_KEY", "sk-env")
    monkeypatch.setenv("SAIF_CACHE", str(tmp_path))
    LLMJudge(model="fake-judge").judge("keyword", "s", "My gardener plants roses.", "garden")
    assert FakeOpenAI.requests[0]["headers"]["Authorization"] == "Bearer sk-env"
    assert len(list((tmp_path / "llm_judge").glob("*.json"))) == 1


def test_retries_are_bounded(server, tmp_path):
    FakeOpenAI.fail_next = [503]
    judge = LLMJudge(model="fake-judge", base_url=server, cache_dir=tmp_path, retries=1, backoff_s=0.01)
    assert judge.judge("translate_fr", "The sofa.", "Le canapé.").label == "strict"
    FakeOpenAI.fail_next = [503, 503, 503]
    with pytest.raises(RuntimeError, match="HTTP 503"):
        judge.judge("translate_fr", "The sofa.", "Le grand canapé.")
    assert len(FakeOpenAI.requests) == 4  # 2 + (1 try + 1 retry): no endless loop
    with pytest.raises(RuntimeError, match="HTTP 400"):
        FakeOpenAI.fail_next = [400]
        judge.judge("translate_fr", "The sofa.", "Un canapé rouge.")


def test_agreement_report_counts_and_confusion(server, tmp_path):
    records = [
        {"task": "translate_fr", "source": "The cat is on the sofa.", "response": "Le chat est sur le canapé.",
         "reference": "Le chat est sur le canapé."},
        {"task": "translate_fr", "source": "The cat is on the sofa.", "response": "The cat is on the sofa."},
        {"task": "keyword", "source": "s", "response": "My old gardener grows roses and tomatoes.",
         "keyword": "garden"},
        {"task": "keyword", "source": "s", "response": "We spent all day in the garden with friends.",
         "keyword": "garden"},
        {"task": "summarize", "source": "The old mill was restored by volunteers over three summers and now "
                                        "grinds flour for the bakery.", "response": "Volunteers restored the mill.",
         "reference": "Volunteers restored the old mill."},
    ]
    report = agreement_report(records, LLMJudge(model="fake-judge", base_url=server, cache_dir=tmp_path))
    # rules: strict, fail, loose, strict, strict; fake LLM: strict, fail, loose, strict, loose
    assert report["n"] == 5 and report["agreement"] == 0.8
    assert report["confusion"]["strict"] == {"strict": 2, "loose": 1, "fail": 0}
    assert report["confusion"]["fail"]["fail"] == 1 and report["confusion"]["loose"]["loose"] == 1
    [miss] = report["disagreements"]
    assert miss["rule"] == "strict" and miss["llm"] == "loose" and miss["rule_reason"]
    assert "4/5 agree (80.0%)" in report["text"]


def test_judge_command_with_llm(server, tmp_path, monkeypatch):
    monkeypatch.setenv("SAIF_CACHE", str(tmp_path))
    path = tmp_path / "in.jsonl"
    path.write_text(json.dumps({"task": "translate_fr", "source": "The sofa is red.",
                                "response": "The sofa is red."}) + "\n", encoding="utf-8")
    parser = argparse.ArgumentParser()
    add_judge_command(parser.add_subparsers())
    args = parser.parse_args(["judge", str(path), "--llm", "fake-judge", "--base-url", server])
    out, err = io.StringIO(), io.StringIO()
    old = sys.stdout, sys.stderr
    sys.stdout, sys.stderr = out, err
    try:
        assert args.func(args) == 0
    finally:
        sys.stdout, sys.stderr = old
    assert json.loads(out.getvalue())["reason"] == "canned verdict for testing"
    assert "1/1 agree" in err.getvalue()
    assert len(FakeOpenAI.requests) == 1  # the report's call is cached for the verdicts


def test_parse_verdict_fallbacks_and_errors():
    assert parse_verdict('Verdict: {"label": "FAIL", "reason": "empty"} done').label == "fail"
    assert parse_verdict("I would say this is loose.").label == "loose"
    with pytest.raises(ValueError, match="no label"):
        parse_verdict("I cannot decide.")


def test_build_messages_checks_task_and_keyword():
    with pytest.raises(ValueError, match="known tasks"):
        build_messages("translate_de", "a", "b")
    with pytest.raises(ValueError, match="needs the keyword"):
        build_messages("keyword", "a", "b")
    assert "Chinese" in build_messages("translate_zh", "a", "b")[1]["content"]


@pytest.mark.parametrize("constant, value, task, before, after", [
    ("MIN_KEYWORD_WORDS", 7, "keyword", "at least 5 words", "at least 7 words"),
    ("MIN_SUMMARY_WORDS", 4, "summarize", "fewer than 3 words", "fewer than 4 words"),
    ("MAX_SUMMARY_RATIO_FAIL", 0.8, "summarize", "(90% of its length or more)", "(80% of its length or more)"),
    ("MAX_SUMMARY_RATIO_STRICT", 0.4, "summarize", "at most 50% of its length", "at most 40% of its length"),
])
def test_llm_prompt_is_built_from_the_rule_judges_thresholds(monkeypatch, constant, value, task, before, after):
    """A threshold is written once (saif_core.rubric): changing it changes the LLM judge's prompt."""
    prompt = build_messages(task, "a source", "a response", "river", "a reference")[1]["content"]
    assert before in prompt and after not in prompt
    monkeypatch.setattr(rubric, constant, value)
    prompt = build_messages(task, "a source", "a response", "river", "a reference")[1]["content"]
    assert after in prompt and before not in prompt


def test_rule_judge_and_llm_prompt_follow_the_same_constant(monkeypatch):
    args = ("summarize", "The museum opens at nine and closes at six every day of the week.", "The museum opens daily.")
    assert judge(*args, reference="The museum opens every day.").label != "fail"
    monkeypatch.setattr(rubric, "MIN_SUMMARY_WORDS", 5)
    verdict = judge(*args, reference="The museum opens every day.")
    assert verdict.label == "fail" and "(< 5)" in verdict.reason
    assert "fewer than 5 words" in build_messages(*args, reference="x")[1]["content"]


def test_without_a_reference_the_prompt_forbids_strict():
    content = build_messages("translate_fr", "Hello.", "Bonjour.")[1]["content"]
    assert "never answer 'strict'" in content and "REFERENCE:" not in content
    content = build_messages("translate_fr", "Hello.", "Bonjour.", reference="Bonjour.")[1]["content"]
    assert "REFERENCE:\n<<<\nBonjour.\n>>>" in content
