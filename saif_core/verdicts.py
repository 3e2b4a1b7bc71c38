"""Claims tested on paired per-item outcomes, each with a three-way verdict.

Every condition of a run is generated on the same evaluation items, so two arms are compared
item by item (paired), never as two bare means. One function per kind of claim, each returning
a :class:`Verdict` (``holds`` / ``contradicted`` / ``inconclusive``, with n, effect, interval,
the test's name and its p-value):

| kind | function | holds | contradicted |
|---|---|---|---|
| A beats B | ``superiority`` | exact McNemar p < ``LEVEL`` and A > B | the 95% interval of A - B lies below ``MARGIN`` (an advantage of ``MARGIN`` or more is excluded) |
| A close to B | ``equivalence`` | the 90% interval of A - B lies inside (-m, m) (TOST at ``LEVEL``) | the 95% interval lies wholly outside [-m, m] |
| rate above t | ``above`` | exact binomial test, greater than t, p < ``LEVEL`` | exact binomial test, less than t, p < ``LEVEL`` |
| it holds on every member | ``every`` | it holds on each (intersection-union; p is the largest) | it is contradicted on one |
| score beats a null | ``exceeds_null`` | empirical p (share of null draws >= the score) < ``LEVEL`` | the score is at or below the null's median |

Anything else is ``inconclusive``: the data allow both. Intervals of paired differences are
``scipy.stats.bootstrap`` percentile intervals (paired resampling of items, ``N_BOOT``
resamples, seeded); when no item differs between the arms, every resample gives 0, so the
interval is instead +-(the Wilson upper bound of a discordance rate of 0 of n), which shrinks
with n as an interval should (the difference of two paired rates never exceeds the share of
items on which they differ). Intervals of one rate are Wilson intervals (statsmodels). Each claim is
tested at ``LEVEL`` on its own; the verdict table makes no correction for multiplicity, and says so.

Example:
    >>> v = superiority("steering beats the original", [1] * 30 + [0] * 70, [1] * 5 + [0] * 95)
    >>> v.verdict, v.n, round(v.effect, 2)
    ('holds', 100, 0.25)
"""
from __future__ import annotations

import dataclasses
import math
from dataclasses import dataclass, field

import numpy as np
from scipy import stats as sps
from statsmodels.stats.contingency_tables import mcnemar
from statsmodels.stats.proportion import proportion_confint
from statsmodels.stats.weightstats import ttost_paired

VERDICTS = ("holds", "contradicted", "inconclusive")
LEVEL = 0.05  # each claim's significance level
MARGIN = 0.05  # superiority: an advantage below this is no advantage worth claiming
EQUIVALENCE_MARGIN = 0.10  # "close to": within 10 accuracy points
N_BOOT = 10_000
MIN_N = 100  # the protocol's evaluation size per arm; smaller tests are flagged in ``note``


@dataclass(frozen=True)
class Verdict:
    """One tested claim: what was compared, on how many items, and what the data say."""

    claim: str
    verdict: str
    n: int
    effect: float
    interval: tuple[float, float]
    test: str
    p: float | None
    arms: dict = field(default_factory=dict)  # each arm's rate (and its interval)
    note: str = ""

    def asdict(self) -> dict:
        out = dataclasses.asdict(self)
        out["interval"] = [round(x, 4) for x in self.interval]
        out["effect"] = round(self.effect, 4)
        out["p"] = None if self.p is None else float(f"{self.p:.4g}")
        return out

    def with_context(self, **context) -> dict:
        """``asdict()`` with context fields first (e.g. ``model``, ``task``, ``notebook``)."""
        return {**context, **self.asdict()}


def _outcomes(x, name: str) -> np.ndarray:
    a = np.asarray(x, dtype=float).ravel()
    if a.size == 0:
        raise ValueError(f"{name}: no outcomes. Fix: pass one 0/1 outcome per evaluation item.")
    if not np.isin(a, (0.0, 1.0)).all():
        raise ValueError(f"{name}: outcomes must be 0/1 (or booleans), got values {sorted(set(a.tolist()) - {0.0, 1.0})[:5]}")
    return a


