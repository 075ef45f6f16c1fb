"""Scores against hand-computed values."""

from __future__ import annotations

import math

import numpy as np
import pytest

from evapo.science import metrics


def test_perfect_simulation_scores_ideal() -> None:
    obs = np.array([1.0, 2.0, 3.0, 4.0, 5.0])
    s = metrics.score(obs, obs, obs - 0.1, obs + 0.1)
    assert s["KGE"] == pytest.approx(1.0)
    assert s["NSE"] == pytest.approx(1.0)
    assert s["R2"] == pytest.approx(1.0)
    assert s["MAE"] == 0.0
    assert s["RMSE"] == 0.0
    assert s["PBIAS"] == 0.0
    assert s["coverage"] == 1.0


def test_hand_computed_values() -> None:
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    sim = np.array([2.0, 2.0, 4.0, 4.0])
    # errors 1, 0, 1, 0
    assert metrics.mae(sim, obs) == pytest.approx(0.5)
    assert metrics.rmse(sim, obs) == pytest.approx(math.sqrt(0.5))
    assert metrics.pbias(sim, obs) == pytest.approx(100 * 2 / 10)
    # NSE = 1 - 2 / 5 (sum of squared deviations of obs from 2.5 is 5)
    assert metrics.nse(sim, obs) == pytest.approx(0.6)
    r = np.corrcoef(sim, obs)[0, 1]
    assert metrics.r2(sim, obs) == pytest.approx(r**2)
    alpha = sim.std() / obs.std()
    beta = sim.mean() / obs.mean()
    expected = 1 - math.sqrt((r - 1) ** 2 + (alpha - 1) ** 2 + (beta - 1) ** 2)
    assert metrics.kge(sim, obs) == pytest.approx(expected)


def test_pbias_sign_and_scale_invariance() -> None:
    obs = np.array([3.0, 4.0, 5.0])
    assert metrics.pbias(obs * 1.1, obs) == pytest.approx(10.0)
    assert metrics.pbias(obs * 0.9, obs) == pytest.approx(-10.0)
    # KGE of a 10 % overestimate: r = 1, alpha = 1.1, beta = 1.1.
    assert metrics.kge(obs * 1.1, obs) == pytest.approx(1 - math.sqrt(0.02))


def test_missing_days_are_skipped() -> None:
    obs = np.array([1.0, np.nan, 3.0, 4.0])
    sim = np.array([1.0, 9.0, np.nan, 5.0])
    assert metrics.mae(sim, obs) == pytest.approx(0.5)  # days 0 and 3 only


def test_coverage_counts_inside_band() -> None:
    obs = np.array([1.0, 2.0, 3.0, 4.0])
    lo = np.array([0.5, 2.5, 2.0, 3.0])
    hi = np.array([1.5, 3.0, 3.0, 3.5])
    assert metrics.coverage(obs, lo, hi) == pytest.approx(0.5)


def test_bad_input_is_explained() -> None:
    with pytest.raises(ValueError, match="shape"):
        metrics.mae(np.ones(3), np.ones(4))
    with pytest.raises(ValueError, match="no day"):
        metrics.mae(np.array([np.nan]), np.array([1.0]))


def test_mean_scores_skip_missing() -> None:
    per_city = {
        "a": {name: 1.0 for name in metrics.SCORES},
        "b": {**{name: 3.0 for name in metrics.SCORES}, "coverage": float("nan")},
    }
    mean = metrics.mean_scores(per_city)
    assert mean["KGE"] == 2.0
    assert mean["coverage"] == 1.0
