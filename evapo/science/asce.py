"""ASCE-EWRI (2005) standardized reference evapotranspiration, daily and hourly, short and tall.

The standardized equation (ASCE-EWRI 2005, Eq. 1) is the FAO-56 Penman-Monteith form with
numerator and denominator constants Cn and Cd chosen per reference surface and time step
(Table 1). Equations that FAO-56 and ASCE-EWRI share are taken from :mod:`evapo.science.fao56`;
this module holds only what differs, each choice a documented parameter:

- ``reference``: ``"short"`` (clipped grass, ETos) or ``"tall"`` (alfalfa, ETrs): Cn, Cd, and
  the hourly soil heat flux ratios (:data:`DAILY_COEFFICIENTS`, :data:`HOURLY_COEFFICIENTS`).
- ``rso``: clear-sky radiation ``"simple"`` (Eq. 19) or ``"full"`` (Appendix D: precipitable
  water and turbidity, Eq. D.1-D.5 and the hourly sun angle).
- ``constants``: :data:`ASCE_2005` (the report's printed constants) or :data:`REF_ET` (those of
  the University of Idaho Ref-ET software): pressure exponent, slope coefficient, solar constant,
  declination formula. Both use the ASCE Stefan-Boltzmann values and the Rs/Rso bounds
  0.3-1.0 (Eq. 18), where FAO-56 uses 4.903e-9 and only the upper bound.
- hourly night cloudiness (``night_cloudiness``): the fcd of the last period with a sun angle
  above 0.3 rad (ASCE-EWRI 2005, notes to Eq. 45) or 1.0 (Ref-ET and the refet library).

Wind must already be at 2 m: convert at the edge with :func:`evapo.science.fao56.wind_speed_2m`
(ASCE Eq. 33 is FAO-56 Eq. 47).

Reference: ASCE-EWRI (2005). The ASCE Standardized Reference Evapotranspiration Equation. Report
of the Task Committee on Standardization of Reference Evapotranspiration, Allen R.G., Walter I.A.,
Elliott R.L. et al. (eds.), ASCE, Reston, VA.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evapo.schema import DailySeries, Flag, FloatArray
from evapo.science import fao56
from evapo.science.daily import (
    FAO56,
    KRS_INTERIOR,
    EtoResult,
    MissingPolicy,
    _actual_vapour_pressure,
    _finish_rows,
    _solar_radiation,
    _wind_2m,
    check_site,
    day_of_year,
    eto_daily,
)

Reference = Literal["short", "tall"]
RsoMethod = Literal["simple", "full"]
Method = Literal["fao56", "asce"]
NightCloudiness = Literal["previous", "one"]

REFERENCES: Final[tuple[str, ...]] = ("short", "tall")
RSO_METHODS: Final[tuple[str, ...]] = ("simple", "full")
METHODS: Final[tuple[str, ...]] = ("fao56", "asce")

#: Daily (Cn [K mm s3 Mg-1 day-1], Cd [s m-1]) per reference surface (ASCE-EWRI 2005, Table 1).
DAILY_COEFFICIENTS: Final[dict[str, tuple[float, float]]] = {
    "short": (900.0, 0.34),
    "tall": (1600.0, 0.38),
}


@dataclass(frozen=True)
class HourlyCoefficients:
    """Hourly constants of one reference surface (ASCE-EWRI 2005, Table 1, Eq. 65-66)."""

    cn: float
    """Numerator constant [K mm s3 Mg-1 h-1]."""
    cd_day: float
    """Denominator constant while Rn > 0 [s m-1]."""
    cd_night: float
    """Denominator constant while Rn <= 0 [s m-1]."""
    g_day: float
    """Soil heat flux ratio G/Rn while Rn > 0 [-]."""
    g_night: float
    """Soil heat flux ratio G/Rn while Rn <= 0 [-]."""


HOURLY_COEFFICIENTS: Final[dict[str, HourlyCoefficients]] = {
    "short": HourlyCoefficients(cn=37.0, cd_day=0.24, cd_night=0.96, g_day=0.1, g_night=0.5),
    "tall": HourlyCoefficients(cn=66.0, cd_day=0.25, cd_night=1.7, g_day=0.04, g_night=0.2),
}


@dataclass(frozen=True)
class Constants:
    """Numerical constants on which the ASCE-EWRI 2005 text and the Ref-ET software differ."""

    name: str
    pressure_exponent: float
    """Exponent of the pressure-elevation formula (Eq. 3) [-]."""
    slope_coefficient: float
    """Coefficient of the saturation vapour pressure slope (Eq. 5) [kPa degC]."""
    solar_constant: float
    """Solar constant Gsc [MJ m-2 min-1] (Eq. 21 and 48)."""
    declination: Literal["asce", "duffie_beckman"]
    """Solar declination formula: ASCE-EWRI's (= FAO-56 Eq. 24) or Duffie and Beckman's."""
    sigma_daily: float = 4.901e-9
    """Stefan-Boltzmann constant for a day [MJ K-4 m-2 day-1] (Eq. 17)."""
    sigma_hourly: float = 2.042e-10
    """Stefan-Boltzmann constant for an hour [MJ K-4 m-2 h-1] (Eq. 44)."""
    rs_rso_min: float = 0.3
    """Lower bound of Rs/Rso in the cloudiness function (Eq. 18 and 45) [-]."""
    night_cloudiness: NightCloudiness = "previous"
    """Hourly Rs/Rso while the sun is below 0.3 rad: last daytime value, or 1.0 (Ref-ET)."""
    daytime_test_at: Literal["midpoint", "start"] = "midpoint"
    """Where in the hour the sun angle is compared with 0.3 rad (Ref-ET: at the start)."""


#: The constants printed in ASCE-EWRI (2005).
ASCE_2005: Final = Constants(
    name="asce",
    pressure_exponent=5.26,
    slope_coefficient=2503.0,
    solar_constant=0.0820,
    declination="asce",
)
#: The constants of the Ref-ET software (University of Idaho, v4): full-precision pressure
#: exponent g / (R lapse) = 9.8 / (286.9 * 0.0065), slope 4098 * 0.6108, Gsc = 1367 W m-2,
#: Duffie-Beckman declination; hourly: Rs/Rso = 1 at night, daytime tested at the hour start.
REF_ET: Final = Constants(
    name="refet",
    pressure_exponent=9.8 / (0.0065 * 286.9),
    slope_coefficient=4098.0 * 0.6108,
    solar_constant=1367.0 * 60.0 * 1e-6,
    declination="duffie_beckman",
    night_cloudiness="one",
    daytime_test_at="start",
)
CONSTANTS: Final[dict[str, Constants]] = {"asce": ASCE_2005, "refet": REF_ET}

#: Sun angle above which an hour counts as daytime for the cloudiness function [rad] (Eq. 45).
BETA_DAYTIME_RAD: Final = 0.3

#: Units of the hourly intermediates in :attr:`EtoResult.details` (daily ones: see daily.py).
HOURLY_DETAIL_UNITS: Final[dict[str, str]] = {
    "doy": "day of year",
    "hour_mid_utc": "hour",
    "pressure": "kPa",
    "gamma": "kPa degC-1",
    "delta": "kPa degC-1",
    "es": "kPa",
    "ea": "kPa",
    "vpd": "kPa",
    "ra": "MJ m-2 h-1",
    "sin_beta": "-",
    "rso": "MJ m-2 h-1",
    "rs": "MJ m-2 h-1",
    "rs_rso": "-",
    "rns": "MJ m-2 h-1",
    "rnl": "MJ m-2 h-1",
    "rn": "MJ m-2 h-1",
    "g": "MJ m-2 h-1",
    "cd": "s m-1",
    "u2": "m s-1",
}


def _f(x: ArrayLike) -> FloatArray:
    return np.asarray(x, dtype=np.float64)


def resolve_constants(constants: str | Constants) -> Constants:
    """The :class:`Constants` named ``"asce"`` or ``"refet"`` (or the object itself)."""
    if isinstance(constants, Constants):
        return constants
    try:
        return CONSTANTS[constants]
    except KeyError:
        raise ValueError(f"constants: {constants!r} is not one of {', '.join(CONSTANTS)}") from None


def _check_choice(name: str, value: str, allowed: tuple[str, ...]) -> None:
    if value not in allowed:
        raise ValueError(f"{name}: {value!r} is not one of {', '.join(allowed)}")


# --- Equations that differ from FAO-56 --------------------------------------------------------


def slope_vapour_pressure_curve(t_c: ArrayLike, coefficient: float = 2503.0) -> FloatArray:
    """Slope of the saturation vapour pressure curve (ASCE Eq. 5) [kPa degC-1].

    ``delta = 2503 exp(17.27 T / (T + 237.3)) / (T + 237.3) ** 2`` with ``t_c`` T [degC]. This is
    FAO-56 Eq. 13 with its product 4098 * 0.6108 = 2503.06 rounded to ``coefficient`` [kPa degC].
    """
    return _f(fao56.slope_vapour_pressure_curve(t_c) * (coefficient / (4098.0 * 0.6108)))


def solar_declination_duffie_beckman(doy: ArrayLike) -> FloatArray:
    """Solar declination as in the Ref-ET software (Duffie and Beckman, 1980) [rad].

    ``delta = 23.45 pi / 180 sin(2 pi (284 + J) / 365)`` with ``doy`` J [1-366].
    """
    return _f(np.deg2rad(23.45) * np.sin(2.0 * np.pi * (284.0 + _f(doy)) / 365.0))


def solar_declination(doy: ArrayLike, constants: Constants = ASCE_2005) -> FloatArray:
    """Solar declination [rad]: ASCE-EWRI's (= FAO-56 Eq. 24) or the Ref-ET form."""
    if constants.declination == "duffie_beckman":
        return solar_declination_duffie_beckman(doy)
    return fao56.solar_declination(doy)