def _paired(a, b) -> tuple[np.ndarray, np.ndarray]:
    a, b = _outcomes(a, "first arm"), _outcomes(b, "second arm")
    if a.shape != b.shape:
        raise ValueError(f"paired arms need the same items: {a.size} vs {b.size} outcomes. "
                         "Fix: compare runs on the same evaluation items, in the same order.")
    return a, b


def _size_note(n: int) -> str:
    return "" if n >= MIN_N else f"n={n} is below the protocol's {MIN_N} items per arm"


def rate(successes: int, n: int) -> dict:
    """A rate with its Wilson 95% interval: ``{"rate", "interval", "n"}``."""
    if n == 0:
        return {"rate": None, "interval": [0.0, 1.0], "n": 0}
    lo, hi = proportion_confint(successes, n, alpha=0.05, method="wilson")
    return {"rate": successes / n, "interval": [round(float(lo), 4), round(float(hi), 4)], "n": n}


def paired_interval(a, b, confidence: float = 0.95, seed: int = 0) -> tuple[float, float]:
    """Percentile bootstrap interval of mean(a) - mean(b), resampling items in pairs."""
    a, b = _paired(a, b)
    d = a - b
    if np.all(d == 0):  # no discordant item: every resample gives 0, which says nothing of n
        u = float(proportion_confint(0, d.size, alpha=1 - confidence, method="wilson")[1])
        return (-u, u)  # |mean(a) - mean(b)| <= the discordance rate, which is below u
    res = sps.bootstrap((a, b), lambda x, y, axis=-1: x.mean(axis) - y.mean(axis), paired=True, vectorized=True,
                        n_resamples=N_BOOT, confidence_level=confidence, method="percentile",
                        rng=np.random.default_rng(seed))
    ci = res.confidence_interval
    return (float(ci.low), float(ci.high))


def mcnemar_p(a, b) -> float:
    """Exact (binomial) McNemar p-value, two-sided, for paired 0/1 outcomes."""
    a, b = _paired(a, b)
    n10, n01 = int(((a == 1) & (b == 0)).sum()), int(((a == 0) & (b == 1)).sum())
    n11, n00 = int(((a == 1) & (b == 1)).sum()), int(((a == 0) & (b == 0)).sum())
    if n10 + n01 == 0:
        return 1.0
    return float(mcnemar([[n11, n10], [n01, n00]], exact=True).pvalue)


def _arms(a: np.ndarray, b: np.ndarray, names: tuple[str, str]) -> dict:
    return {names[0]: rate(int(a.sum()), a.size), names[1]: rate(int(b.sum()), b.size),
            "discordant": {f"{names[0]} only": int(((a == 1) & (b == 0)).sum()),
                           f"{names[1]} only": int(((a == 0) & (b == 1)).sum())}}


def superiority(claim: str, a, b, margin: float = MARGIN, names: tuple[str, str] = ("a", "b"),
                seed: int = 0) -> Verdict:
    """Does arm ``a`` beat arm ``b`` on the same items? ``a``, ``b``: 0/1 outcome per item."""
    a, b = _paired(a, b)
    effect = float(a.mean() - b.mean())
    lo, hi = paired_interval(a, b, 0.95, seed)
    p = mcnemar_p(a, b)
    if p < LEVEL and effect > 0:
        verdict = "holds"
    elif hi < margin:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return Verdict(claim, verdict, a.size, effect, (lo, hi),
                   f"exact McNemar (two-sided), paired bootstrap 95% interval; contradicted if the interval excludes +{margin:g}",
                   p, _arms(a, b, names), _size_note(a.size))


def equivalence(claim: str, a, b, margin: float = EQUIVALENCE_MARGIN, names: tuple[str, str] = ("a", "b"),
                seed: int = 0) -> Verdict:
    """Is arm ``a`` within ``margin`` of arm ``b`` on the same items (two one-sided tests)?"""
    a, b = _paired(a, b)
    effect = float(a.mean() - b.mean())
    lo90, hi90 = paired_interval(a, b, 0.90, seed)
    lo, hi = paired_interval(a, b, 0.95, seed)
    d = a - b
    p = None if np.all(d == d[0]) else float(ttost_paired(a, b, -margin, margin)[0])
    if -margin < lo90 and hi90 < margin:
        verdict = "holds"
    elif hi < -margin or lo > margin:
        verdict = "contradicted"
    else:
        verdict = "inconclusive"
    return Verdict(claim, verdict, a.size, effect, (lo, hi),
                   f"equivalence within ±{margin:g}: paired bootstrap 90% interval inside the margin (TOST at {LEVEL:g}); "
                   "p from statsmodels' ttost_paired", p, _arms(a, b, names), _size_note(a.size))


