"""Hourly FAO-56 Penman-Monteith (Eq. 53) through eto_hourly."""

from __future__ import annotations

import numpy as np
import pytest

from evapo.schema import Flag
from evapo.science.hourly import NIGHT_RATIO_DEFAULT, eto_hourly

LAT = 16.0 + 13.0 / 60.0  # N'Diaye, Senegal
LON = -16.25


def test_example_19_in_utc() -> None:
    """Example 19 (1 October, 8 m): 0.63 mm/h at 14-15 h and 0.0 at 02-03 h local clock time.

    The example's clock runs on a time zone centred at 15 deg W (UTC-1), so its 14:30 and
    02:30 are 15:30 and 03:30 UTC.
    """
    times = np.array(["2001-10-01T03:30", "2001-10-01T15:30"], dtype="datetime64[s]")
    r = eto_hourly(
        times,
        t_c=[28.0, 38.0],
        rh_pct=[90.0, 52.0],
        wind2m_ms=[1.9, 3.3],
        rs_mj_m2=[0.0, 2.450],
        lat_deg=LAT,
        lon_deg=LON,
        elevation_m=8.0,
    )
    d = r.details
    assert abs(r.eto[1] - 0.63) <= 0.005
    assert abs(r.eto[0]) <= 0.005
    assert abs(d["ra"][1] - 3.543) <= 0.0005 and d["ra"][0] == 0.0
    assert abs(d["rs_rso"][1] - 0.922) <= 0.0005
    assert d["rs_rso"][0] == NIGHT_RATIO_DEFAULT
    assert abs(d["rn"][1] - 1.749) <= 0.0005 and abs(d["rn"][0] + 0.100) <= 0.0005
    assert d["g"][1] == pytest.approx(0.1 * d["rn"][1]) and d["g"][0] == pytest.approx(
        0.5 * d["rn"][0]
    )
    assert np.all(r.flags == 0)


def test_night_ratio_carried_from_two_hours_before_sunset() -> None:
    """Hours in the evening and night reuse the last reliable daytime Rs/Rso."""
    times = np.datetime64("2001-10-01T00:30") + np.arange(48) * np.timedelta64(1, "h")
    hour = np.arange(48) % 24 + 0.5
    t = 28.0 + 6.0 * np.sin((hour - 9.0) * np.pi / 12.0)
    rs = np.clip(3.0 * np.sin((hour - 7.0) * np.pi / 12.0), 0.0, None) * 0.9
    r = eto_hourly(
        times,
        t_c=t,
        rh_pct=60.0,
        wind2m_ms=2.0,
        rs_mj_m2=rs,
        lat_deg=LAT,
        lon_deg=LON,
        elevation_m=8.0,
    )
    ratio = r.details["rs_rso"]
    day = r.details["ra"] > 0
    assert np.all(ratio[:6] == NIGHT_RATIO_DEFAULT)  # first night: nothing measured yet
    night2 = ~day & (np.arange(48) >= 24) & (np.arange(48) < 30)
    evening = np.flatnonzero(~day & (np.arange(48) < 24) & (np.arange(48) > 12))
    assert np.all(ratio[night2] == ratio[evening[0]])
    assert ratio[evening[0]] != NIGHT_RATIO_DEFAULT
    assert np.all(np.isfinite(r.eto))
    assert np.sum(r.eto[:24]) > 3.0
    assert np.all(r.eto[~day] < 0.1)


def test_missing_hour_stays_local_and_bad_times_are_refused() -> None:
    times = np.array(["2001-10-01T14:30", "2001-10-01T15:30"], dtype="datetime64[s]")
    r = eto_hourly(
        times,
        t_c=[37.0, np.nan],
        rh_pct=[52.0, 52.0],
        wind2m_ms=[3.3, 3.3],
        rs_mj_m2=[2.4, 2.4],
        lat_deg=LAT,
        lon_deg=LON,
        elevation_m=8.0,
    )
    assert np.isfinite(r.eto[0]) and np.isnan(r.eto[1])
    assert r.flags[1] == Flag.ETO_MISSING
    with pytest.raises(ValueError, match="increasing"):
        eto_hourly(
            times[::-1],
            t_c=30.0,
            rh_pct=50.0,
            wind2m_ms=2.0,
            rs_mj_m2=1.0,
            lat_deg=LAT,
            lon_deg=LON,
            elevation_m=8.0,
        )
    with pytest.raises(ValueError, match="lon_deg"):
        eto_hourly(
            times,
            t_c=30.0,
            rh_pct=50.0,
            wind2m_ms=2.0,
            rs_mj_m2=1.0,
            lat_deg=LAT,
            lon_deg=400.0,
            elevation_m=8.0,
        )