def precipitable_water(pressure_kpa: ArrayLike, ea_kpa: ArrayLike) -> FloatArray:
    """Precipitable water in the atmosphere (ASCE Eq. D.3) [mm].

    ``W = 0.14 ea P + 2.1`` with ``ea_kpa`` ea and ``pressure_kpa`` P [kPa].
    """
    return _f(0.14 * _f(ea_kpa) * _f(pressure_kpa) + 2.1)


def sin_sun_angle_daily(lat_rad: ArrayLike, doy: ArrayLike) -> FloatArray:
    """Sine of the Ra-weighted daylight mean sun angle, limited to >= 0.1 (ASCE Eq. D.5) [-].

    ``sin(beta24) = sin(0.85 + 0.3 phi sin(2 pi J / 365 - 1.39) - 0.42 phi ** 2)`` with
    ``lat_rad`` phi [rad] and ``doy`` J. The lower limit 0.1 (as in Ref-ET) keeps Eq. D.2
    defined at high latitudes in winter.
    """
    phi = _f(lat_rad)
    arg = 0.85 + 0.3 * phi * np.sin(2.0 * np.pi * _f(doy) / 365.0 - 1.39) - 0.42 * phi**2
    return _f(np.maximum(np.sin(arg), 0.1))


def sin_sun_angle(lat_rad: ArrayLike, decl_rad: ArrayLike, omega_rad: ArrayLike) -> FloatArray:
    """Sine of the sun angle above the horizon at hour angle omega (ASCE-EWRI Appendix D) [-].

    ``sin(beta) = sin(phi) sin(delta) + cos(phi) cos(delta) cos(omega)``; angles [rad].
    """
    phi = _f(lat_rad)
    d = _f(decl_rad)
    return _f(np.sin(phi) * np.sin(d) + np.cos(phi) * np.cos(d) * np.cos(_f(omega_rad)))


