"""FAO-56 equations (Allen et al., 1998), one small vectorised float64 function per equation.

Every function takes scalars or numpy arrays (broadcast together) and returns float64 arrays.
Equation numbers refer to FAO Irrigation and Drainage Paper 56, chapters 3 and 4. No function
validates physical ranges: that is :mod:`evapo.science.quality`'s job; NaN in gives NaN out.
"""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike

from evapo.schema import FloatArray

#: Solar constant [MJ m-2 min-1] (Eq. 21).
SOLAR_CONSTANT = 0.0820
#: Stefan-Boltzmann constant for daily sums [MJ K-4 m-2 day-1] (Eq. 39).
STEFAN_BOLTZMANN_DAY = 4.903e-9
#: Stefan-Boltzmann constant for hourly sums [MJ K-4 m-2 h-1] (Eq. 39, hourly form).
STEFAN_BOLTZMANN_HOUR = 2.043e-10
#: Kelvin offset used by FAO-56 in Eq. 39 [K].
KELVIN_RNL = 273.16
#: Grass reference albedo [-] (Eq. 38).
ALBEDO_GRASS = 0.23
#: Conversion of an energy flux to an equivalent evaporation [mm per MJ m-2] (1 / lambda).
MJ_TO_MM = 0.408


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


# --- Atmospheric parameters -------------------------------------------------------------------


def atmospheric_pressure(elevation_m: ArrayLike, *, exponent: float = 5.26) -> FloatArray:
    """Atmospheric pressure from elevation (Eq. 7) [kPa].

    ``P = 101.3 ((293 - 0.0065 z) / 293) ** 5.26`` with ``elevation_m`` z [m]; ``exponent`` [-]
    lets ASCE-EWRI variants use g / (R lapse) = 5.2551 instead of the rounded 5.26.
    """
    z = _f(elevation_m)
    return _f(101.3 * ((293.0 - 0.0065 * z) / 293.0) ** exponent)


def psychrometric_constant(pressure_kpa: ArrayLike) -> FloatArray:
    """Psychrometric constant (Eq. 8) [kPa degC-1].

    ``gamma = 0.665e-3 P`` with ``pressure_kpa`` P [kPa].
    """
    return _f(0.665e-3 * _f(pressure_kpa))


# --- Air temperature and humidity -------------------------------------------------------------


def mean_temperature(tmax_c: ArrayLike, tmin_c: ArrayLike) -> FloatArray:
    """Daily mean air temperature as the mean of extremes (Eq. 9) [degC]."""
    return _f((_f(tmax_c) + _f(tmin_c)) / 2.0)


def saturation_vapour_pressure(t_c: ArrayLike) -> FloatArray:
    """Saturation vapour pressure at air temperature (Eq. 11) [kPa].

    ``e0(T) = 0.6108 exp(17.27 T / (T + 237.3))`` with ``t_c`` T [degC].
    """
    t = _f(t_c)
    return _f(0.6108 * np.exp(17.27 * t / (t + 237.3)))


def mean_saturation_vapour_pressure(tmax_c: ArrayLike, tmin_c: ArrayLike) -> FloatArray:
    """Mean saturation vapour pressure of a day (Eq. 12) [kPa].

    ``es = (e0(Tmax) + e0(Tmin)) / 2`` with ``tmax_c``, ``tmin_c`` [degC].
    """
    return _f((saturation_vapour_pressure(tmax_c) + saturation_vapour_pressure(tmin_c)) / 2.0)


def slope_vapour_pressure_curve(t_c: ArrayLike) -> FloatArray:
    """Slope of the saturation vapour pressure curve (Eq. 13) [kPa degC-1].

    ``delta = 4098 e0(T) / (T + 237.3) ** 2`` with ``t_c`` T [degC].
    """
    t = _f(t_c)
    return _f(4098.0 * saturation_vapour_pressure(t) / (t + 237.3) ** 2)


def actual_vapour_pressure_from_tdew(tdew_c: ArrayLike) -> FloatArray:
    """Actual vapour pressure from dew point temperature (Eq. 14) [kPa].

    ``ea = e0(Tdew)`` with ``tdew_c`` [degC]. With ``Tdew = Tmin`` this is Eq. 48.
    """
    return saturation_vapour_pressure(tdew_c)


