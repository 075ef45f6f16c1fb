"""Unit conversions and hourly-to-daily aggregation used by several adapters (FAO-56 based)."""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from datetime import date, datetime, timedelta

import numpy as np
from numpy.typing import NDArray

from evapo.schema import Flag, FloatArray
from evapo.science.fao56 import (
    extraterrestrial_radiation_daily,
    solar_radiation_angstrom,
    wind_speed_2m,
)
from evapo.sources.http import UpstreamError

#: Multiply a radiation in these units by the factor to get MJ m-2 day-1 (daily mean flux or sum).
RADIATION_TO_MJ = {
    "MJ/m^2/day": 1.0,
    "MJ/m²": 1.0,
    "MJ/m2": 1.0,
    "kW-hr/m^2/day": 3.6,
    "W/m^2": 0.0864,
    "W/m2": 0.0864,
}
#: Multiply a wind speed in these units by the factor to get m s-1.
WIND_TO_MS = {
    "m/s": 1.0,
    "km/h": 1 / 3.6,
    "wmoUnit:km_h-1": 1 / 3.6,
    "wmoUnit:m_s-1": 1.0,
    "mp/h": 0.44704,
    "kn": 0.514444,
}


class MalformedResponse(UpstreamError):
    """The upstream answered 200 but the body is not in the documented shape."""

    def __init__(self, api: str, reason: str) -> None:
        super().__init__(api, reason, kind="malformed")


def day_axis(first: date, last: date) -> NDArray[np.datetime64]:
    """Every day from ``first`` to ``last`` inclusive as ``datetime64[D]``."""
    return np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)


def wind_10m_to_2m(u10_ms: FloatArray) -> FloatArray:
    """Wind at 10 m to 2 m above grass (FAO-56 Eq. 47, factor 0.748) [m s-1]."""
    return wind_speed_2m(u10_ms, 10.0)


def radiation_to_mj(values: FloatArray, unit: str, api: str) -> FloatArray:
    """Daily radiation in ``unit`` to MJ m-2 day-1."""
    if unit not in RADIATION_TO_MJ:
        raise MalformedResponse(api, f"unexpected radiation unit {unit!r}")
    return values * RADIATION_TO_MJ[unit]


def rs_from_cloud(
    cloud_fraction: FloatArray, lat: float, dates: NDArray[np.datetime64]
) -> FloatArray:
    """Solar radiation from mean cloud fraction [0-1] (FAO-56 Eq. 35, n/N = 1 - cloud; Ra Eq. 21).

    Returns MJ m-2 day-1.
    """
    doy = (dates - dates.astype("datetime64[Y]")).astype(np.int64) + 1
    ra = extraterrestrial_radiation_daily(math.radians(lat), doy.astype(np.float64))
    return solar_radiation_angstrom(np.clip(1.0 - cloud_fraction, 0.0, 1.0), ra)


def local_day(t: datetime, lon: float) -> date:
    """Local solar day of a UTC time at longitude ``lon`` (offset lon/15 hours)."""
    return (t + timedelta(hours=lon / 15.0)).date()


def aggregate_hourly(
    times: Sequence[datetime],
    values: Mapping[str, Sequence[float]],
    lon: float,
    first: date,
    last: date,
    *,
    hours: Sequence[float] | None = None,
    min_hours: float = 20.0,
    min_samples: int = 4,
) -> tuple[NDArray[np.datetime64], dict[str, dict[str, FloatArray]]]:
    """Group UTC samples by local solar day and reduce each variable to daily mean/max/min/sum.

    ``hours`` is how long each sample stands for [h] (1 by default); the mean is weighted by it.
    A day whose valid samples of a variable cover fewer than ``min_hours`` hours, or number
    fewer than ``min_samples``, gets NaN for that variable (a partial day would bias Tmax/Tmin).
    """
    dates = day_axis(first, last)
    n = len(dates)
    day_idx = (
        np.array([(local_day(t, lon) - first).days for t in times], dtype=np.int64)
        if times
        else np.zeros(0, np.int64)
    )
    inside = (day_idx >= 0) & (day_idx < n)
    weight_all = np.ones(len(day_idx)) if hours is None else np.asarray(hours, dtype=np.float64)
    out: dict[str, dict[str, FloatArray]] = {}
    for name, seq in values.items():
        arr = np.asarray(seq, dtype=np.float64)
        stats = {k: np.full(n, np.nan) for k in ("mean", "max", "min", "sum")}
        ok = inside & ~np.isnan(arr)
        idx, val, weight = day_idx[ok], arr[ok], weight_all[ok]
        count = np.bincount(idx, minlength=n)
        covered = np.bincount(idx, weights=weight, minlength=n)
        total = np.bincount(idx, weights=val, minlength=n)
        weighted = np.bincount(idx, weights=val * weight, minlength=n)
        enough = (count >= min_samples) & (covered >= min_hours)
        stats["sum"][enough] = total[enough]
        stats["mean"][enough] = weighted[enough] / covered[enough]
        mx = np.full(n, -np.inf)
        mn = np.full(n, np.inf)
        np.maximum.at(mx, idx, val)
        np.minimum.at(mn, idx, val)
        stats["max"][enough] = mx[enough]
        stats["min"][enough] = mn[enough]
        out[name] = stats
    return dates, out


def forecast_flags(dates: NDArray[np.datetime64], today: date) -> NDArray[np.uint32]:
    """Flag.FORECAST on days from ``today`` on."""
    return np.where(
        dates >= np.datetime64(today, "D"), np.uint32(Flag.FORECAST), np.uint32(0)
    ).astype(np.uint32)
