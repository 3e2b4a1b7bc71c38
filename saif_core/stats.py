"""Accuracies with intervals, and agreement tables: the statistics every judged run reports.

Example:
    >>> accuracy(["strict", "loose", "fail", "strict"])["loose"]
    0.75
"""
from __future__ import annotations

import math
from collections import Counter

from .rubric import LABELS


def wilson_interval(successes: int, n: int, z: float = 1.96) -> tuple[float, float]:
    """Wilson score interval for a proportion (95% by default); (0, 1) when n is 0.

    >>> [round(x, 3) for x in wilson_interval(8, 10)]
    [0.49, 0.943]
    """
    if n == 0:
        return (0.0, 1.0)
    p = successes / n
    centre = (p + z * z / (2 * n)) / (1 + z * z / n)
    half = z * math.sqrt(p * (1 - p) / n + z * z / (4 * n * n)) / (1 + z * z / n)
    return (max(0.0, centre - half), min(1.0, centre + half))


def accuracy(labels) -> dict:
    """Strict accuracy (SA: share labelled strict) and loose accuracy (LA: share labelled
    strict *or* loose, so LA >= SA), with Wilson 95% intervals. None when there are no labels.

    >>> accuracy(["strict", "loose", "fail", "fail"])
    {'n': 4, 'strict': 0.25, 'loose': 0.5, 'strict_ci': (0.045..., 0.699...), 'loose_ci': (0.150..., 0.849...)}
    """
    labels = [getattr(x, "label", x) for x in labels]
    unknown = set(labels) - set(LABELS)
    if unknown:
        raise ValueError(f"unknown label(s) {sorted(unknown)}; labels are {', '.join(LABELS)}")
    n = len(labels)
    strict = labels.count("strict")
    loose = strict + labels.count("loose")
    if n == 0:
        return {"n": 0, "strict": None, "loose": None, "strict_ci": None, "loose_ci": None}
    return {"n": n, "strict": strict / n, "loose": loose / n,
            "strict_ci": wilson_interval(strict, n), "loose_ci": wilson_interval(loose, n)}


def accuracy_by(records, key: str = "condition", label_key: str = "label") -> dict:
    """:func:`accuracy` per value of ``records[i][key]`` (e.g. original / prompted / steered).

    >>> accuracy_by([{"condition": "steered", "label": "loose"}])["steered"]["loose"]
    1.0
    """
    groups: dict = {}
    for record in records:
        groups.setdefault(record[key], []).append(record[label_key])
    return {value: accuracy(labels) for value, labels in groups.items()}


def confusion_matrix(expected, predicted, labels=LABELS) -> str:
    """A plain-text confusion matrix, rows expected, columns predicted.

    >>> print(confusion_matrix(["strict", "fail"], ["strict", "loose"]))
    expected \\ judged  strict  loose   fail
    strict                 1      0      0
    loose                  0      0      0
    fail                   0      1      0
    """
    counts = Counter(zip(expected, predicted))
    lines = ["expected \\ judged " + "".join(f"{label:>7}" for label in labels)]
    lines += [f"{row:<17}" + "".join(f"{counts[(row, col)]:>7}" for col in labels) for row in labels]
    return "\n".join(lines)
