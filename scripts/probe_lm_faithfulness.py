"""Probe (not part of the judge): does Qwen2.5-Coder-0.5B-Instruct, the largest embedded model,
tell a faithful translation (hand label strict) from a nearly faithful one (loose)?

For each translation case of the agreement set's calibration part (never the test part) that was
hand-labelled strict or loose and has a reference, three scores:
- ``yn``: log P("Yes") - log P("No") after a question whether the translation says exactly what
  the source says;
- ``rel``: the response's mean token log-probability after "Translate the following text into
  <language>: <source>" minus the reference's (a Prism-style score);
- ``min_rel``: the same with the lowest token log-probability (a single wrong word).
It prints each score's AUC for strict against loose (0.5: no signal). A few seconds per case on
2 cores. Usage:

    python scripts/probe_lm_faithfulness.py [--limit N] [--out scores.jsonl]
"""
from __future__ import annotations

import argparse
import json
from pathlib import Path

import numpy as np
import torch
from scipy.stats import mannwhitneyu

from saif_core.models import load_model

AGREEMENT = Path(__file__).resolve().parents[1] / "tests" / "data" / "judge_agreement.jsonl"
LANGUAGE = {"translate_en": "English", "translate_fr": "French", "translate_zh": "Chinese"}


def token_logprobs(m, prompt: str, response: str) -> np.ndarray:
    head = m.format_prompt(prompt)
    ids = torch.tensor([m.encode(head + response)])
    with torch.no_grad():
        lp = torch.log_softmax(m.hf(ids).logits[0, :-1].float(), -1)
    picked = lp[torch.arange(ids.shape[1] - 1), ids[0, 1:]]
    return picked[len(m.encode(head)) - 1:].numpy()


def yes_no(m, source: str, response: str, language: str) -> float:
    q = (f"Source text:\n{source}\n\nProposed {language} translation:\n{response}\n\nDoes the proposed "
         "translation say exactly the same thing as the source text, with nothing wrong, missing or added? "
         "Answer Yes or No.")
    with torch.no_grad():
        lp = torch.log_softmax(m.hf(torch.tensor([m.encode(m.format_prompt(q))])).logits[0, -1].float(), -1)
    yes, no = (m.tokenizer.convert_tokens_to_ids(t) for t in ("Yes", "No"))
    return float(lp[yes] - lp[no])


def auc(labels, scores) -> float:
    y, s = np.asarray(labels, bool), np.asarray(scores, float)
    return float(mannwhitneyu(s[y], s[~y]).statistic / (y.sum() * (~y).sum()))


def main() -> None:
    ap = argparse.ArgumentParser(description=__doc__.split("\n\n")[0])
    ap.add_argument("--limit", type=int, default=None, help="score only the first N of those cases")
    ap.add_argument("--out", type=Path, default=None, help="also write each case's scores (JSONL)")
    args = ap.parse_args()
    torch.set_num_threads(2)
    m = load_model("qwen2.5-coder-0.5b-instruct")
    cases = [c for c in map(json.loads, AGREEMENT.read_text(encoding="utf-8").splitlines())
             if c["split"] == "calibration" and c["task"] in LANGUAGE and c.get("reference")
             and c["label"] in ("strict", "loose")][: args.limit]
    rows = []
    for c in cases:
        lang, prompt = LANGUAGE[c["task"]], f"Translate the following text into {LANGUAGE[c['task']]}:\n{c['source']}"
        resp, ref = token_logprobs(m, prompt, c["response"][:600]), token_logprobs(m, prompt, c["reference"])
        rows.append({"label": c["label"], "task": c["task"], "yn": yes_no(m, c["source"], c["response"][:600], lang),
                     "rel": float(resp.mean() - ref.mean()) if len(resp) else -20.0,
                     "min_rel": float(resp.min() - ref.min()) if len(resp) else -20.0})
    if args.out:
        args.out.write_text("".join(json.dumps(r) + "\n" for r in rows), encoding="utf-8")
    strict = [r["label"] == "strict" for r in rows]
    print(f"{len(rows)} calibration translation cases hand-labelled strict or loose ({sum(strict)} strict)")
    for name in ("yn", "rel", "min_rel"):
        print(f"  {name:8s} AUC strict vs loose: {auc(strict, [r[name] for r in rows]):.3f}")


if __name__ == "__main__":
    main()
