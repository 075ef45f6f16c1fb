"""Weather cache: fetched daily values keyed by source, grid cell and day (SQLite or PostgreSQL).

Freshness depends on how old the day was when it was fetched: days at least
:data:`RECENT_DAYS` before the fetch date are archive (kept for good), days before the fetch
date are recent (refreshed after :data:`RECENT_TTL_S`), days from the fetch date on are
forecasts (refreshed after :data:`FORECAST_TTL_S`).
"""

from __future__ import annotations

import math
import time
from collections.abc import Iterable
from dataclasses import dataclass
from datetime import date

import numpy as np
from numpy.typing import NDArray
from sqlalchemy import (
    Float,
    Integer,
    LargeBinary,
    SmallInteger,
    String,
    Table,
    and_,
    select,
    tuple_,
)
from sqlalchemy.dialects.postgresql import insert as pg_insert
from sqlalchemy.dialects.sqlite import insert as sqlite_insert
from sqlalchemy.ext.asyncio import AsyncConnection, AsyncEngine
from sqlalchemy.orm import Mapped, mapped_column

from evapo.schema import COLUMNS, DailySeries
from evapo.store.db import Base

RECENT_DAYS = 30
RECENT_TTL_S = 24 * 3600.0
FORECAST_TTL_S = 3600.0
#: Non-canonical per-row columns the cache keeps (see ``DailySeries.extra``).
EXTRA_COLUMNS = ("eto_provider",)
_UPSERT_CHUNK = 500
_SNAPSHOT_KEYS = 500
"""Most (source, cell) keys read by one snapshot query."""


class WeatherCacheRow(Base):
    """One source's daily values at one grid cell for one calendar month.

    ``data`` packs the month's days as a little-endian float64 matrix (days x :data:`FIELDS`):
    per day its fetch time, fetch day, flags, elevation and the canonical values (NaN = missing
    or never fetched). Packing a month per row keeps a 30-year read to a few hundred rows.
    """

    __tablename__ = "weather_cache"

    source: Mapped[str] = mapped_column(String(32), primary_key=True)
    lat_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Latitude cell index: round(lat / grid lat step)."""
    lon_key: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Longitude cell index: round(lon / grid lon step)."""
    month: Mapped[int] = mapped_column(Integer, primary_key=True)
    """Months since 1970-01 (the row covers every day of that month)."""
    updated_at: Mapped[float] = mapped_column(Float)
    """Unix time of the last write [s]."""
    layout: Mapped[int] = mapped_column(SmallInteger)
    """Version of the ``data`` layout; rows of another layout are ignored."""
    data: Mapped[bytes] = mapped_column(LargeBinary)


#: Per-day fields packed in ``WeatherCacheRow.data``, in order.
FIELDS = ("fetched_at", "fetch_day", "flags", "elevation_m", *COLUMNS, *EXTRA_COLUMNS)
LAYOUT = 1
_META = 4
_TABLE: Table = WeatherCacheRow.__table__  # type: ignore[assignment]


def cell_of(lat: float, lon: float, grid: tuple[float, float]) -> tuple[int, int]:
    """Grid cell index of a point for a grid spacing (lat, lon) [deg]."""
    return round(lat / grid[0]), round(lon / grid[1])


@dataclass
class CachedDays:
    """Fresh cached days of one source over a span: which are present, and their values."""

    dates: NDArray[np.datetime64]
    present: NDArray[np.bool_]
    series: DailySeries


def _months(dates: NDArray[np.datetime64]) -> NDArray[np.int64]:
    return dates.astype("datetime64[M]").astype(np.int64)


def _month_bounds(months: NDArray[np.int64]) -> tuple[NDArray[np.int64], NDArray[np.int64]]:
    """First day (days since 1970-01-01) and length of each month (months since 1970-01)."""
    starts = months.astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    ends = (months + 1).astype("datetime64[M]").astype("datetime64[D]").astype(np.int64)
    return starts, ends - starts


