"""Starlette app mimicking each upstream API's real request and response format, offline.

Paths are ``/{real host}{real path}`` so ``EVAPO_UPSTREAM_URL`` can point the product at it.
Control endpoints: ``POST /_control/faults`` ``{api, mode, count, retry_after, delay_s,
lat?, lon?, radius_deg?}`` (a fault with lat/lon hits only requests for that point),
``DELETE /_control/faults``, ``GET /_control/requests``, ``POST /_control/reset``.
One request can also ask for a fault with header ``X-Fake-Fault: MODE`` or query ``fault=MODE``.
"""

from __future__ import annotations

import asyncio
import json
import math
import time
from collections.abc import Awaitable, Callable
from datetime import UTC, date, datetime, timedelta
from pathlib import Path
from typing import Any

import numpy as np
import orjson
from numpy.typing import NDArray
from starlette.applications import Starlette
from starlette.requests import Request
from starlette.responses import JSONResponse, PlainTextResponse, Response
from starlette.routing import Route

from evapo.fakeapi.data import City, FakeData, FloatArray
from evapo.fakeapi.faults import Fault, FaultBoard
from evapo.sources.coverage import in_usa

Handler = Callable[[Request, Fault | None], Awaitable[Response]]

NASA_UNITS = {
    "T2M_MAX": ("C", "Temperature at 2 Meters Maximum"),
    "T2M_MIN": ("C", "Temperature at 2 Meters Minimum"),
    "T2M": ("C", "Temperature at 2 Meters"),
    "RH2M": ("%", "Relative Humidity at 2 Meters"),
    "WS2M": ("m/s", "Wind Speed at 2 Meters"),
    "ALLSKY_SFC_SW_DWN": ("MJ/m^2/day", "All Sky Surface Shortwave Downward Irradiance"),
    "PRECTOTCORR": ("mm/day", "Precipitation Corrected"),
}
NASA_FILL = -999.0

#: Open-Meteo daily variable -> (data product, column, unit). Absent columns are served as null.
OM_DAILY: dict[str, tuple[str, str, str]] = {
    "temperature_2m_max": ("open_meteo", "T2M_MAX", "°C"),
    "temperature_2m_min": ("open_meteo", "T2M_MIN", "°C"),
    "temperature_2m_mean": ("open_meteo", "T2M", "°C"),
    "relative_humidity_2m_mean": ("open_meteo", "RH2M", "%"),
    "relative_humidity_2m_max": ("open_meteo", "RH2M_MAX", "%"),
    "relative_humidity_2m_min": ("open_meteo", "RH2M_MIN", "%"),
    "wind_speed_10m_mean": ("open_meteo", "WS10M", "m/s"),
    "wind_speed_10m_max": ("open_meteo", "WS10M_MAX", "m/s"),
    "shortwave_radiation_sum": ("open_meteo", "ALLSKY_SFC_SW_DWN", "MJ/m²"),
    "precipitation_sum": ("open_meteo", "PRECTOTCORR", "mm"),
    "et0_fao_evapotranspiration": ("open_meteo_eto", "eto_openmeteo", "mm"),
}
OM_WIND_FACTORS = {
    "ms": (1.0, "m/s"),
    "kmh": (3.6, "km/h"),
    "mph": (2.23694, "mp/h"),
    "kn": (1.94384, "kn"),
}
#: Variable dropped by fault mode ``missing`` in each API.
MISSING_VARIABLE = {
    "nasa_power": "ALLSKY_SFC_SW_DWN",
    "openmeteo": "shortwave_radiation_sum",
    "met_norway": "cloud_area_fraction",
    "nws": "skyCover",
}
GENERIC_AGENTS = (
    "python-httpx",
    "python-requests",
    "python-urllib",
    "curl/",
    "wget",
    "okhttp",
    "java",
)
NWS_GRID_DEG = 0.025


class BadRequest(ValueError):
    """A query parameter the real API would refuse."""


