"""Daily FAO-56 Penman-Monteith ET0 of a :class:`~evapo.schema.DailySeries`, with the FAO-56
chapter 3 missing-data procedures applied under a named :class:`MissingPolicy`."""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evapo.schema import DailySeries, Flag, FloatArray
from evapo.science import fao56

TemperatureOnlyMethod = Literal["penman_monteith", "hargreaves", "missing"]


@dataclass(frozen=True)
class MissingPolicy:
    """Which FAO-56 chapter 3 missing-data procedures :func:`eto_daily` may apply.

    Every estimate applied to a row sets its :class:`~evapo.schema.Flag` on that row.

    Attributes:
        rs_from_temperature: estimate missing Rs from the temperature range (Eq. 50).
        ea_from_tmin: estimate missing humidity as ``ea = e0(Tmin - tmin_dew_offset_c)`` (Eq. 48).
        tmin_dew_offset_c: Tmin minus dew point [degC]; 0 for humid sites, 2-3 in arid ones
            (FAO-56 Annex 6).
        default_wind_ms: wind speed at 2 m used when wind is missing [m s-1] (FAO-56: 2 m/s);
            ``None`` leaves such rows without ET0.
        temperature_only: method for rows where only Tmax and Tmin exist: ``"penman_monteith"``
            with the estimates above (FAO-56's recommendation), ``"hargreaves"`` (Eq. 52,
            flagged ``HARGREAVES_ET0``) or ``"missing"`` (no ET0).
        use_observed_tmean: use the series' ``tmean_c`` where present instead of FAO-56's
            standard ``(Tmax + Tmin) / 2`` (Eq. 9); rows falling back to Eq. 9 are flagged
            ``TMEAN_FROM_MINMAX``.
    """

    rs_from_temperature: bool = True
    ea_from_tmin: bool = True
    tmin_dew_offset_c: float = 0.0
    default_wind_ms: float | None = 2.0
    temperature_only: TemperatureOnlyMethod = "penman_monteith"
    use_observed_tmean: bool = False

    def __post_init__(self) -> None:
        if not 0.0 <= self.tmin_dew_offset_c <= 10.0:
            raise ValueError(f"tmin_dew_offset_c: {self.tmin_dew_offset_c} degC is outside [0, 10]")
        if self.default_wind_ms is not None and not 0.0 <= self.default_wind_ms <= 20.0:
            raise ValueError(f"default_wind_ms: {self.default_wind_ms} m/s is outside [0, 20]")
        if self.temperature_only not in ("penman_monteith", "hargreaves", "missing"):
            raise ValueError(f"temperature_only: unknown method {self.temperature_only!r}")


#: FAO-56 chapter 3 procedures, Penman-Monteith with estimates for temperature-only rows.
FAO56: Final = MissingPolicy()
#: Hargreaves-Samani (Eq. 52) for temperature-only rows; other gaps filled as in :data:`FAO56`.
HARGREAVES_FOR_TEMPERATURE_ONLY: Final = MissingPolicy(temperature_only="hargreaves")
#: No estimates at all: a row lacking any Penman-Monteith input gets no ET0.
STRICT: Final = MissingPolicy(
    rs_from_temperature=False, ea_from_tmin=False, default_wind_ms=None, temperature_only="missing"
)
#: Named policies (for command-line options and the API).
POLICIES: Final[dict[str, MissingPolicy]] = {
    "fao56": FAO56,
    "hargreaves": HARGREAVES_FOR_TEMPERATURE_ONLY,
    "strict": STRICT,
}

#: Interior and coastal values of the Hargreaves radiation coefficient [degC-0.5] (Eq. 50).
KRS_INTERIOR: Final = 0.16
KRS_COASTAL: Final = 0.19


@dataclass
class EtoResult:
    """Daily ET0 with per-row flags and every intermediate of the computation."""

    eto: FloatArray
    """Reference evapotranspiration [mm day-1]; NaN where not computable."""
    flags: NDArray[np.uint32]
    """:class:`~evapo.schema.Flag` bitmask per row: the input flags plus the estimates used."""
    details: dict[str, FloatArray] = field(default_factory=dict)
    """Intermediates by name (units in :data:`DETAIL_UNITS`)."""


#: Units of every entry of :attr:`EtoResult.details`.
DETAIL_UNITS: Final[dict[str, str]] = {
    "doy": "day of year",
    "tmean": "degC",
    "pressure": "kPa",
    "gamma": "kPa degC-1",
    "delta": "kPa degC-1",
    "es": "kPa",
    "ea": "kPa",
    "vpd": "kPa",
    "ra": "MJ m-2 day-1",
    "daylight_hours": "hour",
    "rso": "MJ m-2 day-1",
    "rs": "MJ m-2 day-1",
    "rns": "MJ m-2 day-1",
    "rnl": "MJ m-2 day-1",
    "rn": "MJ m-2 day-1",
    "g": "MJ m-2 day-1",
    "u2": "m s-1",
}


