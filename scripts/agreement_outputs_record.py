"""Real outputs for a labelled round of the judge's agreement set, drawn from the record.

    PYTHONPATH=. python scripts/agreement_outputs_record.py ROUND BLIND.jsonl KEY.jsonl

Rounds 4 and 5 (``ROUND``) were drawn with this script; each draw leaves out whatever the
agreement set held before that round, so rerunning a round reproduces it.

No generation: every output is one the embedded models already wrote in the shipped record
(prompted tables and steered runs, every model and condition there), never one the agreement set
holds (same task and content item and model and condition). Each round's design was fixed
before any of its outputs was read (``PLANS``): round 4 took per translation task 20
Qwen2.5-Coder prompted, 10 SmolLM2 prompted, 5 Gemma 3 prompted, 10 steered (any model) and 5
original (unprompted) outputs, summarize 12/6/3/6/3 and the keyword task 8/4/2/4/2, then 20
more Qwen2.5-Coder prompted outputs per translation task (see ``main``); round 5, labelled after
judge v4 was frozen, 30/8/4/8/4 per translation task and the same for the other two; round 6, labelled
after judge v5 was frozen, 30/8/2/6/2 per translation task, summarize 6/2/-/2/- and the keyword task
3/2/-/1/-; round 7, labelled after an experimental judge v6 (English scored by sentence-embedding
similarity, branch judge-v6, not adopted: see the README) was frozen, 30/10/4/10/4 for translate_en
(only 20 Qwen prompted outputs were left) and 6/2/-/3/1 for French and Chinese, nothing else; round
8, labelled after judge v7 was frozen, and round 9, after judge v8, translate_en only: -/12/6/6/4
here, and 40 fresh Qwen prompted outputs each (``agreement_outputs_english.py``).
Seeded. BLIND holds what a labeller reads (task, source, reference, keyword, response; no model,
condition or judge verdict); KEY maps each case id to its origin.
"""
import gzip
import json
import random
import sys
from pathlib import Path

ROOT = Path(__file__).resolve().parents[1]
MODELS = {"qwen2.5-coder-0.5b-instruct": "qwen", "smollm2-135m-instruct": "smollm2", "gemma-3-270m": "gemma"}
OTHERS = {"summarize": {("qwen", "prompted"): 12, ("smollm2", "prompted"): 6, ("gemma", "prompted"): 3,
                        ("any", "steered"): 6, ("any", "original"): 3},
          "keyword": {("qwen", "prompted"): 8, ("smollm2", "prompted"): 4, ("gemma", "prompted"): 2,
                      ("any", "steered"): 4, ("any", "original"): 2}}
PLANS = {  # round: (plan per task or task family, Qwen prompted outputs added per translation task)
    4: ({"translate": {("qwen", "prompted"): 20, ("smollm2", "prompted"): 10, ("gemma", "prompted"): 5,
                       ("any", "steered"): 10, ("any", "original"): 5}, **OTHERS}, 20),
    5: ({"translate": {("qwen", "prompted"): 30, ("smollm2", "prompted"): 8, ("gemma", "prompted"): 4,
                       ("any", "steered"): 8, ("any", "original"): 4}, **OTHERS}, 0),
    6: ({"translate": {("qwen", "prompted"): 30, ("smollm2", "prompted"): 8, ("gemma", "prompted"): 2,
                       ("any", "steered"): 6, ("any", "original"): 2},
         "summarize": {("qwen", "prompted"): 6, ("smollm2", "prompted"): 2, ("any", "steered"): 2},
         "keyword": {("qwen", "prompted"): 3, ("smollm2", "prompted"): 2, ("any", "steered"): 1}}, 0),
    # labelled after the experimental judge v6 (English by sentence similarity) was frozen: translate_en,
    # the task v6 changed and the one below the goal, 30/10/4/10/4; French and Chinese 6/2/-/3/1 each
    7: ({"translate_en": {("qwen", "prompted"): 30, ("smollm2", "prompted"): 10, ("gemma", "prompted"): 4,
                          ("any", "steered"): 10, ("any", "original"): 4},
         "translate": {("qwen", "prompted"): 6, ("smollm2", "prompted"): 2, ("any", "steered"): 3,
                       ("any", "original"): 1},
         "summarize": {}, "keyword": {}}, 0),
    # labelled after judge v7 (English reference coverage with WordNet synonyms) was frozen (9 and 10:
    # after v8): the record's translate_en outputs of the small models and steering; its Qwen prompted
    # ones are all labelled, so scripts/agreement_outputs_english.py adds 40 fresh ones on extraction items
    **{r: ({"translate_en": {("smollm2", "prompted"): 12, ("gemma", "prompted"): 6, ("any", "steered"): 6,
                             ("any", "original"): 4},
            "translate": {}, "summarize": {}, "keyword": {}}, 0) for r in (8, 9, 10)},
}
TASKS = ("translate_fr", "translate_zh", "translate_en", "summarize", "keyword:lantern")