def create_app(data_dir: Path | str, *, board: FaultBoard | None = None) -> Starlette:
    """The fake upstream app serving ``data_dir`` (a folder laid out like the validation data)."""
    data = FakeData(Path(data_dir))
    faults = board or FaultBoard()

    def api_route(api: str, handler: Handler, error: Callable[[str, int], Response]) -> Any:
        async def endpoint(request: Request) -> Response:
            fault = faults.hit(api, _query_points(request))
            mode = request.headers.get("x-fake-fault") or request.query_params.get("fault")
            if mode:
                try:
                    fault = Fault(api=api, mode=mode, retry_after=1.0, delay_s=30.0)
                except ValueError as exc:
                    return error(str(exc), 400)
            if fault is not None:
                early = await _apply_transport_fault(fault)
                if early is not None:
                    return early
            try:
                response = await handler(request, fault)
            except BadRequest as exc:
                return error(str(exc), 400 if api != "nasa_power" else 422)
            if fault is not None and fault.mode == "malformed":
                body = bytes(response.body)
                return Response(body[: max(1, len(body) // 2)], media_type="application/json")
            return response

        return endpoint

    async def nasa_power(request: Request, fault: Fault | None) -> Response:
        return _nasa_power(data, request, fault)

    async def om_archive(request: Request, fault: Fault | None) -> Response:
        return _openmeteo(data, request, fault, forecast=False)

    async def om_forecast(request: Request, fault: Fault | None) -> Response:
        return _openmeteo(data, request, fault, forecast=True)

    async def om_elevation(request: Request, fault: Fault | None) -> Response:
        lats = _floats(request, "latitude")
        lons = _floats(request, "longitude")
        if len(lats) != len(lons):
            raise BadRequest("Parameter 'latitude' and 'longitude' must have the same number")
        elev = [data.nearest(a, o).alt_m for a, o in zip(lats, lons, strict=True)]
        return JSONResponse({"elevation": elev})

    async def met_norway(request: Request, fault: Fault | None) -> Response:
        agent = request.headers.get("user-agent", "").strip().lower()
        if not agent or agent.startswith(GENERIC_AGENTS):
            return PlainTextResponse(
                "403 Forbidden: identify your application in the User-Agent header", 403
            )
        return _met_norway(data, request, fault)

    async def nws_points(request: Request, fault: Fault | None) -> Response:
        return _nws_points(data, request)

    async def nws_grid(request: Request, fault: Fault | None) -> Response:
        return _nws_grid(data, request, fault)

    async def control_faults(request: Request) -> Response:
        if request.method == "DELETE":
            faults.clear()
            return JSONResponse({"faults": []})
        if request.method == "GET":
            return JSONResponse({"faults": faults.armed()})
        try:
            body = await request.json()
            fault = Fault(
                api=str(body.get("api", "*")),
                mode=str(body["mode"]),
                count=None if body.get("count") is None else int(body["count"]),
                retry_after=float(body.get("retry_after", 1.0)),
                delay_s=float(body.get("delay_s", 30.0)),
                lat=None if body.get("lat") is None else float(body["lat"]),
                lon=None if body.get("lon") is None else float(body["lon"]),
                radius_deg=float(body.get("radius_deg", 0.05)),
            )
        except (KeyError, TypeError, ValueError, json.JSONDecodeError) as exc:
            return JSONResponse({"error": f"bad fault: {exc}"}, status_code=400)
        faults.arm(fault)
        return JSONResponse({"faults": faults.armed()}, status_code=201)

    async def control_requests(request: Request) -> Response:
        return JSONResponse(faults.counts())

    async def control_reset(request: Request) -> Response:
        faults.reset()
        return JSONResponse(faults.counts())

    routes = [
        Route(
            "/power.larc.nasa.gov/api/temporal/daily/point",
            api_route("nasa_power", nasa_power, _nasa_error),
        ),
        Route(
            "/archive-api.open-meteo.com/v1/archive",
            api_route("openmeteo_archive", om_archive, _om_error),
        ),
        Route(
            "/api.open-meteo.com/v1/forecast",
            api_route("openmeteo_forecast", om_forecast, _om_error),
        ),
        Route(
            "/api.open-meteo.com/v1/elevation",
            api_route("openmeteo_elevation", om_elevation, _om_error),
        ),
        Route(
            "/api.met.no/weatherapi/locationforecast/2.0/compact",
            api_route("met_norway", met_norway, _text_error),
        ),
        Route("/api.weather.gov/points/{point}", api_route("nws", nws_points, _nws_error)),
        Route("/api.weather.gov/gridpoints/{wfo}/{xy}", api_route("nws", nws_grid, _nws_error)),
        Route("/_control/faults", control_faults, methods=["GET", "POST", "DELETE"]),
        Route("/_control/requests", control_requests, methods=["GET"]),
        Route("/_control/reset", control_reset, methods=["POST"]),
    ]
    app = Starlette(routes=routes)
    app.state.board = faults
    app.state.data = data
    return app


async def _apply_transport_fault(fault: Fault) -> Response | None:
    if fault.mode == "500":
        return JSONResponse({"error": "internal server error (fake)"}, status_code=500)
    if fault.mode == "429":
        return JSONResponse(
            {"error": True, "reason": "Too many requests (fake)"},
            status_code=429,
            headers={"Retry-After": f"{fault.retry_after:g}"},
        )
    if fault.mode == "slow":
        await asyncio.sleep(fault.delay_s)
    return None


# --- helpers -------------------------------------------------------------------------------


def _nasa_error(message: str, status: int) -> Response:
    return JSONResponse({"header": "Error", "messages": [message]}, status_code=status)


def _om_error(message: str, status: int) -> Response:
    return JSONResponse({"error": True, "reason": message}, status_code=status)


def _text_error(message: str, status: int) -> Response:
    return PlainTextResponse(message, status_code=status)


def _nws_error(message: str, status: int) -> Response:
    return JSONResponse(
        {
            "title": "Bad Request",
            "type": "https://api.weather.gov/problems/BadRequest",
            "status": status,
            "detail": message,
        },
        status_code=status,
        media_type="application/problem+json",
    )


def _float(request: Request, name: str, lo: float, hi: float) -> float:
    raw = request.query_params.get(name)
    if raw is None:
        raise BadRequest(f"Parameter '{name}' is required")
    try:
        value = float(raw)
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be a number, got {raw!r}") from None
    if not (lo <= value <= hi) or math.isnan(value):
        raise BadRequest(f"Parameter '{name}' must be in [{lo}, {hi}]")
    return value


def _query_points(request: Request) -> list[tuple[float, float]]:
    """The (lat, lon) pairs a request asks for (none when it names no coordinates)."""
    q = request.query_params
    lats, lons = q.get("latitude") or q.get("lat"), q.get("longitude") or q.get("lon")
    point = request.path_params.get("point")
    if point and "," in point:
        lats, lons = point.split(",", 1)
    try:
        return [
            (float(a), float(o))
            for a, o in zip((lats or "").split(","), (lons or "").split(","), strict=False)
            if a and o
        ]
    except ValueError:
        return []


def _floats(request: Request, name: str) -> list[float]:
    raw = request.query_params.get(name)
    if not raw:
        raise BadRequest(f"Parameter '{name}' is required")
    try:
        return [float(p) for p in raw.split(",")]
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be a list of numbers") from None


def _date(raw: str | None, name: str, fmt: str) -> date:
    if raw is None:
        raise BadRequest(f"Parameter '{name}' is required")
    try:
        return datetime.strptime(raw, fmt).date()
    except ValueError:
        raise BadRequest(f"Parameter '{name}' must be a date formatted {fmt}") from None


def _days(first: date, last: date) -> NDArray[np.datetime64]:
    if last < first:
        raise BadRequest("end date must not be before start date")
    return np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)


class FastJSON(Response):
    """JSON rendered by orjson (numpy arrays supported, NaN written as null)."""

    media_type = "application/json"

    def render(self, content: Any) -> bytes:
        return orjson.dumps(content, option=orjson.OPT_SERIALIZE_NUMPY)


def _today() -> date:
    return datetime.now(UTC).date()


# --- NASA POWER ----------------------------------------------------------------------------


def _nasa_power(data: FakeData, request: Request, fault: Fault | None) -> Response:
    q = request.query_params
    lat = _float(request, "latitude", -90, 90)
    lon = _float(request, "longitude", -180, 180)
    if (q.get("community") or "").upper() not in ("AG", "RE", "SB"):
        raise BadRequest("community must be one of AG, RE, SB")
    names = [p.strip().upper() for p in (q.get("parameters") or "").split(",") if p.strip()]
    if not names:
        raise BadRequest("parameters is required")
    unknown = [n for n in names if n not in NASA_UNITS]
    if unknown:
        raise BadRequest(f"unknown parameters: {', '.join(unknown)}")
    start = _date(q.get("start"), "start", "%Y%m%d")
    end = _date(q.get("end"), "end", "%Y%m%d")
    if start < date(1981, 1, 1):
        raise BadRequest("start date is before the earliest available date 19810101")
    days = _days(start, end)
    city = data.nearest(lat, lon)
    keys = [k.replace("-", "") for k in np.datetime_as_string(days).tolist()]
    mode = fault.mode if fault else None
    parameter: dict[str, dict[str, float]] = {}
    columns = data.values("nasa_power", city, names, days)
    for name in names:
        if mode == "missing" and name == MISSING_VARIABLE["nasa_power"]:
            continue
        values = columns[name]
        if mode == "fill":
            values = values.copy()
            values[::3] = np.nan
        values = np.where(np.isnan(values), NASA_FILL, values)
        parameter[name] = dict(zip(keys, np.round(values, 2).tolist(), strict=True))
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat, round(city.alt_m, 2)]},
        "properties": {"parameter": parameter},
        "header": {
            "title": "NASA/POWER Source Native Resolution Daily Data (fake)",
            "api": {"version": "v2.5.0", "name": "POWER Daily API"},
            "sources": ["merra2", "power", "ceres"],
            "fill_value": NASA_FILL,
            "time_standard": "LST",
            "start": keys[0],
            "end": keys[-1],
        },
        "messages": [],
        "parameters": {n: {"units": NASA_UNITS[n][0], "longname": NASA_UNITS[n][1]} for n in names},
        "times": {"data": 0.0, "process": 0.0},
    }
    return FastJSON(body)


