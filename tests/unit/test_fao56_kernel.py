"""The fused kernel on a (points, days) grid: equality with eto_daily, NaN handling, validation."""

from __future__ import annotations

import numpy as np
import pytest

from evapo.schema import DailySeries
from evapo.science.daily import STRICT, day_of_year, eto_daily
from evapo.science.kernel import eto_daily_fast

DATES = np.datetime64("2003-12-20") + np.arange(30)
LATS = np.array([-33.9, 0.0, 51.5, 78.2])
ELEVS = np.array([10.0, 2400.0, 35.0, 5.0])


def grid() -> dict[str, np.ndarray]:
    rng = np.random.default_rng(7)
    shape = (LATS.size, DATES.size)
    tmin = rng.uniform(-25.0, 22.0, shape)
    return {
        "tmax_c": tmin + rng.uniform(1.0, 14.0, shape),
        "tmin_c": tmin,
        "rh_mean_pct": rng.uniform(20.0, 100.0, shape),
        "rs_mj_m2": rng.uniform(0.0, 1.0, shape) * 4.0,
        "wind2m_ms": rng.uniform(0.0, 9.0, shape),
    }


def run(g: dict[str, np.ndarray], **kw: object) -> np.ndarray:
    args = {"doy": day_of_year(DATES), "lat_deg": LATS, "elevation_m": ELEVS, **kw}
    return eto_daily_fast(
        g["tmax_c"], g["tmin_c"], g["rh_mean_pct"], g["rs_mj_m2"], g["wind2m_ms"], **args
    )


def test_grid_equals_eto_daily_per_point_including_polar_night() -> None:
    g = grid()
    fast = run(g)
    assert fast.shape == (LATS.size, DATES.size)
    for p in range(LATS.size):
        series = DailySeries(
            dates=DATES, values={k: v[p] for k, v in g.items()}, flags=np.zeros(30, np.uint32)
        )
        ref = eto_daily(series, lat_deg=LATS[p], elevation_m=ELEVS[p], missing=STRICT)
        np.testing.assert_allclose(fast[p], ref.eto, rtol=0, atol=1e-9)
    assert np.all(np.isfinite(fast))  # 78.2 N in December: Rso = 0, Rs/Rso taken as 1


def test_nan_stays_in_its_row() -> None:
    g = grid()
    before = run(g)
    g["rs_mj_m2"][2, 5] = np.nan
    after = run(g)
    assert np.isnan(after[2, 5])
    mask = np.ones_like(after, bool)
    mask[2, 5] = False
    np.testing.assert_array_equal(after[mask], before[mask])


@pytest.mark.parametrize(
    ("change", "message"),
    [
        ({"lat_deg": np.array([0.0, 95.0, 0.0, 0.0])}, "lat_deg"),
        ({"lat_deg": np.array([0.0, 1.0])}, "lat_deg: 2 values for 4 points"),
        ({"elevation_m": np.array([np.nan, 0.0, 0.0, 0.0])}, "elevation_m"),
        ({"doy": np.arange(1, 30)}, "doy: 29 values for 30 days"),
        ({"doy": np.full(30, 367)}, "doy: values must be whole days"),
        ({"humidity_kind": "rh_max"}, "humidity_kind"),
    ],
)
def test_bad_arguments_are_refused(change: dict[str, object], message: str) -> None:
    with pytest.raises(ValueError, match=message):
        run(grid(), **change)


def test_shapes_must_match() -> None:
    g = grid()
    g["tmin_c"] = g["tmin_c"][:, :-1]
    with pytest.raises(ValueError, match="tmin_c: shape"):
        run(g)
    with pytest.raises(ValueError, match="tmax_c: expected"):
        eto_daily_fast(
            np.zeros((1, 1, 1)), 0.0, 0.0, 0.0, 0.0, doy=[1], lat_deg=0.0, elevation_m=0.0
        )


def test_benchmark_runs_small_and_prints_the_contract_line(
    capsys: pytest.CaptureFixture[str],
) -> None:
    """bench.kernel on a tiny grid: agreement checks pass and the last line keeps its format."""
    import re

    from bench.kernel import main

    assert main(["--points", "6", "--days", "400", "--repeat", "1"]) == 0
    lines = capsys.readouterr().out.strip().splitlines()
    assert all("FAIL" not in line for line in lines)
    assert re.fullmatch(
        r"kernel: evapo \d+ rows/s, fastest peer (pyet|refet) \d+ rows/s, ratio \d+\.\d\d",
        lines[-1],
    )
