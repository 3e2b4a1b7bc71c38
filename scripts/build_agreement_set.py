"""Assemble the judge's agreement set from hand-labelled parts.

    python scripts/build_agreement_set.py --calibration PART.jsonl [...] --test PART.jsonl [...] \
        > tests/data/judge_agreement.jsonl

Every case keeps its hand label and rationale; the split is the part's: ``calibration``
(thresholds are tuned on it, scripts/calibrate_judge.py) or ``test`` (reported, never tuned on).

History: the first 314 cases were split 50/50 into calibration and test (2026-11). That test part
was then read while the judge was developed (its disagreements shaped the detail and copy
checks), so it is no longer a test of anything: all 314 are calibration now, and the test part
is a second set of cases labelled afterwards on dev items the first set never used, plus real
outputs of a model the judge had never seen (Qwen2.5-Coder), read only to report agreement.
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
