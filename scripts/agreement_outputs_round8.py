"""Round 8 of the judge's agreement set: translate_en, drawn after judge v7 was frozen.

    PYTHONPATH=. python scripts/agreement_outputs_round8.py BLIND.jsonl KEY.jsonl

The record's translate_en outputs of SmolLM2, Gemma 3 and steering (``agreement_outputs_record.py``
plan 8: 12/6/6/4), and 40 fresh Qwen2.5-Coder prompted translations: the record's Qwen prompted
translate_en outputs (evaluation split) and the dev ones are labelled already, so these are of 40
extraction-split sentences (seeded sample), with the evaluation's prompt (the content and the
canonical English instruction, post), greedy, up to 128 new tokens. Extraction items carry
references like every other item. Written WITHOUT any judge label: BLIND holds what a labeller
reads, KEY each case's origin.
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


def main(blind_path, key_path):
    tmp = Path(tempfile.mkdtemp(prefix="round8-"))
    record.main(8, tmp / "blind.jsonl", tmp / "key.jsonl")
    blind = [json.loads(line) for line in (tmp / "blind.jsonl").read_text(encoding="utf-8").splitlines()]
    keys = {k["id"]: k for k in map(json.loads, (tmp / "key.jsonl").read_text(encoding="utf-8").splitlines())}
    cases = [(b, keys[b["id"]]) for b in blind]
    rng = random.Random(8)
    items = rng.sample(data.split(TASK, "extraction"), N_FRESH)
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
    main(*sys.argv[1:3])