# --- Open-Meteo ----------------------------------------------------------------------------


def _openmeteo(
    data: FakeData, request: Request, fault: Fault | None, *, forecast: bool
) -> Response:
    """One location's body, or a list of bodies for comma-separated coordinates (as the API)."""
    if "," not in (request.query_params.get("latitude") or ""):
        lat = _float(request, "latitude", -90, 90)
        lon = _float(request, "longitude", -180, 180)
        return FastJSON(_openmeteo_body(data, request, fault, forecast=forecast, lat=lat, lon=lon))
    lats, lons = _floats(request, "latitude"), _floats(request, "longitude")
    if len(lats) != len(lons):
        raise BadRequest("Parameter 'latitude' and 'longitude' must have the same number")
    for name, values, bound in (("latitude", lats, 90.0), ("longitude", lons, 180.0)):
        if any(not -bound <= v <= bound for v in values):
            raise BadRequest(f"Parameter '{name}' must be in [{-bound}, {bound}]")
    return FastJSON(
        [
            _openmeteo_body(data, request, fault, forecast=forecast, lat=a, lon=o)
            for a, o in zip(lats, lons, strict=True)
        ]
    )


def _openmeteo_body(
    data: FakeData,
    request: Request,
    fault: Fault | None,
    *,
    forecast: bool,
    lat: float,
    lon: float,
) -> dict[str, Any]:
    t0 = time.perf_counter()
    q = request.query_params
    today = _today()
    if forecast:
        lo, hi = today - timedelta(days=92), today + timedelta(days=15)
        if q.get("start_date") or q.get("end_date"):
            first = _date(q.get("start_date"), "start_date", "%Y-%m-%d")
            last = _date(q.get("end_date"), "end_date", "%Y-%m-%d")
        else:
            past, ahead = _int(q.get("past_days"), 0, 92, 0), _int(q.get("forecast_days"), 0, 16, 7)
            first, last = today - timedelta(days=past), today + timedelta(days=ahead - 1)
    else:
        lo, hi = date(1940, 1, 1), today
        first = _date(q.get("start_date"), "start_date", "%Y-%m-%d")
        last = _date(q.get("end_date"), "end_date", "%Y-%m-%d")
    for name, value in (("start_date", first), ("end_date", last)):
        if not lo <= value <= hi:
            raise BadRequest(f"Parameter '{name}' is out of allowed range from {lo} to {hi}")
    days = _days(first, last)
    unit = q.get("wind_speed_unit", "kmh")
    if unit not in OM_WIND_FACTORS:
        raise BadRequest(f"Parameter 'wind_speed_unit' has an invalid value {unit!r}")
    factor, wind_label = OM_WIND_FACTORS[unit]
    variables = [v.strip() for v in (q.get("daily") or "").split(",") if v.strip()]
    unknown = [v for v in variables if v not in OM_DAILY]
    if unknown:
        raise BadRequest(f"Cannot initialize DailyVariable from invalid String value {unknown[0]}")
    city = data.nearest(lat, lon)
    mode = fault.mode if fault else None
    daily: dict[str, Any] = {"time": np.datetime_as_string(days).tolist()}
    units: dict[str, str] = {"time": "iso8601"}
    by_product: dict[str, list[str]] = {}
    for var in variables:
        by_product.setdefault(OM_DAILY[var][0], []).append(OM_DAILY[var][1])
    columns = {p: data.values(p, city, cols, days) for p, cols in by_product.items()}
    for var in variables:
        if mode == "missing" and var == MISSING_VARIABLE["openmeteo"]:
            continue
        product, column, label = OM_DAILY[var]
        values = columns[product][column]
        if var.startswith("wind_speed"):
            values, label = values * factor, wind_label
        if mode == "fill":
            values = values.copy()
            values[::3] = np.nan
        daily[var] = np.round(values, 2)
        units[var] = label
    offset = round(lon / 15.0)
    body = {
        "latitude": round(lat, 4),
        "longitude": round(lon, 4),
        "generationtime_ms": round((time.perf_counter() - t0) * 1000, 3),
        "utc_offset_seconds": offset * 3600,
        "timezone": f"GMT{offset:+d}" if q.get("timezone") else "GMT",
        "timezone_abbreviation": f"GMT{offset:+d}" if q.get("timezone") else "GMT",
        "elevation": round(city.alt_m, 1),
        "daily_units": units,
        "daily": daily,
    }
    return body


