"""FAO-56 worked examples (Allen et al., 1998) reproduced at their printed precision.

Each test cites the example; every intermediate the example prints is checked to half a unit
of its last printed digit.
"""

from __future__ import annotations

import numpy as np
import pytest

from evapo.schema import DailySeries, Flag
from evapo.science import fao56 as f
from evapo.science.daily import (
    HARGREAVES_FOR_TEMPERATURE_ONLY,
    STRICT,
    MissingPolicy,
    eto_daily,
)


def printed(value: object, expected: float, decimals: int) -> None:
    """``value`` rounds to ``expected`` at the example's printed precision."""
    got = float(np.asarray(value))
    assert abs(got - expected) <= 0.5 * 10.0**-decimals + 1e-12, (got, expected)


def one_day(date: str, **values: float) -> DailySeries:
    return DailySeries(
        dates=np.array([date], dtype="datetime64[D]"),
        values={k: np.array([v]) for k, v in values.items()},
        flags=np.zeros(1, np.uint32),
    )


def test_example_2_atmospheric_parameters() -> None:
    """Example 2: 1800 m gives P = 81.8 kPa and gamma = 0.054 kPa/degC."""
    p = f.atmospheric_pressure(1800.0)
    printed(p, 81.8, 1)
    printed(f.psychrometric_constant(p), 0.054, 3)


def test_example_3_mean_saturation_vapour_pressure() -> None:
    """Example 3: Tmax 24.5, Tmin 15 degC give e0 3.075, 1.705 and es 2.39 kPa."""
    printed(f.saturation_vapour_pressure(24.5), 3.075, 3)
    printed(f.saturation_vapour_pressure(15.0), 1.705, 3)
    printed(f.mean_saturation_vapour_pressure(24.5, 15.0), 2.39, 2)


def test_example_4_psychrometer() -> None:
    """Example 4: 1200 m, Tdry 25.6, Twet 19.5 degC, Asmann psychrometer: P 87.9, ea 1.91 kPa."""
    p = f.atmospheric_pressure(1200.0)
    printed(p, 87.9, 1)
    gpsy = f.psychrometer_coefficient_constant(p, 0.000662)
    printed(gpsy, 0.0582, 4)
    printed(f.saturation_vapour_pressure(19.5), 2.267, 3)
    printed(f.actual_vapour_pressure_from_psychrometer(25.6, 19.5, gpsy), 1.91, 2)


def test_example_5_vapour_pressure_from_rh() -> None:
    """Example 5: Tmin 18, Tmax 25 degC, RHmax 82, RHmin 54 %: ea 1.70 (Eq. 17),
    1.69 (Eq. 18, RHmax only), 1.78 (Eq. 19, RHmean 68 %)."""
    printed(f.saturation_vapour_pressure(18.0), 2.064, 3)
    printed(f.saturation_vapour_pressure(25.0), 3.168, 3)
    printed(f.actual_vapour_pressure_from_rhmaxmin(25.0, 18.0, 82.0, 54.0), 1.70, 2)
    printed(f.actual_vapour_pressure_from_rhmax(18.0, 82.0), 1.69, 2)
    printed(f.actual_vapour_pressure_from_rhmean(25.0, 18.0, 68.0), 1.78, 2)


def test_example_8_extraterrestrial_radiation() -> None:
    """Example 8: 20 degS on 3 September (J 246): dr 0.985, delta 0.120, ws 1.527, Ra 32.2."""
    lat = np.deg2rad(-20.0)
    printed(f.inverse_relative_distance(246), 0.985, 3)
    decl = f.solar_declination(246)
    printed(decl, 0.120, 3)
    printed(f.sunset_hour_angle(lat, decl), 1.527, 3)
    ra = f.extraterrestrial_radiation_daily(lat, 246)
    printed(ra, 32.2, 1)
    printed(f.MJ_TO_MM * ra, 13.1, 1)


def test_example_9_daylight_hours() -> None:
    """Example 9: 20 degS on 3 September: N = 11.7 hours."""
    ws = f.sunset_hour_angle(np.deg2rad(-20.0), f.solar_declination(246))
    printed(f.daylight_hours(ws), 11.7, 1)


def test_example_10_solar_radiation_from_sunshine() -> None:
    """Example 10: Rio de Janeiro (22 deg 54' S), 15 May, 220 h in May: Ra 25.1, N 10.9, Rs 14.5."""
    lat = np.deg2rad(-(22.0 + 54.0 / 60.0))
    ra = f.extraterrestrial_radiation_daily(lat, 135)
    n_max = f.daylight_hours(f.sunset_hour_angle(lat, f.solar_declination(135)))
    printed(ra, 25.1, 1)
    printed(n_max, 10.9, 1)
    printed(f.solar_radiation_angstrom(220.0 / 31.0 / n_max, ra), 14.5, 1)