def read(path):
    with gzip.open(path, "rt", encoding="utf-8") as f:
        return [json.loads(line) for line in f if line.strip()]


def pool():
    rows = []
    for path in sorted((ROOT / "record" / "prompted").glob("*/*/records.jsonl.gz")):
        rows += [dict(r, condition="prompted") for r in read(path)]
    for run in sorted((ROOT / "record").glob("*-*/")):
        config = json.loads((run / "config.json").read_text())
        rows += [dict(r, model=config["model"], task=config["task"]) for r in read(run / "records.jsonl.gz")]
    return rows


def main(round_, blind_path, key_path):
    plans, extension = PLANS[round_]
    seen = {(c["task"], c["content_id"], *c["origin"].split("/")[:2])
            for c in map(json.loads, (ROOT / "tests/data/judge_agreement.jsonl").read_text().splitlines())
            if c.get("round", 0) < round_}
    candidates, taken = {}, set()
    for r in pool():
        key = (r["task"], r["content_id"], r["model"], r["condition"])
        if key in seen or key in taken or not r["output"].strip():
            continue
        taken.add(key)
        candidates.setdefault((r["task"], MODELS[r["model"]], r["condition"]), []).append(r)
    rng = random.Random(round_)
    cases = []
    for task in TASKS:
        plan = plans.get(task) or plans[task.split("_")[0].split(":")[0]]  # the task's own plan, else its family's
        for (model, condition), n in plan.items():
            group = sorted((r for (t, m, c), rs in candidates.items() if t == task and c == condition
                            and (model == "any" or m == model) for r in rs),
                           key=lambda r: (r["model"], r["content_id"]))
            chosen = rng.sample(group, min(n, len(group)))
            print(task, model, condition, f"{len(chosen)} of {len(group)}")
            cases += chosen
    rng.shuffle(cases)
    # Round 4's extension, decided after reading its first 200 (9 strict among them) and before
    # any judge ran on them: more Qwen2.5-Coder prompted outputs per translation task, where
    # faithful and unfaithful translations meet, appended after the first 200 (ids unchanged).
    chosen_ids = {id(r) for r in cases}
    for task in TASKS[:3]:
        group = [r for r in candidates.get((task, "qwen", "prompted"), []) if id(r) not in chosen_ids]
        extra = rng.sample(sorted(group, key=lambda r: r["content_id"]), min(extension, len(group)))
        print(task, "qwen prompted, extension", f"{len(extra)} of {len(group)}")
        cases += extra
    with open(blind_path, "w", encoding="utf-8") as blind, open(key_path, "w", encoding="utf-8") as key:
        for i, r in enumerate(cases):
            blind.write(json.dumps({"id": i, "task": r["task"], "source": r["source"], "reference": r["reference"],
                                    "keyword": r["keyword"], "response": r["output"]}, ensure_ascii=False) + "\n")
            key.write(json.dumps({"id": i, "origin": f"{r['model']}/{r['condition']}", "content_id": r["content_id"]})
                      + "\n")


if __name__ == "__main__":
    main(int(sys.argv[1]), *sys.argv[2:4])