def direct_beam_index(
    pressure_kpa: ArrayLike, w_mm: ArrayLike, sin_beta: ArrayLike, turbidity: float = 1.0
) -> FloatArray:
    """Clearness index for direct beam radiation KB (ASCE Eq. D.2) [-].

    ``KB = 0.98 exp(-0.00146 P / (Kt sin(beta)) - 0.075 (W / sin(beta)) ** 0.4)`` with
    ``pressure_kpa`` P [kPa], ``w_mm`` W [mm], ``sin_beta`` [-] and ``turbidity`` Kt [-]
    (1.0 for clean air, 0.5 for extremely turbid, dusty or polluted air).
    """
    if not 0.5 <= turbidity <= 1.0:
        raise ValueError(f"turbidity: {turbidity} is outside [0.5, 1.0] (ASCE Eq. D.2)")
    sb = _f(sin_beta)
    return _f(
        0.98
        * np.exp(-0.00146 * _f(pressure_kpa) / (turbidity * sb) - 0.075 * (_f(w_mm) / sb) ** 0.4)
    )


def diffuse_index(kb: ArrayLike) -> FloatArray:
    """Clearness index for diffuse radiation KD (ASCE Eq. D.4) [-].

    ``KD = 0.35 - 0.36 KB`` for ``KB >= 0.15``, ``KD = 0.18 + 0.82 KB`` for ``KB < 0.15``.
    """
    k = _f(kb)
    return _f(np.where(k >= 0.15, 0.35 - 0.36 * k, 0.18 + 0.82 * k))