def test_example_11_net_longwave_radiation() -> None:
    """Example 11: Tmax 25.1, Tmin 19.1 degC, ea 2.1 kPa, Rs 14.5, Rso 18.8: Rnl 3.5."""
    printed(f.STEFAN_BOLTZMANN_DAY * (25.1 + 273.16) ** 4, 38.8, 1)
    printed(f.STEFAN_BOLTZMANN_DAY * (19.1 + 273.16) ** 4, 35.8, 1)
    printed(f.relative_shortwave_radiation(14.5, 18.8), 0.77, 2)
    printed(f.net_longwave_radiation(25.1, 19.1, 2.1, 14.5, 18.8), 3.5, 1)


def test_example_12_net_radiation() -> None:
    """Example 12: Rio, Rns = 0.77 Rs and Rn = Rns - Rnl = 7.6 MJ m-2 day-1 (3.1 mm/day)."""
    rns = f.net_shortwave_radiation(14.5)
    assert rns == pytest.approx(0.77 * 14.5, rel=1e-15)
    rn = f.net_radiation(rns, f.net_longwave_radiation(25.1, 19.1, 2.1, 14.5, 18.8))
    printed(rn, 7.6, 1)
    printed(f.MJ_TO_MM * rn, 3.1, 1)


def test_example_13_monthly_soil_heat_flux() -> None:
    """Example 13: March 14.1, April 16.1, May 18.8 degC: G(April) 0.33 (Eq. 43), 0.28 (Eq. 44)."""
    printed(f.soil_heat_flux_monthly(14.1, t_next_c=18.8), 0.33, 2)
    printed(f.soil_heat_flux_monthly(14.1, t_this_c=16.1), 0.28, 2)
    with pytest.raises(ValueError, match="t_next_c"):
        f.soil_heat_flux_monthly(14.1)


def test_example_14_wind_speed_at_2m() -> None:
    """Example 14: 3.2 m/s measured at 10 m is 2.4 m/s at 2 m."""
    printed(f.wind_speed_2m(3.2, 10.0), 2.4, 1)
    assert f.wind_speed_2m(3.2, 2.0) == pytest.approx(3.2, abs=2e-3)


def test_example_15_solar_radiation_from_temperature() -> None:
    """Example 15: Lyon (45 deg 43' N), 15 July, Tmax 26.6, Tmin 14.8: Ra 40.6, Rs 22.3."""
    ra = f.extraterrestrial_radiation_daily(np.deg2rad(45.0 + 43.0 / 60.0), 196)
    printed(ra, 40.6, 1)
    printed(f.solar_radiation_from_temperature(ra, 26.6, 14.8, krs=0.16), 22.3, 1)


def test_example_17_monthly_bangkok() -> None:
    """Example 17: Bangkok, April (13 deg 44' N, 2 m): ET0 = 5.72 mm/day."""
    lat = np.deg2rad(13.0 + 44.0 / 60.0)
    doy = 105
    pressure = f.atmospheric_pressure(2.0)
    gamma = f.psychrometric_constant(pressure)
    printed(pressure, 101.3, 1)
    printed(f.psychrometric_constant(101.3), 0.0674, 4)  # the example uses P rounded
    tmean = f.mean_temperature(34.8, 25.6)
    printed(tmean, 30.2, 1)
    delta = f.slope_vapour_pressure_curve(tmean)
    printed(delta, 0.246, 3)
    es = f.mean_saturation_vapour_pressure(34.8, 25.6)
    printed(f.saturation_vapour_pressure(34.8), 5.56, 2)
    printed(f.saturation_vapour_pressure(25.6), 3.28, 2)
    printed(es, 4.42, 2)
    ea = 2.85
    printed(es - ea, 1.57, 2)
    ra = f.extraterrestrial_radiation_daily(lat, doy)
    printed(ra, 38.06, 2)
    n_max = f.daylight_hours(f.sunset_hour_angle(lat, f.solar_declination(doy)))
    printed(n_max, 12.31, 2)
    rs = f.solar_radiation_angstrom(8.5 / n_max, ra)
    printed(rs, 22.65, 2)
    rso = f.clear_sky_radiation(ra, 2.0)
    printed(rso, 28.54, 2)
    rns = f.net_shortwave_radiation(rs)
    printed(rns, 17.44, 2)
    rnl = f.net_longwave_radiation(34.8, 25.6, ea, rs, rso)
    printed(rnl, 3.11, 2)
    rn = f.net_radiation(rns, rnl)
    printed(rn, 14.33, 2)
    g = f.soil_heat_flux_monthly(29.2, t_this_c=30.2)
    printed(g, 0.14, 2)
    eto = f.penman_monteith_daily(
        t_c=tmean, u2=2.0, es=es, ea=ea, delta=delta, gamma=gamma, rn=rn, g=g
    )
    printed(eto, 5.72, 2)