def psychrometer_coefficient_constant(pressure_kpa: ArrayLike, a_psy: float) -> FloatArray:
    """Psychrometric constant of a psychrometer (Eq. 16) [kPa degC-1].

    ``gamma_psy = a_psy P``; ``a_psy`` [degC-1] is 0.000662 for ventilated (Asmann)
    psychrometers, 0.000800 for naturally ventilated ones, 0.001200 indoors.
    """
    return _f(a_psy * _f(pressure_kpa))


def actual_vapour_pressure_from_psychrometer(
    tdry_c: ArrayLike, twet_c: ArrayLike, gamma_psy: ArrayLike
) -> FloatArray:
    """Actual vapour pressure from dry and wet bulb temperatures (Eq. 15) [kPa].

    ``ea = e0(Twet) - gamma_psy (Tdry - Twet)``; temperatures [degC], ``gamma_psy`` [kPa degC-1].
    """
    return _f(saturation_vapour_pressure(twet_c) - _f(gamma_psy) * (_f(tdry_c) - _f(twet_c)))


def actual_vapour_pressure_from_rhmaxmin(
    tmax_c: ArrayLike, tmin_c: ArrayLike, rh_max_pct: ArrayLike, rh_min_pct: ArrayLike
) -> FloatArray:
    """Actual vapour pressure from RHmax and RHmin (Eq. 17) [kPa].

    ``ea = (e0(Tmin) RHmax / 100 + e0(Tmax) RHmin / 100) / 2``; temperatures [degC], RH [%].
    """
    return _f(
        (
            saturation_vapour_pressure(tmin_c) * _f(rh_max_pct) / 100.0
            + saturation_vapour_pressure(tmax_c) * _f(rh_min_pct) / 100.0
        )
        / 2.0
    )


def actual_vapour_pressure_from_rhmax(tmin_c: ArrayLike, rh_max_pct: ArrayLike) -> FloatArray:
    """Actual vapour pressure from RHmax only (Eq. 18) [kPa].

    ``ea = e0(Tmin) RHmax / 100``; ``tmin_c`` [degC], ``rh_max_pct`` [%].
    """
    return _f(saturation_vapour_pressure(tmin_c) * _f(rh_max_pct) / 100.0)


def actual_vapour_pressure_from_rhmean(
    tmax_c: ArrayLike, tmin_c: ArrayLike, rh_mean_pct: ArrayLike
) -> FloatArray:
    """Actual vapour pressure from mean relative humidity (Eq. 19) [kPa].

    ``ea = RHmean / 100 (e0(Tmax) + e0(Tmin)) / 2``; temperatures [degC], ``rh_mean_pct`` [%].
    """
    return _f(_f(rh_mean_pct) / 100.0 * mean_saturation_vapour_pressure(tmax_c, tmin_c))


# --- Radiation --------------------------------------------------------------------------------


def inverse_relative_distance(doy: ArrayLike) -> FloatArray:
    """Inverse relative Earth-Sun distance (Eq. 23) [-].

    ``dr = 1 + 0.033 cos(2 pi J / 365)`` with ``doy`` J the day of the year [1-366].
    """
    return _f(1.0 + 0.033 * np.cos(2.0 * np.pi * _f(doy) / 365.0))


def solar_declination(doy: ArrayLike) -> FloatArray:
    """Solar declination (Eq. 24) [rad].

    ``delta = 0.409 sin(2 pi J / 365 - 1.39)`` with ``doy`` J [1-366].
    """
    return _f(0.409 * np.sin(2.0 * np.pi * _f(doy) / 365.0 - 1.39))


def sunset_hour_angle(lat_rad: ArrayLike, decl: ArrayLike) -> FloatArray:
    """Sunset hour angle (Eq. 25) [rad].

    ``omega_s = arccos(-tan(phi) tan(delta))``; ``lat_rad`` phi and ``decl`` delta [rad]. The
    argument is clipped to [-1, 1] so polar day gives pi and polar night gives 0.
    """
    return _f(np.arccos(np.clip(-np.tan(_f(lat_rad)) * np.tan(_f(decl)), -1.0, 1.0)))


