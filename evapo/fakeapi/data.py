"""Daily data behind the fake upstream APIs, read from a folder laid out like the validation data.

Layout: ``cities.csv`` (city, lat, lon, alt) and one CSV per city in ``nasa_power/``,
``open_meteo/`` and optionally ``open_meteo_eto/``. A request is answered from the nearest city.
Days after the data replay the same calendar day of the latest year; days before it, of the
earliest year.
"""

from __future__ import annotations

import csv
import math
import threading
from dataclasses import dataclass
from datetime import date
from pathlib import Path

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]


@dataclass(frozen=True)
class City:
    """One point of the data folder."""

    name: str
    lat: float
    lon: float
    alt_m: float


@dataclass(frozen=True)
class CitySeries:
    """One product's daily columns for one city (dates contiguous, ``datetime64[D]``)."""

    first: np.datetime64
    columns: dict[str, FloatArray]

    @property
    def n_days(self) -> int:
        """Number of days in the file."""
        return len(next(iter(self.columns.values())))


class FakeData:
    """Lazily loaded daily series per city and product, with date replay outside the data."""

    def __init__(self, root: Path) -> None:
        self.root = Path(root)
        cities_csv = self.root / "cities.csv"
        if not cities_csv.is_file():
            raise FileNotFoundError(f"fake data folder {self.root} has no cities.csv")
        with cities_csv.open(newline="") as fh:
            self.cities = [
                City(r["city"], float(r["lat"]), float(r["lon"]), float(r["alt"]))
                for r in csv.DictReader(fh)
            ]
        if not self.cities:
            raise ValueError(f"{cities_csv} lists no city")
        self._lat = np.array([c.lat for c in self.cities])
        self._lon = np.array([c.lon for c in self.cities])
        self._series: dict[tuple[str, str], CitySeries | None] = {}
        self._lock = threading.Lock()

    def nearest(self, lat: float, lon: float) -> City:
        """The city nearest to a point (equirectangular distance)."""
        dlon = (self._lon - lon + 180.0) % 360.0 - 180.0
        dist = (self._lat - lat) ** 2 + (dlon * math.cos(math.radians(lat))) ** 2
        return self.cities[int(np.argmin(dist))]

    def series(self, product: str, city: City) -> CitySeries | None:
        """The city's file of one product (``nasa_power``, ``open_meteo``, ``open_meteo_eto``)."""
        key = (product, city.name)
        with self._lock:
            if key not in self._series:
                path = self.root / product / f"{city.name}.csv"
                self._series[key] = _read_series(path) if path.is_file() else None
            return self._series[key]

    def values(
        self, product: str, city: City, columns: list[str], days: NDArray[np.datetime64]
    ) -> dict[str, FloatArray]:
        """Values of some columns on the given days (NaN where the file lacks a column)."""
        data = self.series(product, city)
        if data is None:
            return {c: np.full(len(days), np.nan) for c in columns}
        idx = replay_index(data.first, data.n_days, days)
        return {
            c: data.columns[c][idx] if c in data.columns else np.full(len(days), np.nan)
            for c in columns
        }


def _read_series(path: Path) -> CitySeries:
    with path.open(newline="") as fh:
        reader = csv.reader(fh)
        header = next(reader)
        rows = list(reader)
    if not rows or header[0] != "date":
        raise ValueError(f"{path}: expected a 'date' column and at least one row")
    dates = np.array([r[0] for r in rows], dtype="datetime64[D]")
    table = np.array([[float(v) if v else np.nan for v in r[1:]] for r in rows], dtype=np.float64)
    expected = np.arange(dates[0], dates[0] + len(dates))
    columns = {c: table[:, i].copy() for i, c in enumerate(header[1:])}
    if not np.array_equal(dates, expected):
        # Reindex onto a contiguous calendar; absent days become NaN.
        full = np.arange(dates[0], dates[-1] + 1)
        pos = (dates - dates[0]).astype(np.int64)
        for name, arr in columns.items():
            filled = np.full(len(full), np.nan)
            filled[pos] = arr
            columns[name] = filled
    return CitySeries(first=dates[0], columns=columns)


def replay_index(
    first: np.datetime64, n_days: int, days: NDArray[np.datetime64]
) -> NDArray[np.int64]:
    """Row index of each day; outside the data, the same calendar day of the nearest edge year."""
    idx = (np.asarray(days, dtype="datetime64[D]") - first).astype(np.int64)
    out = (idx < 0) | (idx >= n_days)
    if out.any():
        first_d = first.astype(date)
        last_d = (first + n_days - 1).astype(date)
        for i in np.flatnonzero(out):
            idx[i] = (_replay(days[i].astype(date), first_d, last_d) - first_d).days
    return idx


def _replay(day: date, first: date, last: date) -> date:
    year = last.year if day > last else first.year
    step = -1 if day > last else 1
    for _ in range(8):
        candidate = _same_day(day, year)
        if first <= candidate <= last:
            return candidate
        year += step
    raise ValueError(f"data from {first} to {last} is too short to replay {day}")


def _same_day(day: date, year: int) -> date:
    try:
        return day.replace(year=year)
    except ValueError:  # 29 February in a common year
        return date(year, 2, 28)