def day_of_year(dates: ArrayLike) -> FloatArray:
    """Day of the year [1-366] of ``datetime64`` dates."""
    d = np.asarray(dates, dtype="datetime64[D]")
    start = d.astype("datetime64[Y]").astype("datetime64[D]")
    return np.asarray((d - start).astype(np.float64) + 1.0, dtype=np.float64)


def check_site(lat_deg: ArrayLike, elevation_m: ArrayLike) -> tuple[FloatArray, FloatArray]:
    """Validate latitude [deg] and elevation [m]; return them as float64 arrays."""
    lat = np.asarray(lat_deg, dtype=np.float64)
    elev = np.asarray(elevation_m, dtype=np.float64)
    bad = ~np.isfinite(lat) | (lat < -90.0) | (lat > 90.0)
    if np.any(bad):
        raise ValueError(f"lat_deg: {lat[bad].flat[0]} is outside [-90, 90]")
    bad = ~np.isfinite(elev) | (elev < -500.0) | (elev > 9000.0)
    if np.any(bad):
        raise ValueError(f"elevation_m: {elev[bad].flat[0]} m is outside [-500, 9000]")
    return lat, elev


def _set(flags: NDArray[np.uint32], mask: NDArray[np.bool_], flag: Flag) -> None:
    flags[mask] |= np.uint32(flag)


def eto_daily(
    series: DailySeries,
    *,
    lat_deg: float | FloatArray,
    elevation_m: float | FloatArray,
    krs: float = KRS_INTERIOR,
    missing: MissingPolicy | None = None,
) -> EtoResult:
    """FAO-56 Penman-Monteith daily grass reference ET0 (Eq. 6) of a daily series [mm day-1].

    ``lat_deg`` [deg, north positive] and ``elevation_m`` [m] are scalars or one value per row;
    ``krs`` [degC-0.5] is used by Eq. 50 (0.16 interior, 0.19 coastal). Humidity is taken from
    the best input present on each row: Tdew, then RHmax with RHmin, RHmax, RHmean, then Tmin
    (Eq. 48) if ``missing`` allows. Daily soil heat flux G is 0 (Eq. 42).
    """
    policy = FAO56 if missing is None else missing
    if not 0.0 < krs < 1.0:
        raise ValueError(f"krs: {krs} is outside (0, 1) (FAO-56: 0.16 interior, 0.19 coastal)")
    lat, elev = check_site(lat_deg, elevation_m)
    n = len(series)
    for name, arr in (("lat_deg", lat), ("elevation_m", elev)):
        if arr.ndim > 1 or arr.size not in (1, n):
            raise ValueError(f"{name}: give one value or one per row ({n}), got shape {arr.shape}")
    v = series.values
    tmax, tmin = v["tmax_c"], v["tmin_c"]
    flags = series.flags.copy()

    # Eq. 9: FAO-56 defines the daily Tmean as the mean of the extremes.
    tmean = fao56.mean_temperature(tmax, tmin)
    if policy.use_observed_tmean:
        observed = np.isfinite(v["tmean_c"])
        _set(flags, ~observed & np.isfinite(tmean), Flag.TMEAN_FROM_MINMAX)
        tmean = np.where(observed, v["tmean_c"], tmean)

    # Eq. 7, 8: pressure and psychrometric constant.
    pressure = np.broadcast_to(fao56.atmospheric_pressure(elev), (n,)).astype(np.float64)
    gamma = fao56.psychrometric_constant(pressure)

    # Eq. 11-13: saturation vapour pressure and slope.
    es = fao56.mean_saturation_vapour_pressure(tmax, tmin)
    delta = fao56.slope_vapour_pressure_curve(tmean)

    # Eq. 14, 17, 18, 19 (best humidity input first), Eq. 48 as the missing-data estimate.
    ea = _actual_vapour_pressure(series, flags, policy)

    # Eq. 21-25, 34, 37: extraterrestrial, clear-sky radiation and daylight hours.
    doy = day_of_year(series.dates)
    lat_rad = np.deg2rad(lat)
    ra = np.broadcast_to(fao56.extraterrestrial_radiation_daily(lat_rad, doy), (n,))
    omega_s = fao56.sunset_hour_angle(lat_rad, fao56.solar_declination(doy))
    daylight = np.broadcast_to(fao56.daylight_hours(omega_s), (n,))
    rso = np.broadcast_to(fao56.clear_sky_radiation(ra, elev), (n,))

    # Rs measured, or from the temperature range (Eq. 50).
    rs = _solar_radiation(series, ra, krs, flags, policy)

    # Eq. 38-40: net radiation.
    rns = fao56.net_shortwave_radiation(rs)
    rnl = fao56.net_longwave_radiation(tmax, tmin, ea, rs, rso)
    rn = fao56.net_radiation(rns, rnl)
    g = np.zeros(n)

    # Wind at 2 m, or the FAO-56 default.
    u2 = _wind_2m(series, flags, policy)

    # Eq. 6: Penman-Monteith.
    eto = fao56.penman_monteith_daily(
        t_c=tmean, u2=u2, es=es, ea=ea, delta=delta, gamma=gamma, rn=rn, g=g
    )

    # Rows with temperatures only (Eq. 52 for Hargreaves) and rows left without ET0.
    _finish_rows(series, eto, flags, ra, policy)
    details = {
        "doy": doy,
        "tmean": tmean,
        "pressure": pressure,
        "gamma": gamma,
        "delta": delta,
        "es": es,
        "ea": ea,
        "vpd": es - ea,
        "ra": np.array(ra),
        "daylight_hours": np.array(daylight),
        "rso": np.array(rso),
        "rs": rs,
        "rns": rns,
        "rnl": rnl,
        "rn": rn,
        "g": g,
        "u2": u2,
    }
    return EtoResult(eto=eto, flags=flags, details=details)