def extraterrestrial_radiation_daily(
    lat_rad: ArrayLike,
    doy: ArrayLike,
    *,
    decl: ArrayLike | None = None,
    solar_constant: float = SOLAR_CONSTANT,
) -> FloatArray:
    """Daily extraterrestrial radiation (Eq. 21) [MJ m-2 day-1].

    ``Ra = 24 60 / pi Gsc dr (ws sin(phi) sin(d) + cos(phi) cos(d) sin(ws))`` with
    ``lat_rad`` phi [rad] and ``doy`` [1-366]; dr, d, ws from Eq. 23, 24, 25. ``decl`` d [rad]
    (default Eq. 24) and ``solar_constant`` Gsc [MJ m-2 min-1] serve ASCE-EWRI variants.
    """
    phi = _f(lat_rad)
    dr = inverse_relative_distance(doy)
    decl = solar_declination(doy) if decl is None else _f(decl)
    ws = sunset_hour_angle(phi, decl)
    return _f(
        24.0
        * 60.0
        / np.pi
        * solar_constant
        * dr
        * (ws * np.sin(phi) * np.sin(decl) + np.cos(phi) * np.cos(decl) * np.sin(ws))
    )


def seasonal_correction_solar_time(doy: ArrayLike) -> FloatArray:
    """Seasonal correction for solar time (Eq. 32, with b from Eq. 33) [hour].

    ``Sc = 0.1645 sin(2b) - 0.1255 cos(b) - 0.025 sin(b)``, ``b = 2 pi (J - 81) / 364``.
    """
    b = 2.0 * np.pi * (_f(doy) - 81.0) / 364.0
    return _f(0.1645 * np.sin(2.0 * b) - 0.1255 * np.cos(b) - 0.025 * np.sin(b))


def solar_time_angle(
    t_mid_h: ArrayLike, lon_west_deg: ArrayLike, lz_west_deg: ArrayLike, doy: ArrayLike
) -> FloatArray:
    """Solar time angle at the midpoint of a period (Eq. 31) [rad].

    ``omega = pi / 12 ((t + 0.06667 (Lz - Lm) + Sc) - 12)``; ``t_mid_h`` t is the standard
    clock time at the period midpoint [hour], ``lon_west_deg`` Lm and ``lz_west_deg`` Lz (centre
    of the time zone) are longitudes in degrees west of Greenwich [deg].
    """
    sc = seasonal_correction_solar_time(doy)
    return _f(
        np.pi / 12.0 * ((_f(t_mid_h) + 0.06667 * (_f(lz_west_deg) - _f(lon_west_deg)) + sc) - 12.0)
    )


def extraterrestrial_radiation_hourly(
    lat_rad: ArrayLike,
    doy: ArrayLike,
    t_mid_h: ArrayLike,
    *,
    lon_west_deg: ArrayLike,
    lz_west_deg: ArrayLike,
    period_h: float = 1.0,
    decl: ArrayLike | None = None,
    solar_constant: float = SOLAR_CONSTANT,
) -> FloatArray:
    """Extraterrestrial radiation of an hourly or shorter period (Eq. 28-33) [MJ m-2 period-1].

    ``Ra = 12 60 / pi Gsc dr ((w2 - w1) sin(phi) sin(d) + cos(phi) cos(d) (sin(w2) - sin(w1)))``
    with ``w1 = w - pi t1 / 24`` (Eq. 29) and ``w2 = w + pi t1 / 24`` (Eq. 30), t1 = ``period_h``
    [hour], w the solar time angle (Eq. 31). w1 and w2 are limited to [-ws, ws] so that Ra is
    zero while the sun is below the horizon. ``decl`` d [rad] (default Eq. 24) and
    ``solar_constant`` Gsc [MJ m-2 min-1] serve ASCE-EWRI variants.
    """
    phi = _f(lat_rad)
    dr = inverse_relative_distance(doy)
    decl = solar_declination(doy) if decl is None else _f(decl)
    ws = sunset_hour_angle(phi, decl)
    w = solar_time_angle(t_mid_h, lon_west_deg, lz_west_deg, doy)
    half = np.pi * period_h / 24.0
    w1 = np.clip(w - half, -ws, ws)
    w2 = np.clip(w + half, -ws, ws)
    ra = (
        12.0
        * 60.0
        / np.pi
        * solar_constant
        * dr
        * (
            (w2 - w1) * np.sin(phi) * np.sin(decl)
            + np.cos(phi) * np.cos(decl) * (np.sin(w2) - np.sin(w1))
        )
    )
    return _f(np.maximum(ra, 0.0))