class WeatherCache:
    """Repository of cached daily weather (one packed row per source, cell and month)."""

    def __init__(self, engine: AsyncEngine) -> None:
        self.engine = engine
        self._dialect = engine.dialect.name

    async def init(self) -> None:
        """Create the table if missing."""
        async with self.engine.begin() as conn:
            await conn.run_sync(lambda c: Base.metadata.create_all(c, tables=[_TABLE]))

    async def _read(
        self, conn: AsyncConnection, source: str, cell: tuple[int, int], m0: int, m1: int
    ) -> dict[int, NDArray[np.float64]]:
        query = select(_TABLE.c.month, _TABLE.c.data).where(
            and_(
                _TABLE.c.source == source,
                _TABLE.c.lat_key == cell[0],
                _TABLE.c.lon_key == cell[1],
                _TABLE.c.month >= m0,
                _TABLE.c.month <= m1,
                _TABLE.c.layout == LAYOUT,
            )
        )
        rows = (await conn.execute(query)).all()
        if not rows:
            return {}
        months = np.array([r[0] for r in rows], dtype=np.int64)
        _, lengths = _month_bounds(months)
        out = {}
        width = len(FIELDS)
        for (month, blob), n in zip(rows, lengths.tolist(), strict=True):
            arr = np.frombuffer(blob, dtype="<f8")
            if arr.size == n * width:
                out[int(month)] = arr.reshape(n, width)
        return out

    async def load(
        self,
        source: str,
        lat: float,
        lon: float,
        first: date,
        last: date,
        *,
        grid: tuple[float, float],
        now: float | None = None,
    ) -> CachedDays:
        """Fresh days of ``first..last``; stale or absent days have ``present`` False."""
        dates = _days(first, last)
        months = _months(dates)
        async with self.engine.connect() as conn:
            blocks = await self._read(
                conn, source, cell_of(lat, lon, grid), int(months[0]), int(months[-1])
            )
        return _assemble(source, lat, lon, dates, blocks, now=time.time() if now is None else now)

    async def snapshot(
        self, keys: Iterable[tuple[str, tuple[int, int]]], first: date, last: date
    ) -> CacheSnapshot:
        """The rows of many (source, cell) keys over ``first..last`` read in one query.

        The snapshot answers :meth:`load` for those keys from memory (other keys, and a key
        once it was written to, from the database); a share of batch points makes one query
        instead of one per point and source.
        """
        wanted = sorted(set(keys))
        months = _months(_days(first, last))
        m0, m1 = int(months[0]), int(months[-1])
        blocks: dict[tuple[str, tuple[int, int]], dict[int, NDArray[np.float64]]] = {
            key: {} for key in wanted
        }
        width = len(FIELDS)
        for start in range(0, len(wanted), _SNAPSHOT_KEYS):
            part = wanted[start : start + _SNAPSHOT_KEYS]
            query = select(
                _TABLE.c.source, _TABLE.c.lat_key, _TABLE.c.lon_key, _TABLE.c.month, _TABLE.c.data
            ).where(
                tuple_(_TABLE.c.source, _TABLE.c.lat_key, _TABLE.c.lon_key).in_(
                    [(source, cell[0], cell[1]) for source, cell in part]
                ),
                _TABLE.c.month >= m0,
                _TABLE.c.month <= m1,
                _TABLE.c.layout == LAYOUT,
            )
            async with self.engine.connect() as conn:
                rows = (await conn.execute(query)).all()
            if not rows:
                continue
            _, lengths = _month_bounds(np.array([r[3] for r in rows], dtype=np.int64))
            for (source, lat_key, lon_key, month, blob), n in zip(
                rows, lengths.tolist(), strict=True
            ):
                arr = np.frombuffer(blob, dtype="<f8")
                if arr.size == n * width:
                    blocks[(source, (lat_key, lon_key))][int(month)] = arr.reshape(n, width)
        return CacheSnapshot(self.engine, blocks, (m0, m1))

    async def store(
        self,
        series: DailySeries,
        *,
        grid: tuple[float, float],
        mask: NDArray[np.bool_] | None = None,
        now: float | None = None,
    ) -> int:
        """Write the days of ``series`` (only where ``mask``); returns how many were written."""
        if len(series) == 0:
            return 0
        now = time.time() if now is None else now
        keep = np.ones(len(series), bool) if mask is None else np.asarray(mask, bool)
        n = len(series)
        rows = np.empty((n, len(FIELDS)))
        rows[:, 0] = now
        rows[:, 1] = now // 86400
        rows[:, 2] = series.flags
        rows[:, 3] = series.elevation_m
        for i, c in enumerate(COLUMNS):
            rows[:, _META + i] = series.values[c]
        for i, c in enumerate(EXTRA_COLUMNS):
            rows[:, _META + len(COLUMNS) + i] = series.extra.get(c, np.full(n, np.nan))
        months = _months(series.dates)
        cell = cell_of(series.lat, series.lon, grid)
        upsert = pg_insert if self._dialect == "postgresql" else sqlite_insert
        async with self.engine.begin() as conn:
            blocks = await self._read(conn, series.source, cell, int(months[0]), int(months[-1]))
            payload = []
            kept_months = np.unique(months[keep])
            starts, lengths = _month_bounds(kept_months)
            day_num = (series.dates - np.datetime64("1970-01-01", "D")).astype(np.int64)
            width = len(FIELDS)
            for month, start, length in zip(
                kept_months.tolist(), starts.tolist(), lengths.tolist(), strict=True
            ):
                old = blocks.get(month)
                block = np.full((length, width), np.nan) if old is None else old.copy()
                lo, hi = np.searchsorted(months, [month, month + 1])
                sel = np.arange(lo, hi)[keep[lo:hi]]
                block[day_num[sel] - start] = rows[sel]
                payload.append(
                    {
                        "source": series.source,
                        "lat_key": cell[0],
                        "lon_key": cell[1],
                        "month": month,
                        "updated_at": now,
                        "layout": LAYOUT,
                        "data": block.astype("<f8").tobytes(),
                    }
                )
            stmt = upsert(_TABLE)
            stmt = stmt.on_conflict_do_update(
                index_elements=["source", "lat_key", "lon_key", "month"],
                set_={c: stmt.excluded[c] for c in ("updated_at", "layout", "data")},
            )
            for start in range(0, len(payload), _UPSERT_CHUNK):
                await conn.execute(stmt, payload[start : start + _UPSERT_CHUNK])
        return int(keep.sum())

    async def clear(
        self,
        source: str | None = None,
        *,
        at: tuple[float, float] | None = None,
        grid: tuple[float, float] | None = None,
    ) -> None:
        """Delete cached rows: all, one source's, or one source's at the cell of point ``at``."""
        stmt = _TABLE.delete()
        if source is not None:
            stmt = stmt.where(_TABLE.c.source == source)
        if at is not None:
            if grid is None:
                raise ValueError("grid: needed with at=")
            lat_key, lon_key = cell_of(at[0], at[1], grid)
            stmt = stmt.where(_TABLE.c.lat_key == lat_key, _TABLE.c.lon_key == lon_key)
        async with self.engine.begin() as conn:
            await conn.execute(stmt)