def _int(raw: str | None, lo: int, hi: int, default: int) -> int:
    if raw is None:
        return default
    try:
        value = int(raw)
    except ValueError:
        raise BadRequest(f"expected an integer, got {raw!r}") from None
    if not lo <= value <= hi:
        raise BadRequest(f"value {value} out of range [{lo}, {hi}]")
    return value


# --- hourly synthesis (MET Norway, NWS) ----------------------------------------------------


def synthesise_hourly(
    data: FakeData, city: City, lat: float, lon: float, hours: list[datetime]
) -> dict[str, FloatArray]:
    """Hourly weather at UTC ``hours`` from the daily values of each local solar day.

    Temperature follows a cosine between Tmin (03 h) and Tmax (15 h); relative humidity the
    opposite around its daily mean; wind is the daily 10 m mean; cloud fraction inverts the
    Angstrom relation (FAO-56 Eq. 35) so that it reproduces the day's Rs; precipitation is spread
    evenly over the day.
    """
    from evapo.science.fao56 import extraterrestrial_radiation_daily

    shift = timedelta(hours=lon / 15.0)
    local = [h + shift for h in hours]
    days = np.array([t.date() for t in local], dtype="datetime64[D]")
    hour = np.array([t.hour + t.minute / 60.0 for t in local])
    names = ["T2M_MAX", "T2M_MIN", "RH2M", "WS10M", "ALLSKY_SFC_SW_DWN", "PRECTOTCORR"]
    cols = data.values("open_meteo", city, names, days)
    tmax, tmin, rh, wind, rs, precip = (cols[c] for c in names)
    doy = ((days - days.astype("datetime64[Y]")).astype(np.int64) + 1).astype(np.float64)
    ra = np.asarray(extraterrestrial_radiation_daily(math.radians(lat), doy), dtype=np.float64)
    wave = np.cos(2 * np.pi * (hour - 15.0) / 24.0)
    amp_rh = np.minimum(np.minimum(rh * 0.35, 100.0 - rh), 25.0)
    sunshine = np.clip((rs / ra - 0.25) / 0.5, 0.0, 1.0)
    return {
        "air_temperature": (tmax + tmin) / 2 + (tmax - tmin) / 2 * wave,
        "relative_humidity": np.clip(rh - amp_rh * wave, 1.0, 100.0),
        "wind_speed": wind,
        "cloud_area_fraction": 100.0 * (1.0 - sunshine),
        "precipitation_amount": precip / 24.0,
    }


