"""Choose the judge's meaning thresholds on the CALIBRATION part of the agreement set.

    PYTHONPATH=. python scripts/calibrate_judge.py [tests/data/judge_agreement.jsonl]

For each translation target, every pair (loose threshold < strict threshold) of chrF values on
a grid is tried, and the pair with the most agreement with the hand labels of that task's
calibration cases wins (ties: the pair closest to the middle of the tied region); then the
reference-summary threshold the same way. English has a second pass: the two reference-coverage
thresholds (``saif_core.synonyms``), then its chrF pair again at those. It prints the chosen values, to be written into
``saif_core/rubric.py`` by hand, and the agreement they give on the calibration part. The
test part is never read here.
"""
import json
import sys
from functools import lru_cache
from pathlib import Path

from saif_core import evaluate, rubric

# The judge's threshold-free steps (language segments, chrF, coverage...) give the same result at
# every grid point: computed once per case, so the grid runs in minutes, not an hour.
for step in ("segments", "similarity", "chrf", "coverage", "untranslated", "differences", "loop_note", "language_of"):
    setattr(evaluate, step, lru_cache(maxsize=None)(getattr(evaluate, step)))

path = Path(sys.argv[1] if len(sys.argv) > 1 else "tests/data/judge_agreement.jsonl")
cases = [json.loads(line) for line in path.read_text(encoding="utf-8").splitlines() if line.strip()]
calibration = [c for c in cases if c["split"] == "calibration"]


def agree(subset) -> int:
    return sum(evaluate.judge(c["task"], c["source"], c["response"], c.get("keyword"), c.get("reference")).label
               == c["label"] for c in subset)


SLACK = 1  # points this many cases short of the best count as tied: one case is noise


def best(grid_points, subset, apply):
    """A grid point with (nearly) the most agreement: among the points within ``SLACK`` cases
    of the best, the one nearest the centre of the box they span (thresholds away from the
    edges of what the labels allow, not at a one-case spike)."""
    scores = {}
    for point in grid_points:
        apply(point)
        scores[point] = agree(subset)
    top = max(scores.values())
    tied = [p for p, s in scores.items() if s >= top - SLACK]
    centre = [(min(p[i] for p in tied) + max(p[i] for p in tied)) / 2 for i in range(len(tied[0]))]
    spans = [max(p[i] for p in tied) - min(p[i] for p in tied) or 1 for i in range(len(tied[0]))]
    choice = min(tied, key=lambda p: sum(((p[i] - centre[i]) / spans[i]) ** 2 for i in range(len(p))))
    apply(choice)
    return choice, scores[choice], len(subset)


grid = [x / 2 for x in range(0, 181, 5)]  # 0, 2.5, ..., 90 (Chinese is scored on characters: higher values)
lengths = [0.5, 0.6, 0.7, 0.75, 0.8]
translation = [c for c in calibration if c["task"].startswith("translate_")]


def apply_length(point):
    rubric.MIN_TRANSLATION_LENGTH = point[0]


def chrf_pair(target):
    """The (loose, strict) chrF pair of ``target`` with the most calibration agreement, applied."""
    subset = [c for c in calibration if c["task"] == f"translate_{target}"]

    def apply(point):
        rubric.LOOSE_CHRF[target], rubric.STRICT_CHRF[target] = point

    return best([(lo, hi) for lo in grid for hi in grid if lo < hi], subset, apply)


for target in ("fr", "zh", "en"):  # first pass: chrF thresholds at the current length floor
    chrf_pair(target)
point, hits, n = best([(x,) for x in lengths], translation, apply_length)
print(f"translations: MIN_TRANSLATION_LENGTH {point[0]:g}: {hits}/{n} calibration cases agree")
for target in ("fr", "zh", "en"):  # second pass at the chosen floor
    point, hits, n = chrf_pair(target)
    print(f"translate_{target}: LOOSE_CHRF {point[0]:g}, STRICT_CHRF {point[1]:g}: {hits}/{n} calibration cases agree")

english = [c for c in calibration if c["task"] == "translate_en"]


def apply_coverage(point):
    rubric.LOOSE_REFERENCE_COVERAGE["en"], rubric.MIN_REFERENCE_COVERAGE["en"] = point


coverages = [x / 20 for x in range(0, 21)]  # 0, 0.05, ..., 1
point, hits, n = best([(lo, hi) for lo in coverages for hi in coverages if lo < hi and lo <= 0.5], english, apply_coverage)
print(f"translate_en: LOOSE_REFERENCE_COVERAGE {point[0]:g}, MIN_REFERENCE_COVERAGE {point[1]:g}: {hits}/{n} calibration cases agree")
point, hits, n = chrf_pair("en")  # chrF again, at that coverage
print(f"translate_en at that coverage: LOOSE_CHRF {point[0]:g}, STRICT_CHRF {point[1]:g}: {hits}/{n} calibration cases agree")
subset = [c for c in calibration if c["task"] == "summarize"]


def apply_summary(point):
    rubric.STRICT_SUMMARY_CHRF = point[0]


point, hits, n = best([(x,) for x in grid], subset, apply_summary)
print(f"summarize: STRICT_SUMMARY_CHRF {point[0]:g}: {hits}/{n} calibration cases agree")
print(f"all calibration cases: {agree(calibration)}/{len(calibration)} agree with these thresholds")
