"""An optional LLM judge with the rule judge's interface, for an OpenAI-compatible endpoint.

The paper judged with GPT-4o-mini. :class:`LLMJudge` sends the rubric of
:mod:`saif_core.evaluate` (:func:`~saif_core.evaluate.rubric`, built from the rule judge's
threshold constants, so both judges apply the same numbers) as its prompt to
``{base_url}/chat/completions`` (OpenAI, or a local llama.cpp / vLLM / Ollama server),
reads back ``{"label", "reason"}``, and caches every answer on disk under
``$SAIF_CACHE/llm_judge/`` (default ``~/.cache/saif``) by a hash of (model, prompt), so a
rerun costs nothing and gives the same verdicts. It uses only the standard library. The
default pipeline never calls it; :func:`agreement_report` says how far it agrees with the
rules.

Example (needs an endpoint):
    >>> judge = LLMJudge(model="gpt-4o-mini")            # doctest: +SKIP
    >>> judge.judge("translate_fr", "Hello!", "Bonjour !")  # doctest: +SKIP
    Verdict(label='strict', reason='The response is French and short.', ...)
"""
from __future__ import annotations

import hashlib
import json
import os
import re
import tempfile
import time
import urllib.error
import urllib.request
from collections import Counter
from dataclasses import dataclass
from pathlib import Path

from .evaluate import LABELS, Verdict, confusion_matrix, judge
from .rubric import base_task, rubric

DEFAULT_BASE_URL = "https://api.openai.com/v1"

SYSTEM = ("You judge whether a language model followed an instruction. First ignore surrounding whitespace, "
          "quotes, markdown and code fences, and a bare label such as 'Translation:' or 'Summary:'. Then apply "
          "the rubric exactly. Answer with a JSON object only: {\"label\": \"strict\" | \"loose\" | \"fail\", "
          "\"reason\": \"one sentence a person can check\"}.")


def build_messages(task: str, source: str, response: str, keyword: str | None = None,
                   reference: str | None = None) -> list[dict]:
    """The chat messages that ask for one verdict: the task's rubric (:func:`saif_core.rubric.rubric`,
    built from the rule judge's thresholds), the source, the reference if any, and the response.

    >>> build_messages("keyword", "Describe a trip.", "We saw a river.", "river")[1]["content"][:40]
    'The task was to write a normal answer to'
    """
    if base_task(task) == "keyword" and not keyword:
        raise ValueError("the keyword task needs the keyword (keyword='...')")
    ref = f"REFERENCE:\n<<<\n{reference}\n>>>\n\n" if reference else ""
    user = (f"{rubric(task, keyword, reference)}\n\nSOURCE:\n<<<\n{source}\n>>>\n\n{ref}"
            f"RESPONSE:\n<<<\n{response}\n>>>")
    return [{"role": "system", "content": SYSTEM}, {"role": "user", "content": user}]


def parse_verdict(content: str) -> Verdict:
    """Reads ``{"label", "reason"}`` from a model's answer, tolerating code fences and
    prose around the JSON; falls back to the first label word if there is no JSON.

    >>> parse_verdict('```json\\n{"label": "Loose", "reason": "mixed"}\\n```')
    Verdict(label='loose', reason='mixed', ...)
    """
    match = re.search(r"\{.*\}", content, re.S)
    if match:
        try:
            data = json.loads(match.group(0))
        except json.JSONDecodeError:
            data = None
        if isinstance(data, dict) and str(data.get("label", "")).strip().lower() in LABELS:
            return Verdict(str(data["label"]).strip().lower(), str(data.get("reason", "")).strip(),
                           {"raw": content})
    word = re.search(r"\b(strict|loose|fail)\b", content, re.I)
    if word:
        return Verdict(word.group(1).lower(), f"(no JSON in the answer) {content.strip()[:200]}", {"raw": content})
    raise ValueError(f"the LLM judge's answer has no label: {content[:200]!r}")


def cache_key(model: str, messages: list[dict]) -> str:
    """sha256 of (model, prompt): the name of a cached answer."""
    payload = json.dumps({"model": model, "messages": messages}, sort_keys=True, ensure_ascii=False)
    return hashlib.sha256(payload.encode("utf-8")).hexdigest()


def default_cache_dir() -> Path:
    return Path(os.environ.get("SAIF_CACHE", Path.home() / ".cache" / "saif")) / "llm_judge"


class LLMJudgeError(RuntimeError):
    """The LLM judge's endpoint cannot be reached or answers something unusable."""