def uccle() -> DailySeries:
    """Example 18 inputs: Uccle (Brussels), 6 July; Rs 22.07 as printed (from n = 9.25 h)."""
    lat = np.deg2rad(50.8)
    ra = f.extraterrestrial_radiation_daily(lat, 187)
    n_max = f.daylight_hours(f.sunset_hour_angle(lat, f.solar_declination(187)))
    printed(f.solar_radiation_angstrom(9.25 / n_max, ra), 22.07, 2)
    rs = 22.07
    u2 = float(f.wind_speed_2m(10.0 / 3.6, 10.0))
    return one_day(
        "2001-07-06",
        tmax_c=21.5,
        tmin_c=12.3,
        rh_max_pct=84.0,
        rh_min_pct=63.0,
        wind2m_ms=u2,
        rs_mj_m2=rs,
    )


def test_example_18_daily_uccle() -> None:
    """Example 18: Uccle, 6 July (50 deg 48' N, 100 m): ET0 = 3.88 before rounding to 3.9."""
    result = eto_daily(uccle(), lat_deg=50.8, elevation_m=100.0)
    d = {k: float(v[0]) for k, v in result.details.items()}
    printed(d["u2"], 2.078, 3)
    printed(d["tmean"], 16.9, 1)
    printed(d["delta"], 0.122, 3)
    printed(d["pressure"], 100.1, 1)
    printed(d["gamma"], 0.0666, 4)
    printed(d["es"], 1.997, 3)
    printed(d["ea"], 1.409, 3)
    printed(d["vpd"], 0.589, 3)
    assert d["doy"] == 187
    printed(d["ra"], 41.09, 2)
    printed(d["daylight_hours"], 16.1, 1)
    printed(d["rs"], 22.07, 2)
    printed(d["rso"], 30.90, 2)
    printed(d["rns"], 16.99, 2)
    printed(d["rnl"], 3.71, 2)
    printed(d["rn"], 13.28, 2)
    assert d["g"] == 0.0
    printed(result.eto[0], 3.88, 2)
    assert result.flags[0] == 0


def test_example_19_hourly() -> None:
    """Example 19: N'Diaye (16 deg 13' N, 16 deg 15' W, 8 m), 1 October: 0.63 mm/h at 14-15 h,
    0.0 mm/h at 02-03 h. The example places the time-zone centre at Lz = 15 deg."""
    lat = np.deg2rad(16.0 + 13.0 / 60.0)
    doy = 274
    gamma = f.psychrometric_constant(f.atmospheric_pressure(8.0))
    printed(f.atmospheric_pressure(8.0), 101.2, 1)
    printed(gamma, 0.0673, 4)
    # Daytime hour: T 38 degC, RH 52 %, u2 3.3 m/s, Rs 2.450 MJ m-2 h-1.
    ea = f.saturation_vapour_pressure(38.0) * 0.52
    printed(f.saturation_vapour_pressure(38.0), 6.625, 3)
    printed(ea, 3.445, 3)
    delta = f.slope_vapour_pressure_curve(38.0)
    printed(delta, 0.358, 3)
    printed(f.seasonal_correction_solar_time(doy), 0.1889, 4)
    printed(f.solar_time_angle(14.5, 16.25, 15.0, doy), 0.682, 3)
    ra = f.extraterrestrial_radiation_hourly(lat, doy, 14.5, lon_west_deg=16.25, lz_west_deg=15.0)
    printed(ra, 3.543, 3)
    rso = f.clear_sky_radiation(ra, 8.0)
    printed(rso, 2.658, 3)
    ratio = f.relative_shortwave_radiation(2.450, rso)
    printed(ratio, 0.922, 3)
    rns = f.net_shortwave_radiation(2.450)
    printed(rns, 1.887, 3)
    rnl = f.net_longwave_radiation_hourly(38.0, ea, ratio)
    printed(rnl, 0.137, 3)
    rn = f.net_radiation(rns, rnl)
    printed(rn, 1.749, 3)
    g = f.soil_heat_flux_hourly(rn, True)
    printed(g, 0.175, 3)
    eto = f.penman_monteith_hourly(t_c=38.0, u2=3.3, ea=ea, delta=delta, gamma=gamma, rn=rn, g=g)
    printed(eto, 0.63, 2)
    # Night hour: T 28 degC, RH 90 %, u2 1.9 m/s, Rs 0, Rs/Rso taken as 0.8.
    ea_n = f.saturation_vapour_pressure(28.0) * 0.90
    printed(ea_n, 3.402, 3)
    ra_n = f.extraterrestrial_radiation_hourly(lat, doy, 2.5, lon_west_deg=16.25, lz_west_deg=15.0)
    assert ra_n == 0.0
    rnl_n = f.net_longwave_radiation_hourly(28.0, ea_n, 0.8)
    printed(rnl_n, 0.100, 3)
    rn_n = f.net_radiation(0.0, rnl_n)
    g_n = f.soil_heat_flux_hourly(rn_n, False)
    printed(g_n, -0.050, 3)
    eto_n = f.penman_monteith_hourly(
        t_c=28.0,
        u2=1.9,
        ea=ea_n,
        delta=f.slope_vapour_pressure_curve(28.0),
        gamma=gamma,
        rn=rn_n,
        g=g_n,
    )
    printed(eto_n, 0.0, 2)


