"""NASA POWER daily point API (community AG): temperatures, RH, 2 m wind, Rs, precipitation."""

from __future__ import annotations

import math
from datetime import date
from typing import Any

import numpy as np

from evapo.schema import DailySeries
from evapo.sources._convert import MalformedResponse, day_axis, radiation_to_mj
from evapo.sources.coverage import COVERAGE
from evapo.sources.http import Upstream

PATH = "/api/temporal/daily/point"
#: POWER parameter -> canonical column (community AG units: degC, %, m/s at 2 m, MJ/m2/day, mm/day).
PARAMETERS = {
    "T2M_MAX": "tmax_c",
    "T2M_MIN": "tmin_c",
    "T2M": "tmean_c",
    "RH2M": "rh_mean_pct",
    "WS2M": "wind2m_ms",
    "ALLSKY_SFC_SW_DWN": "rs_mj_m2",
    "PRECTOTCORR": "precip_mm",
}


class NasaPower:
    """Adapter of ``power.larc.nasa.gov`` daily point data."""

    name = "nasa_power"
    coverage = COVERAGE["nasa_power"]

    async def fetch(
        self, http: Upstream, lat: float, lon: float, first: date, last: date, *, today: date
    ) -> DailySeries:
        """Daily series ``first..last`` at the point."""
        params = {
            "parameters": ",".join(PARAMETERS),
            "community": "AG",
            "longitude": f"{lon:.4f}",
            "latitude": f"{lat:.4f}",
            "start": first.strftime("%Y%m%d"),
            "end": last.strftime("%Y%m%d"),
            "format": "JSON",
            "time-standard": "LST",
        }
        body = await http.get_json(self.name, PATH, params)
        return parse(body, first, last, lat, lon)


def parse(body: Any, first: date, last: date, lat: float, lon: float) -> DailySeries:
    """Canonical series from a POWER JSON body; the fill value becomes NaN."""
    try:
        parameter = body["properties"]["parameter"]
        fill = float(body.get("header", {}).get("fill_value", -999.0))
        coords = body.get("geometry", {}).get("coordinates", [])
        units = {k: v.get("units", "") for k, v in body.get("parameters", {}).items()}
    except (KeyError, TypeError, AttributeError) as exc:
        raise MalformedResponse("nasa_power", f"unexpected body shape: {exc!r}") from None
    dates = day_axis(first, last)
    keys = [k.replace("-", "") for k in np.datetime_as_string(dates).tolist()]
    values: dict[str, np.ndarray] = {}
    for name, column in PARAMETERS.items():
        series = parameter.get(name)
        if not isinstance(series, dict):
            continue  # absent variable: the column stays NaN
        if list(series) == keys:  # the usual shape: every day, in order
            arr = np.array(list(series.values()), dtype=np.float64)
        else:
            arr = np.array([_num(series.get(k)) for k in keys], dtype=np.float64)
        arr[arr == fill] = np.nan
        if column == "rs_mj_m2" and name in units:
            arr = radiation_to_mj(arr, units[name], "nasa_power")
        values[column] = arr
    elevation = float(coords[2]) if len(coords) >= 3 and coords[2] is not None else math.nan
    if elevation == fill:
        elevation = math.nan
    return DailySeries(
        dates=dates,
        values=values,
        flags=np.zeros(len(dates), np.uint32),
        source="nasa_power",
        lat=lat,
        lon=lon,
        elevation_m=elevation,
    )


def _num(value: Any) -> float:
    return math.nan if value is None else float(value)