def _temperature_only_rows(series: DailySeries) -> NDArray[np.bool_]:
    v = series.values
    has_t = np.isfinite(v["tmax_c"]) & np.isfinite(v["tmin_c"])
    others = ("rs_mj_m2", "wind2m_ms", "tdew_c", "rh_max_pct", "rh_min_pct", "rh_mean_pct")
    none_other = np.logical_and.reduce([~np.isfinite(v[c]) for c in others])
    return np.asarray(has_t & none_other, dtype=np.bool_)


def _solar_radiation(
    series: DailySeries,
    ra: FloatArray,
    krs: float,
    flags: NDArray[np.uint32],
    policy: MissingPolicy,
) -> FloatArray:
    """Rs [MJ m-2 day-1] measured, or from the temperature range (Eq. 50) as ``policy`` allows."""
    v = series.values
    tmax, tmin = v["tmax_c"], v["tmin_c"]
    rs = v["rs_mj_m2"].copy()
    if policy.rs_from_temperature:
        est = ~np.isfinite(rs) & np.isfinite(tmax) & np.isfinite(tmin)
        rs[est] = fao56.solar_radiation_from_temperature(ra[est], tmax[est], tmin[est], krs)
        _set(flags, est, Flag.RS_FROM_TEMPERATURE)
    return rs


def _wind_2m(series: DailySeries, flags: NDArray[np.uint32], policy: MissingPolicy) -> FloatArray:
    """Wind at 2 m [m s-1] as given, or the policy's default where missing (flagged)."""
    u2 = series.values["wind2m_ms"].copy()
    if policy.default_wind_ms is not None:
        est = ~np.isfinite(u2)
        u2[est] = policy.default_wind_ms
        _set(flags, est, Flag.WIND_DEFAULT)
    return u2


def _finish_rows(
    series: DailySeries,
    eto: FloatArray,
    flags: NDArray[np.uint32],
    ra: FloatArray,
    policy: MissingPolicy,
) -> None:
    """ET0 of temperature-only rows by the policy's method, then ETO_MISSING where none (in place).

    Hargreaves (Eq. 52) is a grass estimate. A row without ET0 keeps only its input flags: its
    estimates were not used.
    """
    if policy.temperature_only != "penman_monteith":
        only_t = _temperature_only_rows(series)
        flags[only_t] = series.flags[only_t]
        if policy.temperature_only == "hargreaves":
            tmax, tmin = series.values["tmax_c"], series.values["tmin_c"]
            eto[only_t] = fao56.hargreaves_eto(tmax[only_t], tmin[only_t], ra[only_t])
            _set(flags, only_t, Flag.HARGREAVES_ET0)
        else:
            eto[only_t] = np.nan
    lost = ~np.isfinite(eto)
    flags[lost] = series.flags[lost] | np.uint32(Flag.ETO_MISSING)


def _actual_vapour_pressure(
    series: DailySeries, flags: NDArray[np.uint32], policy: MissingPolicy
) -> FloatArray:
    """ea [kPa] from the best humidity input of each row (FAO-56 order), flagging Eq. 48."""
    v = series.values
    tmax, tmin = v["tmax_c"], v["tmin_c"]
    rhx, rhn = v["rh_max_pct"], v["rh_min_pct"]
    rhm, tdew = v["rh_mean_pct"], v["tdew_c"]
    # (inputs, estimate) in preference order; an input absent from every row is not computed.
    candidates: list[tuple[tuple[FloatArray, ...], Callable[[], FloatArray]]] = [
        ((tdew,), lambda: fao56.actual_vapour_pressure_from_tdew(tdew)),
        ((rhx, rhn), lambda: fao56.actual_vapour_pressure_from_rhmaxmin(tmax, tmin, rhx, rhn)),
        ((rhx,), lambda: fao56.actual_vapour_pressure_from_rhmax(tmin, rhx)),
        ((rhm,), lambda: fao56.actual_vapour_pressure_from_rhmean(tmax, tmin, rhm)),
    ]
    ea = np.full(len(series), np.nan)
    for inputs, estimate in candidates:
        if not all(np.isfinite(x).any() for x in inputs):
            continue
        candidate = estimate()
        take = ~np.isfinite(ea) & np.isfinite(candidate)
        ea[take] = candidate[take]
    if policy.ea_from_tmin:
        est = ~np.isfinite(ea) & np.isfinite(tmin)
        ea[est] = fao56.actual_vapour_pressure_from_tdew(tmin[est] - policy.tmin_dew_offset_c)
        _set(flags, est, Flag.EA_FROM_TMIN)
    return ea
