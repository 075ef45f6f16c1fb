"""Open-Meteo historical archive and forecast APIs (daily aggregates in local time)."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np

from evapo.schema import DailySeries, Flag
from evapo.sources._convert import (
    WIND_TO_MS,
    MalformedResponse,
    day_axis,
    forecast_flags,
    radiation_to_mj,
    wind_10m_to_2m,
)
from evapo.sources.coverage import COVERAGE, Coverage
from evapo.sources.http import Upstream

#: Open-Meteo daily variable -> canonical column (wind and radiation converted on the way).
DAILY = {
    "temperature_2m_max": "tmax_c",
    "temperature_2m_min": "tmin_c",
    "temperature_2m_mean": "tmean_c",
    "relative_humidity_2m_mean": "rh_mean_pct",
    "relative_humidity_2m_max": "rh_max_pct",
    "relative_humidity_2m_min": "rh_min_pct",
    "wind_speed_10m_mean": "wind10m",
    "shortwave_radiation_sum": "rs_mj_m2",
    "precipitation_sum": "precip_mm",
    "et0_fao_evapotranspiration": "eto_provider",
}


class _OpenMeteo:
    name: str
    api: str
    path: str
    coverage: Coverage

    async def fetch(
        self, http: Upstream, lat: float, lon: float, first: date, last: date, *, today: date
    ) -> DailySeries:
        """Daily series ``first..last`` at the point."""
        params = {
            "latitude": f"{lat:.4f}",
            "longitude": f"{lon:.4f}",
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "daily": ",".join(DAILY),
            "timezone": "auto",
            "wind_speed_unit": "ms",
        }
        body = await http.get_json(self.api, self.path, params, count_as=self.name)
        series = parse(body, first, last, lat, lon, source=self.name)
        if self.coverage.forecast:
            series.flags |= forecast_flags(series.dates, today)
        return series

    async def fetch_many(
        self,
        http: Upstream,
        points: list[tuple[float, float]],
        first: date,
        last: date,
        *,
        today: date,
    ) -> list[DailySeries]:
        """Daily series ``first..last`` at several points with one request (comma lists).

        Open-Meteo answers a list of per-location bodies, in the order asked, for several
        coordinates (one body for one).
        """
        params = {
            "latitude": ",".join(f"{lat:.4f}" for lat, _ in points),
            "longitude": ",".join(f"{lon:.4f}" for _, lon in points),
            "start_date": first.isoformat(),
            "end_date": last.isoformat(),
            "daily": ",".join(DAILY),
            "timezone": "auto",
            "wind_speed_unit": "ms",
        }
        body = await http.get_json(self.api, self.path, params, count_as=self.name)
        bodies = body if isinstance(body, list) else [body]
        if len(bodies) != len(points):
            raise MalformedResponse(
                self.name, f"{len(bodies)} location(s) answered for {len(points)} asked"
            )
        out = []
        for (lat, lon), one in zip(points, bodies, strict=True):
            series = parse(one, first, last, lat, lon, source=self.name)
            if self.coverage.forecast:
                series.flags |= forecast_flags(series.dates, today)
            out.append(series)
        return out


class OpenMeteoArchive(_OpenMeteo):
    """Adapter of ``archive-api.open-meteo.com/v1/archive`` (ERA5 family reanalysis)."""

    name = "openmeteo_archive"
    api = "openmeteo_archive"
    coverage = COVERAGE["openmeteo_archive"]
    path = "/v1/archive"


class OpenMeteoForecast(_OpenMeteo):
    """Adapter of ``api.open-meteo.com/v1/forecast`` (recent past days and 16 forecast days)."""

    name = "openmeteo_forecast"
    api = "openmeteo_forecast"
    coverage = COVERAGE["openmeteo_forecast"]
    path = "/v1/forecast"


def parse(
    body: Any, first: date, last: date, lat: float, lon: float, *, source: str
) -> DailySeries:
    """Canonical series from an Open-Meteo ``daily`` body; 10 m wind converted to 2 m."""
    try:
        daily = body["daily"]
        units = body.get("daily_units", {})
        times = daily["time"]
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponse(source, f"unexpected body shape: {exc!r}") from None
    dates = day_axis(first, last)
    try:
        got = np.array(times, dtype="datetime64[D]")
    except ValueError:
        raise MalformedResponse(source, "daily.time holds something other than dates") from None
    pos = (got - dates[0]).astype(np.int64)
    keep = (pos >= 0) & (pos < len(dates))
    values: dict[str, np.ndarray] = {}
    extra: dict[str, np.ndarray] = {}
    flags = np.zeros(len(dates), np.uint32)
    for var, column in DAILY.items():
        raw = daily.get(var)
        if raw is None:
            continue  # absent variable: the column stays NaN
        if len(raw) != len(times):
            raise MalformedResponse(
                source, f"daily.{var} has {len(raw)} values for {len(times)} days"
            )
        try:
            got_values = np.array(raw, dtype=np.float64)  # null -> NaN
        except (TypeError, ValueError):
            raise MalformedResponse(source, f"daily.{var} holds non-numbers") from None
        arr = np.full(len(dates), np.nan)
        arr[pos[keep]] = got_values[keep]
        if column == "wind10m":
            unit = units.get(var, "km/h")
            if unit not in WIND_TO_MS:
                raise MalformedResponse(source, f"unexpected wind unit {unit!r}")
            values["wind2m_ms"] = wind_10m_to_2m(arr * WIND_TO_MS[unit])
            flags[~np.isnan(arr)] |= np.uint32(Flag.WIND_FROM_10M)
        elif column == "rs_mj_m2":
            values[column] = radiation_to_mj(arr, units.get(var, "MJ/m²"), source)
        elif column == "eto_provider":
            extra[column] = arr
        else:
            values[column] = arr
    elevation = body.get("elevation")
    return DailySeries(
        dates=dates,
        values=values,
        flags=flags,
        source=source,
        lat=lat,
        lon=lon,
        elevation_m=math.nan if elevation is None else float(elevation),
        extra=extra,
    )