def _met_norway(data: FakeData, request: Request, fault: Fault | None) -> Response:
    lat = _float(request, "lat", -90, 90)
    lon = _float(request, "lon", -180, 180)
    city = data.nearest(lat, lon)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    steps = [now + timedelta(hours=i) for i in range(60)]
    t = steps[-1] + timedelta(hours=1)
    while t.hour % 6:
        t += timedelta(hours=1)
    end = now + timedelta(days=9, hours=12)
    while t <= end:
        steps.append(t)
        t += timedelta(hours=6)
    hourly_times = [
        now + timedelta(hours=i) for i in range(int((end - now).total_seconds() // 3600) + 7)
    ]
    hourly = synthesise_hourly(data, city, lat, lon, hourly_times)
    index = {h: i for i, h in enumerate(hourly_times)}
    mode = fault.mode if fault else None
    series = []
    for n, step in enumerate(steps):
        i = index[step]
        details: dict[str, float | None] = {
            "air_pressure_at_sea_level": 1013.2,
            "air_temperature": round(float(hourly["air_temperature"][i]), 1),
            "cloud_area_fraction": round(float(hourly["cloud_area_fraction"][i]), 1),
            "relative_humidity": round(float(hourly["relative_humidity"][i]), 1),
            "wind_from_direction": 90.0,
            "wind_speed": round(float(hourly["wind_speed"][i]), 1),
        }
        if mode == "missing":
            del details[MISSING_VARIABLE["met_norway"]]
        if mode == "fill" and n % 3 == 0:
            details["air_temperature"] = None
        entry: dict[str, Any] = {"instant": {"details": details}}
        p6 = float(np.nansum(hourly["precipitation_amount"][i : i + 6]))
        entry["next_6_hours"] = {
            "summary": {"symbol_code": "cloudy"},
            "details": {"precipitation_amount": round(p6, 1)},
        }
        entry["next_12_hours"] = {"summary": {"symbol_code": "cloudy"}, "details": {}}
        if n < 60:
            p1 = float(hourly["precipitation_amount"][i])
            entry["next_1_hours"] = {
                "summary": {"symbol_code": "cloudy"},
                "details": {"precipitation_amount": round(p1, 1)},
            }
        series.append({"time": step.strftime("%Y-%m-%dT%H:%M:%SZ"), "data": entry})
    body = {
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat, round(city.alt_m)]},
        "properties": {
            "meta": {
                "updated_at": now.strftime("%Y-%m-%dT%H:%M:%SZ"),
                "units": {
                    "air_pressure_at_sea_level": "hPa",
                    "air_temperature": "celsius",
                    "cloud_area_fraction": "%",
                    "precipitation_amount": "mm",
                    "relative_humidity": "%",
                    "wind_from_direction": "degrees",
                    "wind_speed": "m/s",
                },
            },
            "timeseries": series,
        },
    }
    return JSONResponse(body)


