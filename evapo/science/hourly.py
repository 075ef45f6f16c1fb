"""Hourly FAO-56 Penman-Monteith ET0 (Eq. 53) of an hourly series at one point."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray

from evapo.schema import Flag, FloatArray
from evapo.science import fao56
from evapo.science.daily import EtoResult, check_site

#: A daytime hour is a reliable cloudiness sample when it ends at least this long before sunset
#: (FAO-56: take the night-time Rs/Rso from a period 2-3 hours before sunset) [hour].
HOURS_BEFORE_SUNSET = 2.0
#: Rs/Rso used at night before any reliable daytime value (FAO-56 Example 19 uses 0.8) [-].
NIGHT_RATIO_DEFAULT = 0.8


def _hours(times_utc: ArrayLike) -> tuple[NDArray[np.datetime64], FloatArray, FloatArray]:
    t = np.asarray(times_utc, dtype="datetime64[s]")
    if t.ndim != 1:
        raise ValueError("times_utc: expected a one-dimensional array of datetimes")
    if t.size > 1 and np.any(np.diff(t) <= np.timedelta64(0, "s")):
        raise ValueError("times_utc: times must be strictly increasing")
    day = t.astype("datetime64[D]")
    doy = (day - day.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64) + 1.0
    hour = (t - day).astype(np.float64) / 3600.0
    return t, doy, hour


def eto_hourly(
    times_utc: ArrayLike,
    *,
    t_c: ArrayLike,
    rh_pct: ArrayLike,
    wind2m_ms: ArrayLike,
    rs_mj_m2: ArrayLike,
    lat_deg: float,
    lon_deg: float,
    elevation_m: float,
    night_ratio_default: float = NIGHT_RATIO_DEFAULT,
) -> EtoResult:
    """FAO-56 hourly grass reference ET0 (Eq. 53) [mm h-1] of one-hour periods.

    ``times_utc`` are the period midpoints (UTC); ``t_c`` the hourly air temperature [degC],
    ``rh_pct`` the hourly relative humidity [%], ``wind2m_ms`` [m s-1], ``rs_mj_m2`` the hour's
    solar radiation [MJ m-2 h-1]; ``lat_deg`` [deg], ``lon_deg`` [deg, east positive],
    ``elevation_m`` [m]. Ra follows Eq. 28-33 with UTC as the time zone (Lz = 0). G is 0.1 Rn by
    day and 0.5 Rn at night (Eq. 45, 46). At night and near sunset Rs/Rso is the value of the
    last hour ending at least two hours before sunset (``night_ratio_default`` before any).
    """
    lat, elev = check_site(lat_deg, elevation_m)
    if not -180.0 <= lon_deg <= 360.0:
        raise ValueError(f"lon_deg: {lon_deg} is outside [-180, 360]")
    _, doy, hour = _hours(times_utc)
    n = doy.size
    t = np.broadcast_to(np.asarray(t_c, dtype=np.float64), (n,))
    rh = np.broadcast_to(np.asarray(rh_pct, dtype=np.float64), (n,))
    u2 = np.broadcast_to(np.asarray(wind2m_ms, dtype=np.float64), (n,))
    rs = np.broadcast_to(np.asarray(rs_mj_m2, dtype=np.float64), (n,))

    # Eq. 7, 8, 11, 13, and ea from RH (Eq. 54: ea = e0(Thr) RHhr / 100).
    gamma = np.full(n, float(fao56.psychrometric_constant(fao56.atmospheric_pressure(elev))))
    e0 = fao56.saturation_vapour_pressure(t)
    ea = e0 * rh / 100.0
    delta = fao56.slope_vapour_pressure_curve(t)

    # Eq. 28-33 with Lz = 0 (UTC) and Lm = -lon (degrees west of Greenwich); Eq. 37.
    lat_rad = np.deg2rad(lat)
    ra = fao56.extraterrestrial_radiation_hourly(
        lat_rad, doy, hour, lon_west_deg=-lon_deg, lz_west_deg=0.0
    )
    rso = fao56.clear_sky_radiation(ra, elev)
    is_day = ra > 0.0

    # Rs/Rso: measured where the sun is well up, else carried from the last reliable hour.
    omega = fao56.solar_time_angle(hour, -lon_deg, 0.0, doy)
    omega_s = fao56.sunset_hour_angle(lat_rad, fao56.solar_declination(doy))
    hours_to_sunset = (omega_s - omega) * 12.0 / np.pi - 0.5
    reliable = is_day & (hours_to_sunset >= HOURS_BEFORE_SUNSET) & np.isfinite(rs)
    measured = fao56.relative_shortwave_radiation(rs, rso)
    last = np.where(reliable, np.arange(n), -1)
    np.maximum.accumulate(last, out=last)
    carried = np.where(last >= 0, measured[np.maximum(last, 0)], night_ratio_default)
    ratio = np.where(reliable, measured, carried)

    # Eq. 38-40, 45-46, 53.
    rnl = fao56.net_longwave_radiation_hourly(t, ea, ratio)
    rn = fao56.net_radiation(fao56.net_shortwave_radiation(rs), rnl)
    g = fao56.soil_heat_flux_hourly(rn, is_day)
    eto = fao56.penman_monteith_hourly(t_c=t, u2=u2, ea=ea, delta=delta, gamma=gamma, rn=rn, g=g)

    flags = np.zeros(n, np.uint32)
    flags[~np.isfinite(eto)] |= np.uint32(Flag.ETO_MISSING)
    details = {
        "doy": doy,
        "hour_utc": hour,
        "gamma": gamma,
        "delta": delta,
        "e0": e0,
        "ea": ea,
        "ra": ra,
        "rso": rso,
        "rs_rso": ratio,
        "rnl": rnl,
        "rn": rn,
        "g": g,
        "u2": np.array(u2),
    }
    return EtoResult(eto=eto, flags=flags, details=details)
