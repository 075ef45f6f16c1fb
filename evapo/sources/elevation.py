"""Site elevation: the user's value wins; else Open-Meteo's elevation API; else NASA POWER's."""

from __future__ import annotations

import math
from datetime import date

from evapo.config import Settings
from evapo.logging import get_logger
from evapo.sources.base import SourceError
from evapo.sources.http import Upstream, UpstreamError
from evapo.sources.nasa_power import PATH as POWER_PATH

log = get_logger(__name__)

#: Lowest and highest plausible land elevation [m].
ELEVATION_RANGE = (-450.0, 9000.0)


async def resolve_elevation(
    lat: float,
    lon: float,
    *,
    user_elevation: float | None,
    settings: Settings,
    client: Upstream | None = None,
) -> tuple[float, str]:
    """Elevation [m] and where it came from: ``user``, ``openmeteo_elevation`` or ``nasa_power``.

    Raises :class:`SourceError` (source ``elevation``) when no value can be had.
    """
    if user_elevation is not None:
        lo, hi = ELEVATION_RANGE
        if not (math.isfinite(user_elevation) and lo <= user_elevation <= hi):
            raise ValueError(f"elevation: must be within [{lo}, {hi}] m, got {user_elevation!r}")
        return float(user_elevation), "user"
    http = client or Upstream(settings)
    reasons = []
    try:
        try:
            body = await http.get_json(
                "openmeteo_elevation",
                "/v1/elevation",
                {"latitude": f"{lat:.4f}", "longitude": f"{lon:.4f}"},
            )
            value = float(body["elevation"][0])
            if math.isfinite(value):
                return value, "openmeteo_elevation"
            reasons.append("openmeteo_elevation: not a number")
        except UpstreamError as exc:
            reasons.append(f"openmeteo_elevation: {exc.reason}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            reasons.append(f"openmeteo_elevation: unexpected body ({exc!r})")
        try:
            day = date(2020, 1, 1).strftime("%Y%m%d")
            body = await http.get_json(
                "nasa_power",
                POWER_PATH,
                {
                    "parameters": "T2M",
                    "community": "AG",
                    "latitude": f"{lat:.4f}",
                    "longitude": f"{lon:.4f}",
                    "start": day,
                    "end": day,
                    "format": "JSON",
                },
            )
            value = float(body["geometry"]["coordinates"][2])
            if math.isfinite(value) and value != -999.0:
                return value, "nasa_power"
            reasons.append("nasa_power: fill value")
        except UpstreamError as exc:
            reasons.append(f"nasa_power: {exc.reason}")
        except (KeyError, IndexError, TypeError, ValueError) as exc:
            reasons.append(f"nasa_power: unexpected body ({exc!r})")
    finally:
        if client is None:
            await http.aclose()
    log.warning("elevation_unresolved", lat=lat, lon=lon, reasons=reasons)
    raise SourceError("elevation", None, "; ".join(reasons), kind="unavailable")