def daylight_hours(omega_s: ArrayLike) -> FloatArray:
    """Maximum possible duration of sunshine (Eq. 34) [hour].

    ``N = 24 / pi omega_s`` with ``omega_s`` the sunset hour angle [rad].
    """
    return _f(24.0 / np.pi * _f(omega_s))


def solar_radiation_angstrom(
    n_over_N: ArrayLike, ra: ArrayLike, a_s: float = 0.25, b_s: float = 0.50
) -> FloatArray:
    """Solar radiation from relative sunshine duration (Angstrom, Eq. 35) [MJ m-2 day-1].

    ``Rs = (a_s + b_s n / N) Ra``; ``n_over_N`` [-], ``ra`` [MJ m-2 day-1], ``a_s``, ``b_s`` [-].
    """
    return _f((a_s + b_s * _f(n_over_N)) * _f(ra))


def clear_sky_radiation_angstrom(ra: ArrayLike, a_s: float = 0.25, b_s: float = 0.50) -> FloatArray:
    """Clear-sky solar radiation from calibrated Angstrom values (Eq. 36) [MJ m-2 day-1]."""
    return _f((a_s + b_s) * _f(ra))


def clear_sky_radiation(ra: ArrayLike, elevation_m: ArrayLike) -> FloatArray:
    """Clear-sky solar radiation (Eq. 37) [MJ m-2 day-1].

    ``Rso = (0.75 + 2e-5 z) Ra`` with ``ra`` [MJ m-2 day-1] and ``elevation_m`` z [m].
    """
    return _f((0.75 + 2e-5 * _f(elevation_m)) * _f(ra))


def net_shortwave_radiation(rs: ArrayLike, albedo: float = ALBEDO_GRASS) -> FloatArray:
    """Net solar (shortwave) radiation (Eq. 38) [MJ m-2 day-1].

    ``Rns = (1 - albedo) Rs`` with ``rs`` [MJ m-2 day-1] and ``albedo`` [-] (0.23 for grass).
    """
    return _f((1.0 - albedo) * _f(rs))


def relative_shortwave_radiation(
    rs: ArrayLike, rso: ArrayLike, *, lower: float | None = None
) -> FloatArray:
    """Relative shortwave radiation Rs/Rso as used in Eq. 39, limited to <= 1.0 [-].

    ``lower`` [-] adds a lower limit (ASCE-EWRI 2005 Eq. 18 uses 0.3); FAO-56 has none. Where
    Rso is 0 (polar night) the ratio is undefined and taken as 1.0, as refet does.
    """
    rs_ = _f(rs)
    rso_ = _f(rso)
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = np.minimum(rs_ / rso_, 1.0)
    ratio = np.where(rso_ > 0.0, ratio, np.where(np.isnan(rs_), np.nan, 1.0))
    return _f(ratio if lower is None else np.maximum(ratio, lower))


def net_longwave_radiation(
    tmax_c: ArrayLike,
    tmin_c: ArrayLike,
    ea: ArrayLike,
    rs: ArrayLike,
    rso: ArrayLike,
    *,
    sigma: float = STEFAN_BOLTZMANN_DAY,
    rs_rso_min: float | None = None,
) -> FloatArray:
    """Net outgoing longwave radiation of a day (Eq. 39) [MJ m-2 day-1].

    ``Rnl = sigma (Tmax,K^4 + Tmin,K^4) / 2 (0.34 - 0.14 sqrt(ea)) (1.35 Rs/Rso - 0.35)`` with
    temperatures [degC] (K = degC + 273.16), ``ea`` [kPa], ``rs`` and ``rso``
    [MJ m-2 day-1]; Rs/Rso is limited to <= 1.0 (and to >= ``rs_rso_min`` if given).
    ``sigma`` [MJ K-4 m-2 day-1] and ``rs_rso_min`` serve ASCE-EWRI (4.901e-9, 0.3).
    """
    tx = _f(tmax_c) + KELVIN_RNL
    tn = _f(tmin_c) + KELVIN_RNL
    ratio = relative_shortwave_radiation(rs, rso, lower=rs_rso_min)
    return _f(
        sigma * (tx**4 + tn**4) / 2.0 * (0.34 - 0.14 * np.sqrt(_f(ea))) * (1.35 * ratio - 0.35)
    )