def _days(first: date, last: date) -> NDArray[np.datetime64]:
    return np.arange(np.datetime64(first, "D"), np.datetime64(last, "D") + 1)


def _assemble(
    source: str,
    lat: float,
    lon: float,
    dates: NDArray[np.datetime64],
    blocks: dict[int, NDArray[np.float64]],
    *,
    now: float,
) -> CachedDays:
    """The fresh days of ``dates`` from the month blocks read for one source and cell."""
    table = np.full((len(dates), len(FIELDS)), np.nan)
    day_num = (dates - np.datetime64("1970-01-01", "D")).astype(np.int64)
    if blocks:
        starts, lengths = _month_bounds(np.fromiter(blocks, dtype=np.int64))
        stacked = np.concatenate(list(blocks.values()))
        offsets = np.repeat(starts - np.cumsum(lengths) + lengths, lengths)
        idx = offsets + np.arange(len(stacked)) - day_num[0]
        inside = (idx >= 0) & (idx < len(dates))
        table[idx[inside]] = stacked[inside]
    known = ~np.isnan(table[:, 0])
    present = known & _is_fresh(day_num, table[:, 0], np.nan_to_num(table[:, 1]), now)
    values = table[:, _META:]
    values[~present] = np.nan
    flags = np.where(present, np.nan_to_num(table[:, 2]), 0).astype(np.uint32)
    elev = table[present, 3]
    elev = elev[~np.isnan(elev)]
    k = len(COLUMNS)
    series = DailySeries(
        dates=dates,
        values={c: values[:, i].copy() for i, c in enumerate(COLUMNS)},
        flags=flags,
        source=source,
        lat=lat,
        lon=lon,
        elevation_m=float(elev[-1]) if len(elev) else math.nan,
        extra={c: values[:, k + i].copy() for i, c in enumerate(EXTRA_COLUMNS)},
    )
    return CachedDays(dates=dates, present=present, series=series)


