"""Properties of the ASCE daily and hourly computations over random valid inputs (hypothesis)."""

from __future__ import annotations

import numpy as np
from hypothesis import given, settings
from hypothesis import strategies as st

from evapo.schema import DailySeries
from evapo.science import asce
from evapo.science.daily import STRICT

DAY = st.fixed_dictionaries(
    {
        "tmin": st.floats(-30.0, 30.0),
        "range": st.floats(0.5, 25.0),
        "rh": st.floats(5.0, 100.0),
        "wind": st.floats(0.0, 15.0),
        "rs_frac": st.floats(0.05, 1.0),
        "doy": st.integers(0, 364),
    }
)


def _series(days: list[dict[str, float]]) -> DailySeries:
    n = len(days)
    dates = np.datetime64("2015-01-01") + np.array([int(d["doy"]) for d in days]).astype(
        "timedelta64[D]"
    )
    tmin = np.array([d["tmin"] for d in days])
    return DailySeries(
        dates=dates,
        values={
            "tmin_c": tmin,
            "tmax_c": tmin + np.array([d["range"] for d in days]),
            "rh_mean_pct": np.array([d["rh"] for d in days]),
            "wind2m_ms": np.array([d["wind"] for d in days]),
            # Rs as a fraction of a generous clear-sky bound; the ratio is limited anyway.
            "rs_mj_m2": 35.0 * np.array([d["rs_frac"] for d in days]),
        },
        flags=np.zeros(n, np.uint32),
    )


@settings(max_examples=25, deadline=None)
@given(
    days=st.lists(DAY, min_size=1, max_size=8),
    lat=st.floats(-60.0, 60.0),
    elev=st.floats(-100.0, 4000.0),
    reference=st.sampled_from(["short", "tall"]),
    rso=st.sampled_from(["simple", "full"]),
    constants=st.sampled_from(["asce", "refet"]),
)
def test_daily_finite_and_row_independent(
    *,
    days: list[dict[str, float]],
    lat: float,
    elev: float,
    reference: str,
    rso: str,
    constants: str,
) -> None:
    series = _series(days)
    kwargs = {
        "lat_deg": lat,
        "elevation_m": elev,
        "reference": reference,
        "rso": rso,
        "constants": constants,
        "missing": STRICT,
    }
    whole = asce.eto_asce_daily(series, **kwargs)  # type: ignore[arg-type]
    assert np.isfinite(whole.eto).all()
    assert (whole.details["vpd"] >= 0.0).all()
    for i in range(len(series)):
        one = DailySeries(
            dates=series.dates[i : i + 1],
            values={k: v[i : i + 1] for k, v in series.values.items()},
            flags=series.flags[i : i + 1],
        )
        assert asce.eto_asce_daily(one, **kwargs).eto[0] == whole.eto[i]  # type: ignore[arg-type]


@settings(max_examples=25, deadline=None)
@given(
    hours=st.integers(1, 72),
    start=st.integers(0, 364 * 24),
    lat=st.floats(-66.0, 66.0),
    lon=st.floats(-180.0, 180.0),
    reference=st.sampled_from(["short", "tall"]),
    rso=st.sampled_from(["simple", "full"]),
    night=st.sampled_from(["previous", "one"]),
)
def test_hourly_finite_and_bounded(
    *, hours: int, start: int, lat: float, lon: float, reference: str, rso: str, night: str
) -> None:
    times = np.datetime64("2015-01-01T00:00", "s") + (start + np.arange(hours)) * np.timedelta64(
        1, "h"
    )
    phase = np.sin(np.arange(hours) * np.pi / 12.0)
    r = asce.eto_asce_hourly(
        times,
        tmean_c=15.0 + 8.0 * phase,
        rs_mj_m2=np.clip(2.5 * phase, 0.0, None),
        wind2m_ms=np.full(hours, 2.5),
        rh_pct=np.full(hours, 45.0),
        lat_deg=lat,
        lon_deg=lon,
        elevation_m=300.0,
        reference=reference,  # type: ignore[arg-type]
        rso=rso,  # type: ignore[arg-type]
        night_cloudiness=night,  # type: ignore[arg-type]
    )
    assert np.isfinite(r.eto).all()
    ratio = r.details["rs_rso"]
    assert ((ratio >= 0.3 - 1e-12) & (ratio <= 1.0)).all()
    assert (r.details["ra"] >= 0.0).all()
    coef = asce.HOURLY_COEFFICIENTS[reference]
    assert set(np.unique(r.details["cd"])) <= {coef.cd_day, coef.cd_night}
