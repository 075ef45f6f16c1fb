"""FAO-56 chapter 3 missing-data procedures in eto_daily: input order, estimates and flags."""

from __future__ import annotations

import numpy as np
import pytest

from evapo.schema import DailySeries, Flag
from evapo.science import fao56
from evapo.science.daily import (
    FAO56,
    HARGREAVES_FOR_TEMPERATURE_ONLY,
    POLICIES,
    STRICT,
    MissingPolicy,
    eto_daily,
)

NAN = np.nan
LAT, ELEV = 45.72, 200.0


def make(**columns: list[float]) -> DailySeries:
    n = len(next(iter(columns.values())))
    dates = np.datetime64("2001-07-15") + np.arange(n)
    return DailySeries(
        dates=dates,
        values={k: np.array(v, dtype=float) for k, v in columns.items()},
        flags=np.zeros(n, np.uint32),
    )


def ea_of(series: DailySeries, policy: MissingPolicy = FAO56) -> np.ndarray:
    return eto_daily(series, lat_deg=LAT, elevation_m=ELEV, missing=policy).details["ea"]


def test_humidity_order_tdew_then_rh_then_tmin() -> None:
    """FAO-56 order: Tdew (Eq. 14) > RHmax+RHmin (Eq. 17) > RHmax (Eq. 18) > RHmean (Eq. 19)
    > Tmin (Eq. 48)."""
    tx, tn = 25.0, 18.0
    s = make(
        tmax_c=[tx] * 5,
        tmin_c=[tn] * 5,
        tdew_c=[15.0, NAN, NAN, NAN, NAN],
        rh_max_pct=[82.0, 82.0, 82.0, NAN, NAN],
        rh_min_pct=[54.0, 54.0, NAN, 54.0, NAN],
        rh_mean_pct=[68.0, 68.0, 68.0, 68.0, NAN],
        rs_mj_m2=[20.0] * 5,
        wind2m_ms=[2.0] * 5,
    )
    result = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    expected = [
        fao56.actual_vapour_pressure_from_tdew(15.0),
        fao56.actual_vapour_pressure_from_rhmaxmin(tx, tn, 82.0, 54.0),
        fao56.actual_vapour_pressure_from_rhmax(tn, 82.0),
        fao56.actual_vapour_pressure_from_rhmean(tx, tn, 68.0),
        fao56.actual_vapour_pressure_from_tdew(tn),
    ]
    np.testing.assert_array_equal(result.details["ea"], np.array(expected, dtype=float))
    assert [int(f) for f in result.flags] == [0, 0, 0, 0, int(Flag.EA_FROM_TMIN)]


def test_tmin_dew_offset_for_arid_sites() -> None:
    s = make(tmax_c=[35.0], tmin_c=[20.0], rs_mj_m2=[25.0], wind2m_ms=[3.0])
    arid = MissingPolicy(tmin_dew_offset_c=2.0)
    assert ea_of(s, arid)[0] == fao56.saturation_vapour_pressure(18.0)
    assert ea_of(s)[0] == fao56.saturation_vapour_pressure(20.0)


def test_each_estimate_is_flagged_exactly() -> None:
    s = make(
        tmax_c=[26.6, 26.6, 26.6],
        tmin_c=[14.8, 14.8, 14.8],
        rh_mean_pct=[60.0, NAN, 60.0],
        rs_mj_m2=[NAN, 22.0, 22.0],
        wind2m_ms=[2.5, 2.5, NAN],
    )
    result = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    assert [int(f) for f in result.flags] == [
        int(Flag.RS_FROM_TEMPERATURE),
        int(Flag.EA_FROM_TMIN),
        int(Flag.WIND_DEFAULT),
    ]
    d = result.details
    expected_rs = fao56.solar_radiation_from_temperature(d["ra"][0], 26.6, 14.8, 0.16)
    assert d["rs"][0] == expected_rs
    assert d["u2"][2] == 2.0
    assert np.all(np.isfinite(result.eto))


def test_default_wind_is_configurable_or_refused() -> None:
    s = make(tmax_c=[26.6], tmin_c=[14.8], rh_mean_pct=[60.0], rs_mj_m2=[22.0])
    calm = eto_daily(s, lat_deg=LAT, elevation_m=ELEV, missing=MissingPolicy(default_wind_ms=1.0))
    assert calm.details["u2"][0] == 1.0
    none = eto_daily(s, lat_deg=LAT, elevation_m=ELEV, missing=MissingPolicy(default_wind_ms=None))
    assert np.isnan(none.eto[0])
    assert none.flags[0] == Flag.ETO_MISSING