def clear_sky_radiation_full(ra: ArrayLike, kb: ArrayLike, kd: ArrayLike) -> FloatArray:
    """Clear-sky solar radiation from the beam and diffuse indices (ASCE Eq. D.1) [as ``ra``].

    ``Rso = (KB + KD) Ra`` with ``ra`` [MJ m-2 day-1 or MJ m-2 h-1].
    """
    return _f((_f(kb) + _f(kd)) * _f(ra))


# --- Daily ------------------------------------------------------------------------------------


def eto_asce_daily(
    series: DailySeries,
    *,
    lat_deg: float | FloatArray,
    elevation_m: float | FloatArray,
    reference: Reference = "short",
    rso: RsoMethod = "full",
    constants: str | Constants = "asce",
    turbidity: float = 1.0,
    krs: float = KRS_INTERIOR,
    missing: MissingPolicy | None = None,
) -> EtoResult:
    """ASCE-EWRI 2005 standardized daily reference ET (Eq. 1) of a daily series [mm day-1].

    ``reference`` ``"short"`` gives ETos (grass), ``"tall"`` ETrs (alfalfa); ``rso`` picks Eq. 19
    or Appendix D with ``turbidity`` Kt [-]; ``constants`` ``"asce"`` (the report) or ``"refet"``
    (the Ref-ET software). ``lat_deg`` [deg] and ``elevation_m`` [m] are scalars or per row.
    Tmean is (Tmax + Tmin) / 2 (Eq. 2) whatever ``tmean_c`` holds; humidity comes from the best
    input of each row (Table 3: Tdew, RHmax with RHmin, RHmax, RHmean); gaps are filled as
    ``missing`` allows (Appendix E: Rs from the temperature range with ``krs`` [degC-0.5], Tdew
    from Tmin, wind 2 m/s), each estimate flagged. Daily G is 0.
    """
    _check_choice("reference", reference, REFERENCES)
    _check_choice("rso", rso, RSO_METHODS)
    c = resolve_constants(constants)
    policy = FAO56 if missing is None else missing
    if reference == "tall" and policy.temperature_only == "hargreaves":
        raise ValueError(
            "missing: the Hargreaves fallback estimates grass ET0; it cannot stand in for the "
            "tall reference (use temperature_only='penman_monteith' or 'missing')"
        )
    if not 0.0 < krs < 1.0:
        raise ValueError(f"krs: {krs} is outside (0, 1) (0.16 interior, 0.19 coastal)")
    cn, cd = DAILY_COEFFICIENTS[reference]
    lat, elev = check_site(lat_deg, elevation_m)
    n = len(series)
    v = series.values
    tmax, tmin = v["tmax_c"], v["tmin_c"]
    flags = series.flags.copy()

    # Eq. 2: Tmean is the mean of the extremes.
    tmean = fao56.mean_temperature(tmax, tmin)

    # Eq. 3, 4: pressure (constant-specific exponent) and psychrometric constant.
    pressure = np.broadcast_to(
        fao56.atmospheric_pressure(elev, exponent=c.pressure_exponent), (n,)
    ).astype(np.float64)
    gamma = fao56.psychrometric_constant(pressure)

    # Eq. 5-7: slope at Tmean and mean saturation vapour pressure.
    delta = slope_vapour_pressure_curve(tmean, c.slope_coefficient)
    es = fao56.mean_saturation_vapour_pressure(tmax, tmin)

    # Actual vapour pressure in the Table 3 order, Appendix E estimate from Tmin when allowed.
    ea = _actual_vapour_pressure(series, flags, policy)
    vpd, clamped = _vapour_pressure_deficit(es, ea)
    flags[clamped] |= np.uint32(Flag.QC_SUSPECT)

    # Eq. 21: extraterrestrial radiation with the chosen declination and solar constant.
    # For one site, Ra and the sun angle depend on the day of year only: computed for the 366
    # days and indexed, which gives the same values as row by row.
    doy = day_of_year(series.dates)
    lat_rad = np.deg2rad(lat)
    if lat_rad.ndim == 0 and np.isfinite(doy).all():
        days, row_day = np.arange(1.0, 367.0), doy.astype(np.intp) - 1
    else:
        days, row_day = doy, np.arange(n)
    ra_days = fao56.extraterrestrial_radiation_daily(
        lat_rad, days, decl=solar_declination(days, c), solar_constant=c.solar_constant
    )
    ra = np.broadcast_to(ra_days, days.shape)[row_day].astype(np.float64)

    # Eq. 19 or Appendix D (Eq. D.1-D.5): clear-sky radiation.
    if rso == "simple":
        rso_v = np.broadcast_to(fao56.clear_sky_radiation(ra, elev), (n,)).astype(np.float64)
    else:
        sin_days = np.broadcast_to(sin_sun_angle_daily(lat_rad, days), days.shape)
        sin_beta = sin_days[row_day]
        kb = direct_beam_index(pressure, precipitable_water(pressure, ea), sin_beta, turbidity)
        rso_v = clear_sky_radiation_full(ra, kb, diffuse_index(kb))

    # Rs measured, or from the temperature range (Appendix E, FAO-56 Eq. 50).
    rs = _solar_radiation(series, ra, krs, flags, policy)

    # Eq. 15-18: net radiation with the ASCE sigma and Rs/Rso bounds; daily G = 0.
    rns = fao56.net_shortwave_radiation(rs)
    rnl = fao56.net_longwave_radiation(
        tmax, tmin, ea, rs, rso_v, sigma=c.sigma_daily, rs_rso_min=c.rs_rso_min
    )
    rn = fao56.net_radiation(rns, rnl)
    g = np.zeros(n)

    # Wind at 2 m (Eq. 33 applied at the edge), or the Appendix E default.
    u2 = _wind_2m(series, flags, policy)

    # Eq. 1 with Cn, Cd of Table 1 (es raised to ea where ea > es, so es - ea = vpd).
    eto = fao56.penman_monteith_daily(
        t_c=tmean,
        u2=u2,
        es=np.maximum(es, ea),
        ea=ea,
        delta=delta,
        gamma=gamma,
        rn=rn,
        g=g,
        cn=cn,
        cd=cd,
    )

    # Rows with temperatures only: the policy's method, as on the FAO-56 path (Hargreaves is a
    # grass estimate, refused above for the tall reference); then rows left without ET0.
    _finish_rows(series, eto, flags, ra, policy)
    details = {
        "doy": doy,
        "tmean": tmean,
        "pressure": pressure,
        "gamma": gamma,
        "delta": delta,
        "es": es,
        "ea": ea,
        "vpd": vpd,
        "ra": ra,
        "rso": rso_v,
        "rs": rs,
        "rns": rns,
        "rnl": rnl,
        "rn": rn,
        "g": g,
        "u2": u2,
    }
    return EtoResult(eto=eto, flags=flags, details=details)


