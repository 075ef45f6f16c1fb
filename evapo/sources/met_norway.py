"""MET Norway locationforecast 2.0 (compact): hourly/6-hourly steps aggregated to local days.

Daily Tmax/Tmin/Tmean, RH mean/max/min come from the instant values of each local solar day;
wind is the 10 m mean converted to 2 m (FAO-56 Eq. 47); Rs is estimated from the mean cloud area
fraction with the Angstrom relation (FAO-56 Eq. 35, n/N = 1 - cloud fraction). The API needs an
identifying User-Agent (``settings.user_agent``) and answers 403 without one.
"""

from __future__ import annotations

import itertools
import math
from datetime import date, datetime, timedelta
from typing import Any

import numpy as np

from evapo.schema import DailySeries, Flag
from evapo.sources._convert import (
    MalformedResponse,
    aggregate_hourly,
    forecast_flags,
    rs_from_cloud,
    wind_10m_to_2m,
)
from evapo.sources.coverage import COVERAGE
from evapo.sources.http import Upstream

PATH = "/weatherapi/locationforecast/2.0/compact"


class MetNorway:
    """Adapter of ``api.met.no`` locationforecast 2.0."""

    name = "met_norway"
    coverage = COVERAGE["met_norway"]

    async def fetch(
        self, http: Upstream, lat: float, lon: float, first: date, last: date, *, today: date
    ) -> DailySeries:
        """Daily series ``first..last`` (forecast days) at the point."""
        # The API's terms ask for at most 4 decimals in coordinates.
        params = {"lat": f"{lat:.4f}", "lon": f"{lon:.4f}"}
        body = await http.get_json(self.name, PATH, params)
        series = parse(body, first, last, lat, lon)
        series.flags |= forecast_flags(series.dates, today)
        return series


def parse(body: Any, first: date, last: date, lat: float, lon: float) -> DailySeries:
    """Canonical daily series from a locationforecast GeoJSON body."""
    try:
        steps = body["properties"]["timeseries"]
        coords = body.get("geometry", {}).get("coordinates", [])
        times: list[datetime] = []
        cols: dict[str, list[float]] = {
            k: []
            for k in ("air_temperature", "relative_humidity", "wind_speed", "cloud_area_fraction")
        }
        precip_t: list[datetime] = []
        precip_v: list[float] = []
        precip_h: list[float] = []
        covered_until: datetime | None = None
        for step in steps:
            t = datetime.strptime(step["time"], "%Y-%m-%dT%H:%M:%SZ")
            data = step["data"]
            details = data["instant"]["details"]
            times.append(t)
            for k, values in cols.items():
                v = details.get(k)
                values.append(math.nan if v is None else float(v))
            for period, hours in (("next_1_hours", 1), ("next_6_hours", 6)):
                block = data.get(period)
                if block and (covered_until is None or t >= covered_until):
                    amount = block.get("details", {}).get("precipitation_amount")
                    if amount is not None:
                        precip_t.append(t)
                        precip_v.append(float(amount))
                        precip_h.append(float(hours))
                        covered_until = t + timedelta(hours=hours)
                        break
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse("met_norway", f"unexpected body shape: {exc!r}") from None
    # Each step stands for the time until the next one (hourly, later 6-hourly).
    gaps = [(b - a).total_seconds() / 3600.0 for a, b in itertools.pairwise(times)]
    step_hours = [min(g, 6.0) for g in gaps] + [gaps[-1] if gaps else 1.0]
    dates, daily = aggregate_hourly(times, cols, lon, first, last, hours=step_hours)
    _, rain = aggregate_hourly(
        precip_t, {"p": precip_v}, lon, first, last, hours=precip_h, min_samples=1
    )
    temp, rh = daily["air_temperature"], daily["relative_humidity"]
    wind10 = daily["wind_speed"]["mean"]
    cloud = daily["cloud_area_fraction"]["mean"] / 100.0
    flags = np.zeros(len(dates), np.uint32)
    flags[~np.isnan(wind10)] |= np.uint32(Flag.WIND_FROM_10M)
    flags[~np.isnan(cloud)] |= np.uint32(Flag.RS_FROM_CLOUD)
    canonical = {
        "tmax_c": temp["max"],
        "tmin_c": temp["min"],
        "tmean_c": temp["mean"],
        "rh_mean_pct": rh["mean"],
        "rh_max_pct": rh["max"],
        "rh_min_pct": rh["min"],
        "wind2m_ms": wind_10m_to_2m(wind10),
        "rs_mj_m2": rs_from_cloud(cloud, lat, dates),
        "precip_mm": rain["p"]["sum"],
    }
    elevation = float(coords[2]) if len(coords) >= 3 and coords[2] is not None else math.nan
    return DailySeries(
        dates=dates,
        values=canonical,
        flags=flags,
        source="met_norway",
        lat=lat,
        lon=lon,
        elevation_m=elevation,
    )
