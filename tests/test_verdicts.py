"""Paired statistics and three-way verdicts (saif_core.verdicts), on outcomes whose answer is known."""
import numpy as np
import pytest
from scipy import stats as sps

from saif_core import verdicts as V


def arm(hits: int, n: int, offset: int = 0) -> np.ndarray:
    """n outcomes with ``hits`` ones starting at ``offset`` (so two arms can share or not share items)."""
    a = np.zeros(n)
    a[offset: offset + hits] = 1
    return a


def test_superiority_holds_when_the_gain_is_large_and_paired():
    v = V.superiority("steering beats the original", arm(30, 100), arm(5, 100), names=("steered", "original"))
    assert v.verdict == "holds" and v.n == 100
    assert v.effect == pytest.approx(0.25)
    assert 0 < v.interval[0] < 0.25 < v.interval[1]
    assert v.arms["discordant"] == {"steered only": 25, "original only": 0}
    assert v.p < 1e-6


def test_mcnemar_p_is_the_exact_binomial_test_on_the_discordant_items():
    a = np.r_[np.ones(9), np.zeros(3), np.ones(10), np.zeros(78)]   # 9 a-only, 3 b-only, 10 both
    b = np.r_[np.zeros(9), np.ones(3), np.ones(10), np.zeros(78)]
    assert V.mcnemar_p(a, b) == pytest.approx(sps.binomtest(3, 12, 0.5).pvalue)


def test_six_of_24_against_one_of_24_is_inconclusive():
    # the "several latents are needed" evidence: p ~ 0.06-0.1, an interval reaching past 0.05 and below 0
    v = V.superiority("k=8 beats k=1", arm(6, 24), arm(1, 24))
    assert v.verdict == "inconclusive"
    assert v.p == pytest.approx(0.0625) and v.interval[1] > V.MARGIN
    assert "below the protocol" in v.note


def test_both_arms_at_the_floor_contradict_an_advantage():
    v = V.superiority("steering beats the original", np.zeros(100), np.zeros(100))
    assert v.verdict == "contradicted" and v.p == 1.0
    assert v.interval[0] == -v.interval[1] and 0.03 < v.interval[1] < V.MARGIN  # Wilson bound of 0 discordant of 100


def test_identical_arms_on_few_items_prove_nothing():
    v = V.superiority("steering beats the original", np.zeros(10), np.zeros(10))
    assert v.verdict == "inconclusive" and v.interval[1] > 0.2
    assert V.equivalence("close", np.ones(10), np.ones(10)).verdict == "inconclusive"


def test_a_significantly_worse_arm_contradicts_superiority():
    v = V.superiority("post beats pre", arm(5, 120), arm(30, 120))
    assert v.verdict == "contradicted" and v.effect < 0 and v.interval[1] < 0


def test_equivalence_needs_a_tight_interval():
    same = np.r_[np.ones(30), np.zeros(30)]
    assert V.equivalence("LA close to prompting", same, same.copy()).verdict == "holds"  # no item differs in 60
    rng = np.random.default_rng(1)
    a, b = (rng.random(60) < 0.5).astype(float), (rng.random(60) < 0.5).astype(float)
    v = V.equivalence("LA close to prompting", a, b)  # independent coin flips on 60 items: too wide to tell
    assert v.verdict == "inconclusive" and v.interval[1] - v.interval[0] > 2 * V.EQUIVALENCE_MARGIN
    assert v.p is not None and v.p > V.LEVEL
    big_a, big_b = (rng.random(2000) < 0.5).astype(float), None
    big_b = big_a.copy()
    flip = rng.choice(2000, 60, replace=False)
    big_b[flip] = 1 - big_b[flip]
    assert V.equivalence("close", big_a, big_b).verdict == "holds"


def test_pooled_0_43_against_0_65_contradicts_closeness():
    steered, prompted = arm(215, 500), arm(325, 500)
    v = V.equivalence("steered LA close to prompting", steered, prompted)
    assert v.verdict == "contradicted" and v.interval[1] < -V.EQUIVALENCE_MARGIN
    assert v.effect == pytest.approx(-0.22)


def test_above_threshold_three_ways():
    assert V.above("SA above 30%", np.zeros(60), 0.30).verdict == "contradicted"
    assert V.above("SA above 30%", arm(45, 100), 0.30).verdict == "holds"
    v = V.above("SA above 30%", arm(33, 100), 0.30)
    assert v.verdict == "inconclusive" and v.interval[0] < 0.30 < v.interval[1]
    assert v.effect == pytest.approx(0.03)


def test_exceeds_null():
    null = np.linspace(0, 1, 199)
    v = V.exceeds_null("concept tokens", 2.0, null)
    assert v.verdict == "holds" and v.effect == pytest.approx(1.5) and v.interval == pytest.approx((1.025, 1.975), abs=1e-3)
    assert V.exceeds_null("concept tokens", 0.3, null).verdict == "contradicted"
    assert V.exceeds_null("concept tokens", 0.9, null).verdict == "inconclusive"
    with pytest.raises(ValueError, match="at least 20"):
        V.exceeds_null("x", 1.0, [0.1] * 5)


def test_pooled_concatenates_tasks_in_order():
    assert V.pooled([1, 0], [0, 0, 1]).tolist() == [1, 0, 0, 0, 1]


@pytest.mark.parametrize("a, b, match", [
    ([1, 0, 1], [1, 0], "same items"),
    ([1, 0.5], [1, 0], "0/1"),
    ([], [], "no outcomes"),
])
def test_bad_outcomes_are_named(a, b, match):
    with pytest.raises(ValueError, match=match):
        V.superiority("x", a, b)


def test_verdict_rows_are_json_ready():
    import json
    row = V.superiority("x", arm(30, 100), arm(5, 100)).with_context(model="m", notebook="05")
    assert list(row)[:2] == ["model", "notebook"]
    assert row["verdict"] in V.VERDICTS and len(row["interval"]) == 2
    json.dumps(row)


def test_rate_is_wilson():
    r = V.rate(8, 10)
    assert r["interval"] == [0.4902, 0.9433] and r["rate"] == 0.8


def test_every_is_an_intersection_union_over_its_members():
    superiority = V.superiority
    strong = superiority("s", [1] * 40 + [0] * 60, [1] * 5 + [0] * 95)
    weak = superiority("w", [1] * 8 + [0] * 92, [1] * 5 + [0] * 95)
    floor = superiority("f", [0] * 100, [0] * 100)
    assert strong.verdict == "holds" and weak.verdict == "inconclusive" and floor.verdict == "contradicted"
    both = V.every("steers at every size", {"a": strong, "b": strong})
    assert both.verdict == "holds" and both.p == strong.p
    mixed = V.every("steers at every size", {"a": strong, "b": weak})
    assert mixed.verdict == "inconclusive" and (mixed.effect, mixed.interval) == (weak.effect, weak.interval)
    assert "weakest (b)" in mixed.test and mixed.arms["a"]["verdict"] == "holds"
    assert V.every("x", {"a": strong, "b": floor}).verdict == "contradicted"
    with pytest.raises(ValueError, match="no member verdicts"):
        V.every("x", {})