def _vapour_pressure_deficit(
    es: FloatArray, ea: FloatArray
) -> tuple[FloatArray, NDArray[np.bool_]]:
    """``es - ea`` [kPa] limited to >= 0, and the rows where ea > es (flagged QC_SUSPECT)."""
    raw = es - ea
    clamped = np.asarray(raw < 0.0, dtype=np.bool_)
    return _f(np.where(clamped, 0.0, raw)), clamped


# --- Hourly -----------------------------------------------------------------------------------


def hour_angle(hour_utc: ArrayLike, lon_deg: ArrayLike, doy: ArrayLike) -> FloatArray:
    """Solar hour angle at a UTC time of day, wrapped to [-pi, pi) (ASCE Eq. 55) [rad].

    ASCE Eq. 55 with the clock in UTC (Lz = 0): the local mean solar clock ``t + lon / 15``
    (``lon_deg`` east positive [deg], ``hour_utc`` t [hour]) is passed to FAO-56 Eq. 31
    (which adds the seasonal correction Sc of Eq. 32/57).
    """
    clock = np.mod(_f(hour_utc) + _f(lon_deg) / 15.0, 24.0)
    omega = fao56.solar_time_angle(clock, 0.0, 0.0, doy)
    return _f(np.mod(omega + np.pi, 2.0 * np.pi) - np.pi)