def above(claim: str, outcomes, threshold: float) -> Verdict:
    """Is the rate of ``outcomes`` (0/1 per item) above ``threshold``? Exact binomial tests."""
    a = _outcomes(outcomes, "outcomes")
    k, n = int(a.sum()), a.size
    greater = float(sps.binomtest(k, n, threshold, alternative="greater").pvalue)
    less = float(sps.binomtest(k, n, threshold, alternative="less").pvalue)
    verdict = "holds" if greater < LEVEL else "contradicted" if less < LEVEL else "inconclusive"
    r = rate(k, n)
    return Verdict(claim, verdict, n, k / n - threshold, tuple(r["interval"]),
                   f"exact binomial test against {threshold:g} (one-sided, greater; contradicted if significantly less), Wilson 95% interval",
                   greater, {"rate": r}, _size_note(n))


def exceeds_null(claim: str, score: float, null) -> Verdict:
    """Is ``score`` above a null distribution (e.g. the same score of random-latent vectors)?
    The effect is the score minus the null's mean; the interval, on the same scale, is the score
    minus the null's 97.5th and 2.5th percentiles (the score's margin over a typical null draw)."""
    null = np.asarray(null, dtype=float).ravel()
    if null.size < 20:
        raise ValueError(f"a null of {null.size} draws is too small for an empirical p-value. Fix: draw at least 20 (e.g. 200).")
    if not math.isfinite(score):
        raise ValueError(f"score {score!r} is not a finite number")
    p = float((1 + (null >= score).sum()) / (1 + null.size))
    verdict = "holds" if p < LEVEL else "contradicted" if score <= np.median(null) else "inconclusive"
    lo, hi = np.quantile(null, [0.025, 0.975])
    return Verdict(claim, verdict, int(null.size), float(score - null.mean()), (float(score - hi), float(score - lo)),
                   f"empirical p against {null.size} null draws (share at or above the score); contradicted if at or below the null's median",
                   p, {"score": float(score), "null_mean": float(null.mean()), "null_median": float(np.median(null))})


def every(claim: str, verdicts: dict) -> Verdict:
    """One claim over several members (e.g. "SAIF steers at every instruction-tuned size" over
    the models): an intersection-union test. It holds only if it holds on each member (its p is
    the largest member p), is contradicted if one member contradicts it, and is otherwise
    inconclusive; its n, effect and interval are those of the weakest member (lowest effect).
    ``verdicts``: {member name: Verdict}."""
    if not verdicts:
        raise ValueError(f"{claim}: no member verdicts. Fix: pass at least one {{name: Verdict}}.")
    vs = list(verdicts.values())
    verdict = ("holds" if all(v.verdict == "holds" for v in vs)
               else "contradicted" if any(v.verdict == "contradicted" for v in vs) else "inconclusive")
    weakest_name, weakest = min(verdicts.items(), key=lambda kv: kv[1].effect)
    ps = [v.p for v in vs]
    p = None if any(x is None for x in ps) else max(ps)
    return Verdict(claim, verdict, weakest.n, weakest.effect, weakest.interval,
                   f"intersection-union over {', '.join(verdicts)}: holds if it holds on each (p the largest), "
                   f"contradicted if one contradicts it; effect and interval of the weakest ({weakest_name}); "
                   + weakest.test.split(";")[0],
                   p, {name: {"verdict": v.verdict, "effect": round(v.effect, 4), "p": v.p} for name, v in verdicts.items()},
                   weakest.note)


def pooled(*outcome_lists) -> np.ndarray:
    """Concatenate per-task 0/1 outcomes (each list in the same item order for every arm)."""
    return np.concatenate([_outcomes(x, f"list {i}") for i, x in enumerate(outcome_lists)])
