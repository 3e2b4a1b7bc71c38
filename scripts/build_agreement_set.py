"""Assemble the judge's agreement set from hand-labelled parts.

    python scripts/build_agreement_set.py --calibration PART.jsonl [...] --test PART.jsonl [...] \
        > tests/data/judge_agreement.jsonl

Every case keeps its hand label and rationale; the split is the part's: ``calibration``
(thresholds are tuned on it, scripts/calibrate_judge.py) or ``test`` (reported, never tuned on).

History (each test part was labelled by people reading outputs, before the judge saw it):
1. 314 cases (120 real SmolLM2 / Gemma 3 outputs on dev items 1-4 in every condition, 194
   synthetic), split 50/50. The judge was developed while reading that test part's
   disagreements, so all 314 became calibration.
2. 220 new cases: 150 real outputs (SmolLM2 / Gemma 3 on dev items 5-7, every condition; Qwen2.5-
   Coder, which the judge had never seen, original and prompted on dev items 5-10) and 70
   synthetic. The judge as it then stood agreed on 192 (87.3%); reading their disagreements
   added the untranslated-word check, and they became calibration too (604 cases).
3. The test part now: 138 new cases (71 real: Qwen prompted and original, SmolLM2 prompted, on
   dev items 11-20 and extraction items 1-8; 67 synthetic). The judge, frozen before they were
   labelled, agreed on 119 (86.2%); three bugs found by reading the disagreements (German
   "will" taken for an untranslated word, "four decades" read as 4, a length shown rounded)
   were fixed, which gives 121 (87.7%). No threshold was chosen on it.
"""
import argparse
import json

KEEP = ("task", "source", "response", "keyword", "reference", "label", "rationale", "origin", "content_id")

parser = argparse.ArgumentParser()
parser.add_argument("--calibration", nargs="+", default=[])
parser.add_argument("--test", nargs="+", default=[])
args = parser.parse_args()
cases = []
for split, paths in (("calibration", args.calibration), ("test", args.test)):
    for path in paths:
        for line in open(path, encoding="utf-8"):
            if line.strip():
                c = json.loads(line)
                assert c["label"] in ("strict", "loose", "fail") and c.get("rationale"), c
                cases.append({**{k: c[k] for k in KEEP if c.get(k) is not None}, "split": split})
seen = set()
for c in cases:
    key = (c["task"], c["source"], c["response"], c["origin"])
    assert key not in seen, f"duplicate case {key}"
    seen.add(key)
for c in sorted(cases, key=lambda c: (c["split"], c["task"], c["origin"], c["content_id"])):
    print(json.dumps(c, ensure_ascii=False))