def net_longwave_radiation_hourly(
    t_c: ArrayLike,
    ea: ArrayLike,
    rs_over_rso: ArrayLike,
    *,
    sigma: float = STEFAN_BOLTZMANN_HOUR,
) -> FloatArray:
    """Net outgoing longwave radiation of an hour (Eq. 39, hourly form) [MJ m-2 h-1].

    ``Rnl = sigma_h T_K^4 (0.34 - 0.14 sqrt(ea)) (1.35 Rs/Rso - 0.35)`` with ``t_c`` [degC],
    ``ea`` [kPa] and ``rs_over_rso`` [-] (at night, the ratio of a period before sunset);
    ``sigma`` sigma_h [MJ K-4 m-2 h-1] (ASCE-EWRI 2005 Eq. 44 uses 2.042e-10).
    """
    tk = _f(t_c) + KELVIN_RNL
    ratio = np.minimum(_f(rs_over_rso), 1.0)
    return _f(sigma * tk**4 * (0.34 - 0.14 * np.sqrt(_f(ea))) * (1.35 * ratio - 0.35))


def net_radiation(rns: ArrayLike, rnl: ArrayLike) -> FloatArray:
    """Net radiation (Eq. 40) [MJ m-2 day-1]: ``Rn = Rns - Rnl``."""
    return _f(_f(rns) - _f(rnl))


def soil_heat_flux_monthly(
    t_prev_c: ArrayLike, *, t_next_c: ArrayLike | None = None, t_this_c: ArrayLike | None = None
) -> FloatArray:
    """Monthly soil heat flux (Eq. 43, or Eq. 44 when the next month is unknown) [MJ m-2 day-1].

    Eq. 43: ``G = 0.07 (T_{i+1} - T_{i-1})`` from ``t_prev_c`` and ``t_next_c`` [degC];
    Eq. 44: ``G = 0.14 (T_i - T_{i-1})`` from ``t_prev_c`` and ``t_this_c`` [degC].
    """
    if t_next_c is not None:
        return _f(0.07 * (_f(t_next_c) - _f(t_prev_c)))
    if t_this_c is None:
        raise ValueError("soil_heat_flux_monthly: give t_next_c (Eq. 43) or t_this_c (Eq. 44)")
    return _f(0.14 * (_f(t_this_c) - _f(t_prev_c)))


def soil_heat_flux_hourly(rn: ArrayLike, is_day: ArrayLike) -> FloatArray:
    """Hourly soil heat flux (Eq. 45 by day, Eq. 46 by night) [MJ m-2 h-1].

    ``G = 0.1 Rn`` while the sun is up, ``G = 0.5 Rn`` at night; ``rn`` [MJ m-2 h-1].
    """
    r = _f(rn)
    return _f(np.where(np.asarray(is_day, dtype=bool), 0.1 * r, 0.5 * r))


# --- Wind --------------------------------------------------------------------------------------


def wind_speed_2m(u_z: ArrayLike, z_m: ArrayLike) -> FloatArray:
    """Wind speed at 2 m from a measurement at height z (Eq. 47) [m s-1].

    ``u2 = uz 4.87 / ln(67.8 z - 5.42)`` with ``u_z`` [m s-1] and ``z_m`` z [m].
    """
    return _f(_f(u_z) * 4.87 / np.log(67.8 * _f(z_m) - 5.42))


# --- Missing-data estimates and Hargreaves ----------------------------------------------------