def _hours_utc(times_utc: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Day of year [1-366] and hour of day [0-24) of UTC ``datetime64`` period starts."""
    t = np.asarray(times_utc, dtype="datetime64[s]")
    if t.ndim != 1:
        raise ValueError("times_utc: expected a one-dimensional array of period starts")
    if np.isnat(t).any():
        raise ValueError("times_utc: missing (NaT) period start")
    if t.size > 1 and np.any(np.diff(t) <= np.timedelta64(0, "s")):
        raise ValueError("times_utc: period starts must be strictly increasing")
    day = t.astype("datetime64[D]")
    hours = (t - day).astype(np.float64) / 3600.0
    return day_of_year(day), _f(hours)


def _fill_night(ratio: FloatArray, day: NDArray[np.bool_], mode: NightCloudiness) -> FloatArray:
    """Rs/Rso for every hour: daytime values kept, night ones per ``mode`` (Eq. 45 notes)."""
    out = np.where(day, ratio, np.nan)
    if mode == "one":
        return _f(np.where(day, out, 1.0))
    # "previous": carry the last daytime value forward; hours before the first daytime one take
    # the first daytime value; a series without any daytime hour has no measure: 1.0.
    idx = np.where(np.isfinite(out), np.arange(out.size), -1)
    np.maximum.accumulate(idx, out=idx)
    filled = np.where(idx >= 0, out[np.maximum(idx, 0)], np.nan)
    finite = np.flatnonzero(np.isfinite(filled))
    if finite.size == 0:
        return _f(np.ones_like(out))
    filled[: finite[0]] = filled[finite[0]]
    return _f(filled)


def eto_asce_hourly(
    times_utc: ArrayLike,
    *,
    tmean_c: ArrayLike,
    rs_mj_m2: ArrayLike,
    wind2m_ms: ArrayLike,
    lat_deg: float,
    lon_deg: float,
    elevation_m: float,
    ea_kpa: ArrayLike | None = None,
    tdew_c: ArrayLike | None = None,
    rh_pct: ArrayLike | None = None,
    reference: Reference = "short",
    rso: RsoMethod = "simple",
    constants: str | Constants = "asce",
    turbidity: float = 1.0,
    night_cloudiness: NightCloudiness | None = None,
) -> EtoResult:
    """ASCE-EWRI 2005 standardized hourly reference ET (Eq. 1, hourly constants) [mm h-1].

    ``times_utc`` are the UTC starts of consecutive one-hour periods (``datetime64``), in time
    order; ``tmean_c`` [degC], ``rs_mj_m2`` [MJ m-2 h-1] and ``wind2m_ms`` [m s-1 at 2 m] are
    hourly means. Humidity per hour comes from the first present of ``ea_kpa`` [kPa],
    ``tdew_c`` [degC] and ``rh_pct`` [%]. The site is ``lat_deg``, ``lon_deg`` (east positive)
    [deg] and ``elevation_m`` [m]. Cd and G/Rn switch between day (Rn > 0) and night (Table 1,
    Eq. 65-66). Hours with a sun angle <= 0.3 rad (at the midpoint; Ref-ET: at the start) take
    their Rs/Rso from ``night_cloudiness``: ``"previous"`` (the last daytime hour, ASCE),
    ``"one"`` (Ref-ET) or ``None`` (as ``constants`` say).
    """
    _check_choice("reference", reference, REFERENCES)
    _check_choice("rso", rso, RSO_METHODS)
    c = resolve_constants(constants)
    night = c.night_cloudiness if night_cloudiness is None else night_cloudiness
    _check_choice("night_cloudiness", night, ("previous", "one"))
    coef = HOURLY_COEFFICIENTS[reference]
    lat, elev = check_site(lat_deg, elevation_m)
    if not -180.0 <= float(lon_deg) <= 360.0:
        raise ValueError(f"lon_deg: {lon_deg} is outside [-180, 360]")
    doy, hour = _hours_utc(times_utc)
    n = doy.size
    t = np.broadcast_to(_f(tmean_c), (n,)).astype(np.float64)
    rs = np.broadcast_to(_f(rs_mj_m2), (n,)).astype(np.float64)
    u2 = np.broadcast_to(_f(wind2m_ms), (n,)).astype(np.float64)
    flags = np.zeros(n, dtype=np.uint32)

    # Eq. 34, 35: pressure and psychrometric constant.
    pressure = np.full(n, float(fao56.atmospheric_pressure(elev, exponent=c.pressure_exponent)))
    gamma = fao56.psychrometric_constant(pressure)

    # Eq. 5, 7: slope and saturation vapour pressure at the hourly mean temperature.
    delta = slope_vapour_pressure_curve(t, c.slope_coefficient)
    es = fao56.saturation_vapour_pressure(t)

    # Actual vapour pressure from the first humidity input present on each hour.
    ea = np.full(n, np.nan)
    candidates: list[FloatArray] = []
    if ea_kpa is not None:
        candidates.append(np.broadcast_to(_f(ea_kpa), (n,)))
    if tdew_c is not None:
        candidates.append(fao56.actual_vapour_pressure_from_tdew(np.broadcast_to(_f(tdew_c), (n,))))
    if rh_pct is not None:
        candidates.append(np.broadcast_to(_f(rh_pct), (n,)) / 100.0 * es)
    if not candidates:
        raise ValueError("humidity: give ea_kpa, tdew_c or rh_pct")
    for candidate in candidates:
        take = ~np.isfinite(ea) & np.isfinite(candidate)
        ea[take] = candidate[take]
    vpd, clamped = _vapour_pressure_deficit(es, ea)
    flags[clamped] |= np.uint32(Flag.QC_SUSPECT)

    # Eq. 48-58: extraterrestrial radiation of the hour, from the local mean solar clock at the
    # midpoint (UTC + lon / 15; FAO-56 Eq. 31 adds Sc).
    lat_rad = float(np.deg2rad(lat))
    decl = solar_declination(doy, c)
    hour_mid = hour + 0.5
    omega = hour_angle(hour_mid, lon_deg, doy)
    ra = fao56.extraterrestrial_radiation_hourly(
        lat_rad,
        doy,
        np.mod(hour_mid + float(lon_deg) / 15.0, 24.0),
        lon_west_deg=0.0,
        lz_west_deg=0.0,
        decl=decl,
        solar_constant=c.solar_constant,
    )
    # Sun angle at the midpoint, used by Appendix D and by the daytime test of Eq. 45.
    sin_beta = sin_sun_angle(lat_rad, decl, omega)

    # Eq. 19 (hourly Ra) or Appendix D (Eq. D.1-D.4, sin(beta) >= 0.01): clear-sky radiation.
    if rso == "simple":
        rso_v = fao56.clear_sky_radiation(ra, elev)
    else:
        sb = np.maximum(sin_beta, 0.01)
        kb = direct_beam_index(pressure, precipitable_water(pressure, ea), sb, turbidity)
        rso_v = clear_sky_radiation_full(ra, kb, diffuse_index(kb))

    # Eq. 45: bounded Rs/Rso by day (beta > 0.3 rad), the night rule otherwise.
    sin_beta_test = sin_beta
    if c.daytime_test_at == "start":
        sin_beta_test = sin_sun_angle(lat_rad, decl, hour_angle(hour, lon_deg, doy))
    day = np.asarray(
        np.arcsin(np.clip(sin_beta_test, -1.0, 1.0)) > BETA_DAYTIME_RAD, dtype=np.bool_
    )
    with np.errstate(divide="ignore", invalid="ignore"):
        ratio = fao56.relative_shortwave_radiation(rs, rso_v, lower=c.rs_rso_min)
    ratio = _fill_night(ratio, day & np.isfinite(ratio), night)

    # Eq. 42-44: net radiation with the ASCE hourly sigma.
    rns = fao56.net_shortwave_radiation(rs)
    rnl = fao56.net_longwave_radiation_hourly(t, ea, ratio, sigma=c.sigma_hourly)
    rn = fao56.net_radiation(rns, rnl)

    # Table 1, Eq. 65-66: daytime (Rn > 0) and night-time Cd and G.
    is_day = rn > 0.0
    cd = np.where(is_day, coef.cd_day, coef.cd_night)
    g = rn * np.where(is_day, coef.g_day, coef.g_night)

    # Eq. 1 with the hourly Cn, Cd (ea lowered to es where ea > es, so e0(T) - ea = vpd).
    eto = fao56.penman_monteith_hourly(
        t_c=t,
        u2=u2,
        ea=np.minimum(ea, es),
        delta=delta,
        gamma=gamma,
        rn=rn,
        g=g,
        cn=coef.cn,
        cd=cd,
    )
    flags[~np.isfinite(eto)] |= np.uint32(Flag.ETO_MISSING)
    details = {
        "doy": doy,
        "hour_mid_utc": hour_mid,
        "pressure": pressure,
        "gamma": gamma,
        "delta": delta,
        "es": es,
        "ea": ea,
        "vpd": vpd,
        "ra": ra,
        "sin_beta": sin_beta,
        "rso": rso_v,
        "rs": rs,
        "rs_rso": ratio,
        "rns": rns,
        "rnl": rnl,
        "rn": rn,
        "g": g,
        "cd": cd,
        "u2": u2,
    }
    return EtoResult(eto=eto, flags=flags, details=details)


# --- Method choice (CLI, API, dashboard) --------------------------------------------------------


@dataclass(frozen=True)
class MethodChoice:
    """Which reference ET equation to use: FAO-56 grass, or ASCE-EWRI short or tall.

    ``rso`` ``None`` means the method's default: Eq. 37 (simple) for FAO-56, Appendix D (full)
    for ASCE. FAO-56 defines only the grass reference and the simple Rso; asking it for
    ``reference="tall"`` or ``rso="full"`` is an error, not a silent substitution.
    """

    method: Method = "fao56"
    reference: Reference = "short"
    rso: RsoMethod | None = None
    constants: str = "asce"

    def __post_init__(self) -> None:
        _check_choice("method", self.method, METHODS)
        _check_choice("reference", self.reference, REFERENCES)
        if self.rso is not None:
            _check_choice("rso", self.rso, RSO_METHODS)
        resolve_constants(self.constants)
        if self.method == "fao56":
            if self.reference != "short":
                raise ValueError(
                    "reference: FAO-56 defines only the short grass reference; "
                    "use method 'asce' for the tall (alfalfa) reference"
                )
            if self.rso == "full":
                raise ValueError(
                    "rso: FAO-56 uses the simple clear-sky radiation (Eq. 37); "
                    "use method 'asce' for the full Appendix D form"
                )
            if self.constants != "asce":
                raise ValueError("constants: only the ASCE method has constant variants")

    @property
    def rso_used(self) -> RsoMethod:
        """The clear-sky radiation form this choice computes with."""
        if self.rso is not None:
            return self.rso
        return "simple" if self.method == "fao56" else "full"

    @property
    def label(self) -> str:
        """Short name saying which method made a result, e.g. ``fao56``, ``asce-tall-full``."""
        if self.method == "fao56":
            return "fao56"
        label = f"asce-{self.reference}-{self.rso_used}"
        return label if self.constants == "asce" else f"{label}-{self.constants}"


def reference_et(
    series: DailySeries,
    choice: MethodChoice,
    *,
    lat_deg: float | FloatArray,
    elevation_m: float | FloatArray,
    krs: float = KRS_INTERIOR,
    missing: MissingPolicy | None = None,
) -> EtoResult:
    """Daily reference ET [mm day-1] of ``series`` by the method ``choice`` names."""
    if choice.method == "fao56":
        return eto_daily(series, lat_deg=lat_deg, elevation_m=elevation_m, krs=krs, missing=missing)
    return eto_asce_daily(
        series,
        lat_deg=lat_deg,
        elevation_m=elevation_m,
        reference=choice.reference,
        rso=choice.rso_used,
        constants=choice.constants,
        krs=krs,
        missing=missing,
    )
