"""Assemble the judge's agreement set from hand-labelled parts and split it.

    python scripts/build_agreement_set.py PART.jsonl [PART.jsonl ...] > tests/data/judge_agreement.jsonl

Every case keeps its hand label and rationale. Cases are split 50/50 into ``calibration``
(thresholds are tuned on it, scripts/calibrate_judge.py) and ``test`` (reported, never tuned
on), stratified by task, origin and label, by a seeded hash of each case's content id and
origin, so adding cases does not move the others.
"""
import hashlib
import json
import sys

KEEP = ("task", "source", "response", "keyword", "reference", "label", "rationale", "origin", "content_id")
cases = []
for path in sys.argv[1:]:
    for line in open(path, encoding="utf-8"):
        if line.strip():
            c = json.loads(line)
            assert c["label"] in ("strict", "loose", "fail") and c.get("rationale"), c
            cases.append({k: c[k] for k in KEEP if c.get(k) is not None})


def h(c):
    return hashlib.sha256(f"0:{c['origin']}:{c['content_id']}:{c['response']}".encode()).hexdigest()


strata = {}
for c in cases:
    strata.setdefault((c["task"].split(":")[0], c["origin"].split("/")[0], c["label"]), []).append(c)
for group in strata.values():
    group.sort(key=h)
    for i, c in enumerate(group):
        c["split"] = "calibration" if i % 2 == 0 else "test"
for c in sorted(cases, key=lambda c: (c["split"], c["task"], c["origin"], c["content_id"])):
    print(json.dumps(c, ensure_ascii=False))