# --- NWS -----------------------------------------------------------------------------------


def _nws_points(data: FakeData, request: Request) -> Response:
    raw = str(request.path_params["point"])
    try:
        lat_s, lon_s = raw.split(",")
        lat, lon = float(lat_s), float(lon_s)
    except ValueError:
        raise BadRequest(f"Invalid point {raw!r}") from None
    if not in_usa(lat, lon):
        return JSONResponse(
            {
                "correlationId": "fake",
                "title": "Data Unavailable For Requested Point",
                "type": "https://api.weather.gov/problems/InvalidPoint",
                "status": 404,
                "detail": f"Unable to provide data for requested point {lat},{lon}",
                "instance": "https://api.weather.gov/requests/fake",
            },
            status_code=404,
            media_type="application/problem+json",
        )
    x = round((lon + 180.0) / NWS_GRID_DEG)
    y = round((lat + 90.0) / NWS_GRID_DEG)
    grid = f"https://api.weather.gov/gridpoints/FAK/{x},{y}"
    body = {
        "id": f"https://api.weather.gov/points/{lat},{lon}",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": {
            "@id": f"https://api.weather.gov/points/{lat},{lon}",
            "cwa": "FAK",
            "gridId": "FAK",
            "gridX": x,
            "gridY": y,
            "forecast": f"{grid}/forecast",
            "forecastHourly": f"{grid}/forecast/hourly",
            "forecastGridData": grid,
            "timeZone": "UTC",
        },
    }
    return JSONResponse(body, media_type="application/geo+json")