class CacheSnapshot(WeatherCache):
    """A :class:`WeatherCache` whose loads of some (source, cell) keys over some months come
    from rows read beforehand (:meth:`WeatherCache.snapshot`); everything else, and every
    write, goes to the database. A key written to is dropped from the snapshot, so later loads
    see the new rows."""

    def __init__(
        self,
        engine: AsyncEngine,
        blocks: dict[tuple[str, tuple[int, int]], dict[int, NDArray[np.float64]]],
        months: tuple[int, int],
    ) -> None:
        super().__init__(engine)
        self._blocks = blocks
        self._span = months

    def covers(self, source: str, cell: tuple[int, int]) -> bool:
        """True when loads of ``source`` at ``cell`` are answered from memory."""
        return (source, cell) in self._blocks

    async def load(
        self,
        source: str,
        lat: float,
        lon: float,
        first: date,
        last: date,
        *,
        grid: tuple[float, float],
        now: float | None = None,
    ) -> CachedDays:
        """From memory when the snapshot holds this key and months, else from the database."""
        dates = _days(first, last)
        months = _months(dates)
        blocks = self._blocks.get((source, cell_of(lat, lon, grid)))
        if blocks is None or int(months[0]) < self._span[0] or int(months[-1]) > self._span[1]:
            return await super().load(source, lat, lon, first, last, grid=grid, now=now)
        wanted = {m: b for m, b in blocks.items() if months[0] <= m <= months[-1]}
        return _assemble(source, lat, lon, dates, wanted, now=time.time() if now is None else now)

    async def store(
        self,
        series: DailySeries,
        *,
        grid: tuple[float, float],
        mask: NDArray[np.bool_] | None = None,
        now: float | None = None,
    ) -> int:
        """Write to the database; the key's later loads read the database again."""
        self._blocks.pop((series.source, cell_of(series.lat, series.lon, grid)), None)
        return await super().store(series, grid=grid, mask=mask, now=now)


def _is_fresh(
    day: NDArray[np.int64],
    fetched_at: NDArray[np.float64],
    fetch_day: NDArray[np.float64],
    now: float,
) -> NDArray[np.bool_]:
    """Archive rows are always fresh; recent rows for a day; forecast rows for an hour."""
    age = now - fetched_at
    archive = day <= fetch_day - RECENT_DAYS
    forecast = day >= fetch_day
    recent = ~archive & ~forecast
    return archive | (recent & (age < RECENT_TTL_S)) | (forecast & (age < FORECAST_TTL_S))
