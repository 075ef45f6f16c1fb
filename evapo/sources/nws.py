"""US National Weather Service (api.weather.gov): points lookup, then raw gridpoint series.

Layers come as ISO 8601 intervals (``2026-11-28T18:00:00+00:00/PT3H``); they are expanded to
hours and reduced per local solar day. Wind (10 m) goes to 2 m by FAO-56 Eq. 47; sky cover gives
Rs through the Angstrom relation (FAO-56 Eq. 35, n/N = 1 - sky cover). USA only: the points
endpoint answers 404 elsewhere.
"""

from __future__ import annotations

import math
import re
from datetime import UTC, date, datetime, timedelta
from typing import Any
from urllib.parse import urlsplit

import numpy as np

from evapo.config import UPSTREAM_HOSTS
from evapo.schema import DailySeries, Flag
from evapo.sources._convert import (
    WIND_TO_MS,
    MalformedResponse,
    aggregate_hourly,
    forecast_flags,
    rs_from_cloud,
    wind_10m_to_2m,
)
from evapo.sources.coverage import COVERAGE
from evapo.sources.http import Upstream, UpstreamError

_DURATION = re.compile(r"^P(?:(\d+)D)?(?:T(?:(\d+)H)?(?:(\d+)M)?(?:(\d+)S)?)?$")
_GRID_PATH = re.compile(r"^/gridpoints/[A-Z]{3}/\d+,\d+$")


class Nws:
    """Adapter of ``api.weather.gov`` gridpoint forecasts."""

    name = "nws"
    coverage = COVERAGE["nws"]

    async def fetch(
        self, http: Upstream, lat: float, lon: float, first: date, last: date, *, today: date
    ) -> DailySeries:
        """Daily series ``first..last`` (forecast days) at the point."""
        try:
            point = await http.get_json(self.name, f"/points/{lat:.4f},{lon:.4f}")
        except UpstreamError as exc:
            if exc.kind == "not_found":
                raise UpstreamError(
                    self.name, "point outside NWS coverage (USA only)", kind="not_found"
                ) from None
            raise
        path = grid_path(point)
        body = await http.get_json(self.name, path)
        series = parse(body, first, last, lat, lon)
        series.flags |= forecast_flags(series.dates, today)
        return series


def grid_path(point: Any) -> str:
    """Path of the gridpoint URL in a points answer, checked to be on the NWS host."""
    try:
        url = str(point["properties"]["forecastGridData"])
    except (KeyError, TypeError) as exc:
        raise MalformedResponse("nws", f"points answer without forecastGridData: {exc!r}") from None
    parts = urlsplit(url)
    if parts.hostname != UPSTREAM_HOSTS["nws"] or not _GRID_PATH.match(parts.path):
        raise MalformedResponse("nws", f"unexpected gridpoint URL {url!r}")
    return parts.path


def expand(layer: Any, scale: float = 1.0, *, accumulate: bool = False) -> dict[datetime, float]:
    """Hourly values of one gridpoint layer (UTC naive hours); accumulations spread evenly."""
    out: dict[datetime, float] = {}
    for item in layer.get("values", []):
        start_s, _, dur_s = str(item["validTime"]).partition("/")
        start = datetime.fromisoformat(start_s)
        if start.tzinfo is not None:
            start = start.astimezone(UTC).replace(tzinfo=None)
        m = _DURATION.match(dur_s)
        if not m:
            raise ValueError(f"bad duration {dur_s!r}")
        days, hours, minutes, _sec = (int(g) if g else 0 for g in m.groups())
        n = max(1, days * 24 + hours + (1 if minutes else 0))
        value = item.get("value")
        v = math.nan if value is None else float(value) * scale
        if accumulate:
            v /= n
        for h in range(n):
            out[start + timedelta(hours=h)] = v
    return out


def parse(body: Any, first: date, last: date, lat: float, lon: float) -> DailySeries:
    """Canonical daily series from a raw gridpoint body."""
    try:
        props = body["properties"]
        temp_layer = props["temperature"]
        t_scale, t_offset = (
            (5 / 9, -32.0) if temp_layer.get("uom") == "wmoUnit:degF" else (1.0, 0.0)
        )
        temp = {t: (v + t_offset) * t_scale for t, v in expand(temp_layer).items()}
        rh = expand(props.get("relativeHumidity", {}))
        wind_uom = props.get("windSpeed", {}).get("uom", "wmoUnit:km_h-1")
        if wind_uom not in WIND_TO_MS:
            raise MalformedResponse("nws", f"unexpected wind unit {wind_uom!r}")
        wind = expand(props.get("windSpeed", {}), WIND_TO_MS[wind_uom])
        sky = expand(props.get("skyCover", {}), 0.01)
        rain = expand(props.get("quantitativePrecipitation", {}), accumulate=True)
        elev = (props.get("elevation") or {}).get("value")
    except (KeyError, TypeError, ValueError, AttributeError) as exc:
        raise MalformedResponse("nws", f"unexpected body shape: {exc!r}") from None
    hours = sorted(set(temp) | set(rh) | set(wind) | set(sky))
    cols = {
        "t": [temp.get(h, math.nan) for h in hours],
        "rh": [rh.get(h, math.nan) for h in hours],
        "wind": [wind.get(h, math.nan) for h in hours],
        "sky": [sky.get(h, math.nan) for h in hours],
    }
    dates, daily = aggregate_hourly(hours, cols, lon, first, last)
    rain_hours = sorted(rain)
    _, rain_daily = aggregate_hourly(
        rain_hours, {"p": [rain[h] for h in rain_hours]}, lon, first, last
    )
    wind10, sky_mean = daily["wind"]["mean"], daily["sky"]["mean"]
    flags = np.zeros(len(dates), np.uint32)
    flags[~np.isnan(wind10)] |= np.uint32(Flag.WIND_FROM_10M)
    flags[~np.isnan(sky_mean)] |= np.uint32(Flag.RS_FROM_CLOUD)
    values = {
        "tmax_c": daily["t"]["max"],
        "tmin_c": daily["t"]["min"],
        "tmean_c": daily["t"]["mean"],
        "rh_mean_pct": daily["rh"]["mean"],
        "rh_max_pct": daily["rh"]["max"],
        "rh_min_pct": daily["rh"]["min"],
        "wind2m_ms": wind_10m_to_2m(wind10),
        "rs_mj_m2": rs_from_cloud(sky_mean, lat, dates),
        "precip_mm": rain_daily["p"]["sum"],
    }
    return DailySeries(
        dates=dates,
        values=values,
        flags=flags,
        source="nws",
        lat=lat,
        lon=lon,
        elevation_m=math.nan if elev is None else float(elev),
    )
