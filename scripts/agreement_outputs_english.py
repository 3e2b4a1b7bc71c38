"""Rounds 8, 9 and 10 of the judge's agreement set: translate_en only, each drawn after the judge
under test was frozen (round 8: judge v7; rounds 9 and 10: judge v8).

    PYTHONPATH=. python scripts/agreement_outputs_english.py ROUND BLIND.jsonl KEY.jsonl

The record's translate_en outputs of SmolLM2, Gemma 3 and steering (``agreement_outputs_record.py``
plans 8 to 10: 12/6/6/4), and 40 fresh Qwen2.5-Coder prompted translations: the record's Qwen
prompted translate_en outputs (evaluation split) and the dev ones are labelled already, so these are
of 40 extraction-split sentences no earlier round used (seeded by the round), with the evaluation's
prompt (the content and the canonical English instruction, post), greedy, up to 128 new tokens.
Extraction items carry references like every other item. Written WITHOUT any judge label: BLIND
holds what a labeller reads, KEY each case's origin.
"""
import json
import random
import sys
import tempfile
from pathlib import Path

from saif_core import data, steering
from saif_core import experiments as E
from saif_core.models import load_model

sys.path.insert(0, str(Path(__file__).resolve().parent))
import agreement_outputs_record as record  # noqa: E402

QWEN, N_FRESH, TASK = "qwen2.5-coder-0.5b-instruct", 40, "translate_en"


def main(round_, blind_path, key_path):
    tmp = Path(tempfile.mkdtemp(prefix=f"round{round_}-"))
    record.main(round_, tmp / "blind.jsonl", tmp / "key.jsonl")
    blind = [json.loads(line) for line in (tmp / "blind.jsonl").read_text(encoding="utf-8").splitlines()]
    keys = {k["id"]: k for k in map(json.loads, (tmp / "key.jsonl").read_text(encoding="utf-8").splitlines())}
    cases = [(b, keys[b["id"]]) for b in blind]
    agreement = map(json.loads, (record.ROOT / "tests/data/judge_agreement.jsonl").read_text(encoding="utf-8").splitlines())
    used = {c["content_id"] for c in agreement if c["task"] == TASK and c.get("round", 0) < round_
            and c["origin"] == f"{QWEN}/prompted"}
    rng = random.Random(round_)
    items = rng.sample([it for it in data.split(TASK, "extraction") if it.id not in used], N_FRESH)
    model = load_model(QWEN)
    prompts = data.format_prompts(model, [data.eval_prompts(TASK, it)["prompted"] for it in items])
    outputs = steering.generate(model, prompts, 128, 8)
    for it, output in zip(items, outputs):
        keyword, reference = E.judged_against(TASK, it)
        cases.append(({"task": TASK, "source": it.text, "reference": reference, "keyword": keyword, "response": output},
                      {"origin": f"{QWEN}/prompted", "content_id": it.id}))
    print(f"{TASK}: {QWEN} prompted, fresh on extraction items: {len(items)}")
    rng.shuffle(cases)
    with open(blind_path, "w", encoding="utf-8") as b, open(key_path, "w", encoding="utf-8") as k:
        for i, (case, key) in enumerate(cases):
            b.write(json.dumps({"id": i, **{f: case[f] for f in ("task", "source", "reference", "keyword", "response")}},
                               ensure_ascii=False) + "\n")
            k.write(json.dumps({"id": i, "origin": key["origin"], "content_id": key["content_id"]}) + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:4])