def _nws_grid(data: FakeData, request: Request, fault: Fault | None) -> Response:
    try:
        x_s, y_s = str(request.path_params["xy"]).split(",")
        x, y = int(x_s), int(y_s)
    except ValueError:
        raise BadRequest("Invalid grid point") from None
    lon, lat = x * NWS_GRID_DEG - 180.0, y * NWS_GRID_DEG - 90.0
    city = data.nearest(lat, lon)
    now = datetime.now(UTC).replace(minute=0, second=0, microsecond=0, tzinfo=None)
    hours = [now + timedelta(hours=i) for i in range(7 * 24)]
    hourly = synthesise_hourly(data, city, lat, lon, hours)
    mode = fault.mode if fault else None

    def layer(values: FloatArray, uom: str, step: int, agg: str = "mean") -> dict[str, Any]:
        out = []
        for i in range(0, len(hours), step):
            chunk = values[i : i + step]
            v = float(np.sum(chunk) if agg == "sum" else np.mean(chunk))
            stamp = hours[i].strftime("%Y-%m-%dT%H:%M:%S+00:00")
            out.append({"validTime": f"{stamp}/PT{len(chunk)}H", "value": round(v, 2)})
        if mode == "fill":
            for item in out[::3]:
                item["value"] = None
        return {"uom": uom, "values": out}

    props: dict[str, Any] = {
        "updateTime": now.strftime("%Y-%m-%dT%H:%M:%S+00:00"),
        "validTimes": f"{now.strftime('%Y-%m-%dT%H:%M:%S+00:00')}/P7D",
        "elevation": {"unitCode": "wmoUnit:m", "value": round(city.alt_m, 1)},
        "gridId": "FAK",
        "gridX": x,
        "gridY": y,
        "temperature": layer(hourly["air_temperature"], "wmoUnit:degC", 1),
        "relativeHumidity": layer(hourly["relative_humidity"], "wmoUnit:percent", 1),
        "windSpeed": layer(hourly["wind_speed"] * 3.6, "wmoUnit:km_h-1", 3),
        "skyCover": layer(hourly["cloud_area_fraction"], "wmoUnit:percent", 3),
        "quantitativePrecipitation": layer(
            hourly["precipitation_amount"], "wmoUnit:mm", 6, agg="sum"
        ),
    }
    if mode == "missing":
        del props[MISSING_VARIABLE["nws"]]
    body = {
        "id": f"https://api.weather.gov/gridpoints/FAK/{x},{y}",
        "type": "Feature",
        "geometry": {"type": "Point", "coordinates": [lon, lat]},
        "properties": props,
    }
    return JSONResponse(body, media_type="application/geo+json")