@dataclass(frozen=True)
class LLMJudge:
    """Judges through ``{base_url}/chat/completions``; ``base_url`` and ``api_key`` default
    to ``$OPENAI_BASE_URL`` and ``$OPENAI_API_KEY``. Temperature 0; at most ``retries``
    retries on a network error, 429 or 5xx."""

    model: str = "gpt-4o-mini"
    base_url: str | None = None
    api_key: str | None = None
    cache_dir: Path | None = None
    timeout_s: float = 60.0
    retries: int = 2
    backoff_s: float = 0.5  # waits backoff_s, 2 * backoff_s, ... (at most 8 s) between tries

    def judge(self, task: str, source: str, response: str, keyword: str | None = None,
              reference: str | None = None) -> Verdict:
        messages = build_messages(task, source, response, keyword, reference)
        return parse_verdict(self.complete(messages))

    def complete(self, messages: list[dict]) -> str:
        """The model's answer to ``messages``, from the cache when it has been asked before."""
        path = Path(self.cache_dir or default_cache_dir()) / f"{cache_key(self.model, messages)}.json"
        if path.exists():
            return json.loads(path.read_text(encoding="utf-8"))["content"]
        content = self._post(messages)
        path.parent.mkdir(parents=True, exist_ok=True)
        record = {"model": self.model, "messages": messages, "content": content}
        with tempfile.NamedTemporaryFile("w", dir=path.parent, delete=False, suffix=".tmp", encoding="utf-8") as f:
            json.dump(record, f, ensure_ascii=False)
        os.replace(f.name, path)
        return content

    def _post(self, messages: list[dict]) -> str:
        base = (self.base_url or os.environ.get("OPENAI_BASE_URL") or DEFAULT_BASE_URL).rstrip("/")
        key = self.api_key or os.environ.get("OPENAI_API_KEY")
        body = json.dumps({"model": self.model, "messages": messages, "temperature": 0}).encode("utf-8")
        headers = {"Content-Type": "application/json"}
        if key:
            headers["Authorization"] = f"Bearer {key}"
        for attempt in range(self.retries + 1):
            request = urllib.request.Request(f"{base}/chat/completions", body, headers, method="POST")
            try:
                with urllib.request.urlopen(request, timeout=self.timeout_s) as reply:
                    raw = reply.read()
                try:
                    return json.loads(raw.decode("utf-8"))["choices"][0]["message"]["content"]
                except (ValueError, KeyError, IndexError, TypeError) as error:
                    raise LLMJudgeError(f"LLM judge: {base} answered something that is not a chat completion "
                                        f"({type(error).__name__}: {str(error)[:100]}). Fix: point --base-url at an "
                                        "OpenAI-compatible endpoint (…/v1).") from None
            except urllib.error.HTTPError as error:
                if error.code != 429 and error.code < 500 or attempt == self.retries:
                    detail = " ".join(error.read().decode("utf-8", "replace").split())[:300]
                    raise LLMJudgeError(f"LLM judge: {base} answered HTTP {error.code}: {detail}. Fix: check the "
                                        "model name, OPENAI_API_KEY and --base-url.") from None
            except (urllib.error.URLError, TimeoutError, OSError) as error:
                if attempt == self.retries:
                    raise LLMJudgeError(f"LLM judge: cannot reach {base} ({error}). Fix: start the server, or pass "
                                        "--base-url (or OPENAI_BASE_URL) of one that runs; the rule judge needs "
                                        "no server (drop --llm).") from None
            time.sleep(min(8.0, self.backoff_s * 2**attempt))
        raise AssertionError("unreachable")


def agreement_report(records, llm_judge, rule_judge=judge) -> dict:
    """How far the LLM judge agrees with the rule judge on ``records`` (dicts with task,
    source, response, keyword?): ``{"n", "agreement", "confusion", "disagreements", "text"}``,
    where ``confusion[rule_label][llm_label]`` counts and ``text`` is printable."""
    rule_labels, llm_labels, disagreements = [], [], []
    for record in records:
        args = (record["task"], record["source"], record["response"], record.get("keyword"), record.get("reference"))
        by_rule, by_llm = rule_judge(*args), llm_judge.judge(*args)
        rule_labels.append(by_rule.label)
        llm_labels.append(by_llm.label)
        if by_rule.label != by_llm.label:
            disagreements.append({**record, "rule": by_rule.label, "rule_reason": by_rule.reason,
                                  "llm": by_llm.label, "llm_reason": by_llm.reason})
    n = len(records)
    agreement = (n - len(disagreements)) / n if n else None
    counts = Counter(zip(rule_labels, llm_labels))
    confusion = {row: {col: counts[(row, col)] for col in LABELS} for row in LABELS}
    matrix = confusion_matrix(rule_labels, llm_labels).replace("expected \\ judged", "rules \\ LLM".ljust(17))
    shown = f"{agreement:.1%}" if n else "n/a"
    text = f"LLM judge {getattr(llm_judge, 'model', '')} vs rules: {n - len(disagreements)}/{n} agree ({shown})\n{matrix}"
    return {"n": n, "agreement": agreement, "confusion": confusion, "disagreements": disagreements, "text": text}