def lyon() -> DailySeries:
    """Example 20 inputs: Lyon, July (15 July, J 196), only Tmax 26.6 and Tmin 14.8 degC."""
    return one_day("2001-07-15", tmax_c=26.6, tmin_c=14.8)


def test_example_20_missing_data_lyon() -> None:
    """Example 20: Lyon (45 deg 43' N, 200 m), ea from Tmin, Rs from Eq. 50, wind 2 m/s."""
    result = eto_daily(lyon(), lat_deg=45.0 + 43.0 / 60.0, elevation_m=200.0)
    d = {k: float(v[0]) for k, v in result.details.items()}
    printed(d["tmean"], 20.7, 1)
    printed(d["delta"], 0.150, 3)
    printed(d["es"], 2.58, 2)
    printed(d["ea"], 1.68, 2)
    printed(d["vpd"], 0.90, 2)
    printed(d["ra"], 40.6, 1)
    printed(d["rs"], 22.3, 1)
    printed(d["rso"], 30.6, 1)
    printed(d["rns"], 17.2, 1)
    printed(d["rnl"], 3.7, 1)
    printed(d["rn"], 13.5, 1)
    assert d["u2"] == 2.0
    printed(result.eto[0], 4.6, 1)
    expected = Flag.RS_FROM_TEMPERATURE | Flag.EA_FROM_TMIN | Flag.WIND_DEFAULT
    assert result.flags[0] == expected


def test_example_21_hargreaves() -> None:
    """Example 21 (Hargreaves, Eq. 52) on the Lyon data of Example 20: ET0 about 5.0 mm/day."""
    ra = f.extraterrestrial_radiation_daily(np.deg2rad(45.0 + 43.0 / 60.0), 196)
    printed(f.hargreaves_eto(26.6, 14.8, ra), 5.0, 1)
    result = eto_daily(
        lyon(),
        lat_deg=45.0 + 43.0 / 60.0,
        elevation_m=200.0,
        missing=HARGREAVES_FOR_TEMPERATURE_ONLY,
    )
    printed(result.eto[0], 5.0, 1)
    assert result.flags[0] == Flag.HARGREAVES_ET0


def test_strict_policy_gives_no_eto_without_full_inputs() -> None:
    result = eto_daily(lyon(), lat_deg=45.7, elevation_m=200.0, missing=STRICT)
    assert np.isnan(result.eto[0])
    assert result.flags[0] == Flag.ETO_MISSING


def test_coastal_krs_raises_estimated_radiation() -> None:
    """Eq. 50 with krs 0.19 (coastal) gives 0.19/0.16 times the interior Rs."""
    interior = eto_daily(lyon(), lat_deg=45.7, elevation_m=200.0)
    coastal = eto_daily(lyon(), lat_deg=45.7, elevation_m=200.0, krs=0.19)
    ratio = coastal.details["rs"][0] / interior.details["rs"][0]
    assert ratio == pytest.approx(0.19 / 0.16, rel=1e-12)
    assert coastal.eto[0] > interior.eto[0]


def test_policy_refuses_nonsense() -> None:
    with pytest.raises(ValueError, match="default_wind_ms"):
        MissingPolicy(default_wind_ms=-1.0)
    with pytest.raises(ValueError, match="tmin_dew_offset_c"):
        MissingPolicy(tmin_dew_offset_c=-2.0)
    with pytest.raises(ValueError, match="lat_deg"):
        eto_daily(lyon(), lat_deg=91.0, elevation_m=0.0)
    with pytest.raises(ValueError, match="krs"):
        eto_daily(lyon(), lat_deg=45.0, elevation_m=0.0, krs=0.0)