def solar_radiation_from_temperature(
    ra: ArrayLike, tmax_c: ArrayLike, tmin_c: ArrayLike, krs: float = 0.16
) -> FloatArray:
    """Solar radiation from the temperature range (Hargreaves radiation formula, Eq. 50).

    ``Rs = krs sqrt(Tmax - Tmin) Ra`` [MJ m-2 day-1]; ``ra`` [MJ m-2 day-1], temperatures
    [degC], ``krs`` [degC-0.5] is 0.16 for interior and 0.19 for coastal locations.
    """
    return _f(krs * np.sqrt(_f(tmax_c) - _f(tmin_c)) * _f(ra))


def hargreaves_eto(tmax_c: ArrayLike, tmin_c: ArrayLike, ra: ArrayLike) -> FloatArray:
    """Hargreaves-Samani reference evapotranspiration (Eq. 52) [mm day-1].

    ``ET0 = 0.0023 (Tmean + 17.8) sqrt(Tmax - Tmin) 0.408 Ra`` with temperatures [degC] and
    ``ra`` [MJ m-2 day-1] (Ra in evaporation equivalent).
    """
    tx = _f(tmax_c)
    tn = _f(tmin_c)
    return _f(0.0023 * ((tx + tn) / 2.0 + 17.8) * np.sqrt(tx - tn) * MJ_TO_MM * _f(ra))


# --- Penman-Monteith ---------------------------------------------------------------------------


def penman_monteith_daily(
    *,
    t_c: ArrayLike,
    u2: ArrayLike,
    es: ArrayLike,
    ea: ArrayLike,
    delta: ArrayLike,
    gamma: ArrayLike,
    rn: ArrayLike,
    g: ArrayLike = 0.0,
    cn: float = 900.0,
    cd: ArrayLike = 0.34,
) -> FloatArray:
    """FAO Penman-Monteith grass reference evapotranspiration (Eq. 6) [mm day-1].

    ``ET0 = (0.408 D (Rn - G) + g 900 / (T + 273) u2 (es - ea)) / (D + g (1 + 0.34 u2))`` with
    ``t_c`` T [degC], ``u2`` [m s-1], ``es``, ``ea`` [kPa], ``delta`` D and ``gamma`` g
    [kPa degC-1], ``rn`` and ``g`` [MJ m-2 day-1]. ``cn`` (900) and ``cd`` (0.34) are the
    ASCE-EWRI 2005 Table 1 constants Cn [K mm s3 Mg-1 day-1] and Cd [s m-1].
    """
    d = _f(delta)
    gm = _f(gamma)
    w = _f(u2)
    num = MJ_TO_MM * d * (_f(rn) - _f(g)) + gm * cn / (_f(t_c) + 273.0) * w * (_f(es) - _f(ea))
    return _f(num / (d + gm * (1.0 + _f(cd) * w)))


def penman_monteith_hourly(
    *,
    t_c: ArrayLike,
    u2: ArrayLike,
    ea: ArrayLike,
    delta: ArrayLike,
    gamma: ArrayLike,
    rn: ArrayLike,
    g: ArrayLike,
    cn: float = 37.0,
    cd: ArrayLike = 0.34,
) -> FloatArray:
    """FAO Penman-Monteith for hourly periods (Eq. 53) [mm h-1].

    ``ET0 = (0.408 D (Rn - G) + g 37 / (T + 273) u2 (e0(T) - ea)) / (D + g (1 + 0.34 u2))`` with
    the hourly mean ``t_c`` T [degC], ``u2`` [m s-1], ``ea`` [kPa], ``delta`` and ``gamma``
    [kPa degC-1], ``rn`` and ``g`` [MJ m-2 h-1]. ``cn`` (37) and ``cd`` (0.34, scalar or per
    hour) are the ASCE-EWRI 2005 Table 1 constants Cn [K mm s3 Mg-1 h-1] and Cd [s m-1].
    """
    t = _f(t_c)
    d = _f(delta)
    gm = _f(gamma)
    w = _f(u2)
    vpd = saturation_vapour_pressure(t) - _f(ea)
    num = MJ_TO_MM * d * (_f(rn) - _f(g)) + gm * cn / (t + 273.0) * w * vpd
    return _f(num / (d + gm * (1.0 + _f(cd) * w)))
