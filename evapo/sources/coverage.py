"""What each source can serve: area, first/last day relative to today, and per-variable lag."""

from __future__ import annotations

from collections.abc import Mapping
from dataclasses import dataclass, field
from datetime import date, timedelta

#: Evapo serves days from this date on (earlier requests are refused by the planner).
PRODUCT_FIRST_DAY = date(1990, 1, 1)

#: Approximate boxes of the areas NWS forecasts (CONUS in four parts, Alaska, Hawaii, Puerto Rico)
#: as (lat_min, lat_max, lon_min, lon_max) [deg]; the points endpoint has the final word (404).
USA_BOXES: tuple[tuple[float, float, float, float], ...] = (
    (24.4, 49.1, -125.0, -95.2),
    (24.4, 45.0, -95.2, -66.9),
    (45.0, 49.4, -95.2, -82.4),
    (45.0, 47.5, -71.1, -66.9),
    (51.0, 71.6, -180.0, -129.9),
    (18.8, 22.4, -160.3, -154.7),
    (17.8, 18.6, -67.4, -65.2),
)


def in_usa(lat: float, lon: float) -> bool:
    """True when the point lies in one of :data:`USA_BOXES` (NWS coverage)."""
    return any(a <= lat <= b and c <= lon <= d for a, b, c, d in USA_BOXES)


@dataclass(frozen=True)
class Coverage:
    """Days and area one source serves.

    ``first_offset``/``last_offset`` are days relative to today (negative = past); ``first_day``
    is an absolute earliest day. ``lags`` gives, per canonical variable, how many days behind
    today its last value is (informative: days inside the lag come back with that value missing).
    """

    first_day: date | None
    first_offset: int | None
    last_offset: int
    usa_only: bool = False
    lags: Mapping[str, int] = field(default_factory=dict)
    grid_deg: tuple[float, float] = (0.1, 0.1)
    """Native grid spacing (lat, lon) [deg]: the cache keys rows by this cell."""
    forecast: bool = False
    """True for forecast products (days from today on get Flag.FORECAST)."""

    def window(self, today: date) -> tuple[date, date]:
        """First and last day served, as of ``today``."""
        first = self.first_day or date.min
        if self.first_offset is not None:
            first = max(first, today + timedelta(days=self.first_offset))
        return first, today + timedelta(days=self.last_offset)

    def area_reason(self, lat: float, lon: float) -> str | None:
        """Why the point is outside the source's area, or None when inside."""
        if self.usa_only and not in_usa(lat, lon):
            return "serves only the USA"
        return None


COVERAGE: dict[str, Coverage] = {
    # POWER daily: MERRA-2 temperatures ~2 days behind, CERES radiation about a week behind.
    "nasa_power": Coverage(
        first_day=date(1981, 1, 1),
        first_offset=None,
        last_offset=-2,
        lags={"rs_mj_m2": 7, "tmax_c": 2, "tmin_c": 2, "rh_mean_pct": 2, "wind2m_ms": 2},
        grid_deg=(0.5, 0.625),
    ),
    # ERA5 / ERA5-Land based archive: about 5 days behind real time.
    "openmeteo_archive": Coverage(
        first_day=date(1940, 1, 1),
        first_offset=None,
        last_offset=-5,
        lags={"rs_mj_m2": 5, "tmax_c": 5, "tmin_c": 5},
        grid_deg=(0.1, 0.1),
    ),
    # Forecast API: up to 92 past days and 16 days including today.
    "openmeteo_forecast": Coverage(
        first_day=None,
        first_offset=-92,
        last_offset=15,
        grid_deg=(0.1, 0.1),
        forecast=True,
    ),
    # locationforecast 2.0: hourly for ~2.5 days, then 6-hourly to about 9 days ahead.
    "met_norway": Coverage(
        first_day=None,
        first_offset=0,
        last_offset=8,
        grid_deg=(0.05, 0.05),
        forecast=True,
    ),
    # api.weather.gov gridpoints: 7 days ahead, USA only.
    "nws": Coverage(
        first_day=None,
        first_offset=0,
        last_offset=6,
        usa_only=True,
        grid_deg=(0.025, 0.025),
        forecast=True,
    ),
}
