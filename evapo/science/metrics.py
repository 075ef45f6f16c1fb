"""Goodness-of-fit scores of a simulated daily series against an observed one.

Every score ignores days where either series is missing (NaN). Definitions:
R2 is Pearson's r squared; KGE is the 2009 form (Gupta et al., 2009),
``1 - sqrt((r - 1)^2 + (alpha - 1)^2 + (beta - 1)^2)`` with ``alpha = sd_sim / sd_obs`` and
``beta = mean_sim / mean_obs``; NSE is Nash-Sutcliffe efficiency; PBIAS is
``100 * sum(sim - obs) / sum(obs)``; coverage is the fraction of observed values inside
``[lo, hi]``.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from evapo.schema import FloatArray

SCORES: tuple[str, ...] = ("KGE", "MAE", "R2", "NSE", "RMSE", "PBIAS", "coverage")


def _pair(sim: ArrayLike, obs: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Both series as float arrays restricted to days where both are present."""
    s = np.asarray(sim, dtype=np.float64)
    o = np.asarray(obs, dtype=np.float64)
    if s.shape != o.shape:
        raise ValueError(f"sim has shape {s.shape} but obs has {o.shape}")
    ok = np.isfinite(s) & np.isfinite(o)
    if not ok.any():
        raise ValueError("no day has both a simulated and an observed value")
    return s[ok], o[ok]


def pearson_r(sim: ArrayLike, obs: ArrayLike) -> float:
    """Pearson correlation coefficient [-]."""
    s, o = _pair(sim, obs)
    ds, do = s - s.mean(), o - o.mean()
    den = float(np.sqrt((ds * ds).sum() * (do * do).sum()))
    return float((ds * do).sum() / den) if den > 0 else float("nan")


def r2(sim: ArrayLike, obs: ArrayLike) -> float:
    """Coefficient of determination as Pearson r squared [-]."""
    return pearson_r(sim, obs) ** 2


def kge(sim: ArrayLike, obs: ArrayLike) -> float:
    """Kling-Gupta efficiency, 2009 form [-] (1 is perfect)."""
    s, o = _pair(sim, obs)
    r = pearson_r(s, o)
    alpha = float(s.std() / o.std())
    beta = float(s.mean() / o.mean())
    return float(1.0 - np.sqrt((r - 1.0) ** 2 + (alpha - 1.0) ** 2 + (beta - 1.0) ** 2))


def nse(sim: ArrayLike, obs: ArrayLike) -> float:
    """Nash-Sutcliffe efficiency [-] (1 is perfect)."""
    s, o = _pair(sim, obs)
    return float(1.0 - ((s - o) ** 2).sum() / ((o - o.mean()) ** 2).sum())


def mae(sim: ArrayLike, obs: ArrayLike) -> float:
    """Mean absolute error [units of the series]."""
    s, o = _pair(sim, obs)
    return float(np.abs(s - o).mean())


def rmse(sim: ArrayLike, obs: ArrayLike) -> float:
    """Root-mean-square error [units of the series]."""
    s, o = _pair(sim, obs)
    return float(np.sqrt(((s - o) ** 2).mean()))


def pbias(sim: ArrayLike, obs: ArrayLike) -> float:
    """Percent bias [%]: ``100 * sum(sim - obs) / sum(obs)``; positive means overestimation."""
    s, o = _pair(sim, obs)
    return float(100.0 * (s - o).sum() / o.sum())


def coverage(obs: ArrayLike, lo: ArrayLike, hi: ArrayLike) -> float:
    """Fraction of observed values inside the band ``[lo, hi]`` [-]."""
    o = np.asarray(obs, dtype=np.float64)
    lo_a = np.asarray(lo, dtype=np.float64)
    hi_a = np.asarray(hi, dtype=np.float64)
    ok = np.isfinite(o) & np.isfinite(lo_a) & np.isfinite(hi_a)
    if not ok.any():
        raise ValueError("no day has an observation and both band limits")
    inside = (o[ok] >= lo_a[ok]) & (o[ok] <= hi_a[ok])
    return float(inside.mean())


def score(
    sim: ArrayLike,
    obs: ArrayLike,
    lo: ArrayLike | None = None,
    hi: ArrayLike | None = None,
) -> dict[str, float]:
    """Every score of :data:`SCORES`; ``coverage`` is NaN when no band is given."""
    s, o = _pair(sim, obs)
    out = {
        "KGE": kge(s, o),
        "MAE": mae(s, o),
        "R2": r2(s, o),
        "NSE": nse(s, o),
        "RMSE": rmse(s, o),
        "PBIAS": pbias(s, o),
        "coverage": float("nan"),
    }
    if lo is not None and hi is not None:
        out["coverage"] = coverage(obs, lo, hi)
    return out


def mean_scores(per_city: dict[str, dict[str, float]]) -> dict[str, float]:
    """Mean of per-city scores (NaN scores are skipped; NaN when no city has the score)."""
    out: dict[str, float] = {}
    for name in SCORES:
        vals = np.array([c[name] for c in per_city.values() if np.isfinite(c.get(name, np.nan))])
        out[name] = float(vals.mean()) if vals.size else float("nan")
    return out