def test_missing_temperature_means_no_eto_and_no_estimate_flags() -> None:
    s = make(tmax_c=[NAN, 26.6], tmin_c=[14.8, 14.8])
    result = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    assert np.isnan(result.eto[0]) and np.isfinite(result.eto[1])
    assert result.flags[0] == Flag.ETO_MISSING


def test_input_flags_are_kept() -> None:
    s = make(tmax_c=[26.6, NAN], tmin_c=[14.8, 14.8])
    s.flags[:] = Flag.GAP_FILLED
    result = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    assert result.flags[0] & Flag.GAP_FILLED and result.flags[0] & Flag.RS_FROM_TEMPERATURE
    assert result.flags[1] == Flag.GAP_FILLED | Flag.ETO_MISSING


def test_hargreaves_only_for_temperature_only_rows() -> None:
    """Under the Hargreaves policy a row with any other input still uses Penman-Monteith."""
    s = make(tmax_c=[26.6, 26.6], tmin_c=[14.8, 14.8], rs_mj_m2=[NAN, 22.0])
    result = eto_daily(s, lat_deg=LAT, elevation_m=ELEV, missing=HARGREAVES_FOR_TEMPERATURE_ONLY)
    ra = result.details["ra"][0]
    assert result.eto[0] == fao56.hargreaves_eto(26.6, 14.8, ra)
    assert result.flags[0] == Flag.HARGREAVES_ET0
    assert result.flags[1] == Flag.EA_FROM_TMIN | Flag.WIND_DEFAULT
    pm = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    assert result.eto[1] == pm.eto[1]


def test_strict_policy_needs_every_input() -> None:
    full = make(
        tmax_c=[26.6, 26.6],
        tmin_c=[14.8, 14.8],
        rh_mean_pct=[60.0, 60.0],
        rs_mj_m2=[22.0, NAN],
        wind2m_ms=[2.0, 2.0],
    )
    result = eto_daily(full, lat_deg=LAT, elevation_m=ELEV, missing=STRICT)
    assert np.isfinite(result.eto[0]) and result.flags[0] == 0
    assert np.isnan(result.eto[1]) and result.flags[1] == Flag.ETO_MISSING


def test_observed_tmean_option() -> None:
    s = make(tmax_c=[30.0, 30.0], tmin_c=[16.0, 16.0], tmean_c=[21.0, NAN])
    standard = eto_daily(s, lat_deg=LAT, elevation_m=ELEV)
    assert list(standard.details["tmean"]) == [23.0, 23.0]
    observed = eto_daily(
        s, lat_deg=LAT, elevation_m=ELEV, missing=MissingPolicy(use_observed_tmean=True)
    )
    assert list(observed.details["tmean"]) == [21.0, 23.0]
    assert not observed.flags[0] & Flag.TMEAN_FROM_MINMAX
    assert observed.flags[1] & Flag.TMEAN_FROM_MINMAX


def test_per_row_site_arrays() -> None:
    """Latitude and elevation may vary per row (a series of points)."""
    s = make(tmax_c=[26.6, 26.6], tmin_c=[14.8, 14.8])
    both = eto_daily(s, lat_deg=np.array([45.72, -10.0]), elevation_m=np.array([200.0, 0.0]))
    first = eto_daily(make(tmax_c=[26.6], tmin_c=[14.8]), lat_deg=45.72, elevation_m=200.0)
    assert both.eto[0] == first.eto[0]
    assert both.details["pressure"][1] == fao56.atmospheric_pressure(0.0)


def test_named_policies_and_validation() -> None:
    assert POLICIES == {
        "fao56": FAO56,
        "hargreaves": HARGREAVES_FOR_TEMPERATURE_ONLY,
        "strict": STRICT,
    }
    with pytest.raises(ValueError, match="temperature_only"):
        MissingPolicy(temperature_only="guess")  # type: ignore[arg-type]
    with pytest.raises(ValueError, match="elevation_m"):
        eto_daily(make(tmax_c=[1.0], tmin_c=[0.0]), lat_deg=0.0, elevation_m=float("nan"))
    with pytest.raises(ValueError, match=r"lat_deg: give one value or one per row \(2\)"):
        eto_daily(make(tmax_c=[1.0, 2.0], tmin_c=[0.0, 0.0]), lat_deg=np.zeros(3), elevation_m=0.0)
