"""Physical-range checks: rejected values become NaN and are reported, suspect ones are kept."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest

from evapo.schema import DailySeries, Flag
from evapo.science.quality import QCRules, check_daily

DATES = np.arange("2001-07-01", "2001-07-06", dtype="datetime64[D]")


def series(**columns: list[float]) -> DailySeries:
    n = len(DATES)
    values = {k: np.array(v, dtype=float) for k, v in columns.items()}
    for v in values.values():
        assert len(v) == n
    return DailySeries(dates=DATES, values=values, flags=np.zeros(n, np.uint32), source="test")


GOOD = {
    "tmax_c": [30.0, 31.0, 29.0, 28.0, 30.0],
    "tmin_c": [18.0, 19.0, 17.0, 16.0, 18.0],
    "rh_mean_pct": [60.0, 55.0, 70.0, 65.0, 50.0],
    "wind2m_ms": [2.0, 3.0, 1.5, 2.5, 2.0],
    "rs_mj_m2": [20.0, 22.0, 18.0, 15.0, 21.0],
    "precip_mm": [0.0, 0.0, 5.0, 12.0, 0.0],
}


def check(**changes: list[float]) -> tuple[DailySeries, DailySeries, list[str]]:
    raw = series(**{**GOOD, **changes})
    report = check_daily(raw, lat_deg=45.7, elevation_m=200.0)
    return report.series, report.raw, [str(i) for i in report.issues]


def test_clean_series_passes_unchanged() -> None:
    raw = series(**GOOD)
    report = check_daily(raw, lat_deg=45.7, elevation_m=200.0)
    assert report.issues == []
    assert np.all(report.series.flags == 0)
    for col, values in raw.values.items():
        np.testing.assert_array_equal(report.series.values[col], values)
    assert report.series is not raw


def test_tmax_below_tmin_rejects_both_and_keeps_raw() -> None:
    clean, raw, issues = check(tmax_c=[30.0, 10.0, 29.0, 28.0, 30.0])
    assert np.isnan(clean["tmax_c"][1]) and np.isnan(clean["tmin_c"][1])
    assert raw["tmax_c"][1] == 10.0  # the input is never altered
    assert clean.flags[1] == Flag.QC_REJECTED
    assert np.all(clean.flags[[0, 2, 3, 4]] == 0)
    assert issues == [
        "2001-07-02 tmax_c=10: tmax_c below tmin_c (rejected)",
        "2001-07-02 tmin_c=19: tmin_c above tmax_c (rejected)",
    ]


@pytest.mark.parametrize(
    ("column", "bad", "rule"),
    [
        ("rh_mean_pct", 104.0, "outside [0, 100] %"),
        ("rh_mean_pct", -3.0, "outside [0, 100] %"),
        ("wind2m_ms", -0.5, "negative wind speed"),
        ("wind2m_ms", 55.0, "above 40 m/s"),
        ("tmin_c", -120.0, "outside [-90, 60] degC"),
        ("tmax_c", 75.0, "outside [-90, 60] degC"),
        ("rs_mj_m2", -1.0, "negative solar radiation"),
        ("rs_mj_m2", 60.0, "above extraterrestrial radiation Ra (Eq. 21)"),
        ("precip_mm", -2.0, "negative precipitation"),
    ],
)
def test_impossible_values_are_rejected(column: str, bad: float, rule: str) -> None:
    values = list(GOOD[column])
    values[3] = bad
    clean, _, issues = check(**{column: values})
    assert np.isnan(clean[column][3])
    assert clean.flags[3] & Flag.QC_REJECTED
    assert f"2001-07-04 {column}={bad:g}: {rule} (rejected)" in issues


def test_rs_slightly_above_rso_is_suspect_and_kept() -> None:
    # Lyon, early July: Ra about 40.8, Rso about 30.8 MJ m-2 day-1.
    clean, _, issues = check(rs_mj_m2=[20.0, 33.5, 18.0, 15.0, 21.0])
    assert clean["rs_mj_m2"][1] == 33.5
    assert clean.flags[1] == Flag.QC_SUSPECT
    assert issues == ["2001-07-02 rs_mj_m2=33.5: above 1.05 x clear-sky Rso (Eq. 37) (suspect)"]


def test_humidity_consistency() -> None:
    clean, _, issues = check(
        rh_max_pct=[90.0, 40.0, 95.0, 90.0, 85.0],
        rh_min_pct=[40.0, 60.0, 50.0, 45.0, 30.0],
        rh_mean_pct=[60.0, 50.0, 99.0, 65.0, 50.0],
    )
    assert np.isnan(clean["rh_max_pct"][1]) and np.isnan(clean["rh_min_pct"][1])
    assert clean["rh_mean_pct"][2] == 99.0
    assert clean.flags[2] == Flag.QC_SUSPECT
    assert "2001-07-03 rh_mean_pct=99: rh_mean_pct outside [rh_min_pct, rh_max_pct] (suspect)" in (
        issues
    )


def test_dew_point_and_tmean() -> None:
    clean, _, issues = check(
        tdew_c=[15.0, 35.0, 12.0, 14.0, 13.0], tmean_c=[24.0, 25.0, 35.0, 22.0, 24.0]
    )
    assert np.isnan(clean["tdew_c"][1])
    assert clean["tmean_c"][2] == 35.0
    assert "2001-07-02 tdew_c=35: dew point above tmax_c (rejected)" in issues
    assert "2001-07-03 tmean_c=35: tmean_c outside [tmin_c, tmax_c] (suspect)" in issues


def test_rules_are_configurable() -> None:
    raw = series(**{**GOOD, "wind2m_ms": [2.0, 12.0, 1.5, 2.5, 2.0]})
    strict = check_daily(raw, lat_deg=45.7, elevation_m=200.0, rules=QCRules(wind_suspect_ms=10))
    assert [str(i) for i in strict.suspect] == ["2001-07-02 wind2m_ms=12: above 10 m/s (suspect)"]
    assert check_daily(raw, lat_deg=45.7, elevation_m=200.0).issues == []


def test_missing_values_are_not_findings() -> None:
    clean, _, issues = check(wind2m_ms=[np.nan] * 5, rs_mj_m2=[np.nan, 20.0, np.nan, 15.0, 21.0])
    assert issues == []
    assert np.all(clean.flags == 0)


def test_bad_site_is_refused() -> None:
    with pytest.raises(ValueError, match="lat_deg"):
        check_daily(series(**GOOD), lat_deg=-95.0, elevation_m=0.0)


def test_real_nasa_power_series_has_no_rejections(shared_data: Path) -> None:
    """30 years of NASA POWER at Barreiras: reanalysis values stay inside physical limits."""
    df = pd.read_csv(shared_data / "nasa_power" / "Barreiras_BA.csv")
    raw = DailySeries(
        dates=pd.to_datetime(df["date"]).to_numpy().astype("datetime64[D]"),
        values={
            "tmax_c": df["T2M_MAX"].to_numpy(float),
            "tmin_c": df["T2M_MIN"].to_numpy(float),
            "tmean_c": df["T2M"].to_numpy(float),
            "rh_mean_pct": df["RH2M"].to_numpy(float),
            "wind2m_ms": df["WS2M"].to_numpy(float),
            "rs_mj_m2": df["ALLSKY_SFC_SW_DWN"].to_numpy(float),
            "precip_mm": df["PRECTOTCORR"].to_numpy(float),
        },
        flags=np.zeros(len(df), np.uint32),
    )
    report = check_daily(raw, lat_deg=-12.14, elevation_m=442.0)
    assert report.rejected == []
    assert len(report.suspect) < 0.01 * len(df)


def test_polar_night_radiation_margin() -> None:
    """At 78 N in December Ra = 0: a trace of Rs is suspect, more than 0.5 MJ is rejected."""
    dates = np.arange("2001-12-20", "2001-12-22", dtype="datetime64[D]")
    raw = DailySeries(
        dates=dates,
        values={"rs_mj_m2": np.array([0.3, 1.0])},
        flags=np.zeros(2, np.uint32),
    )
    report = check_daily(raw, lat_deg=78.2, elevation_m=10.0)
    assert [i.action for i in report.issues] == ["suspect", "rejected"]
    assert report.series["rs_mj_m2"][0] == 0.3 and np.isnan(report.series["rs_mj_m2"][1])
