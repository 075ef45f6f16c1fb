"""Canonical daily weather schema shared by every layer (sources, science, pipeline, API)."""

from __future__ import annotations

from dataclasses import dataclass, field
from enum import IntFlag
from functools import lru_cache
from typing import Final

import numpy as np
from numpy.typing import NDArray

FloatArray = NDArray[np.float64]

#: Canonical daily columns (besides ``date``) and their units. Missing values are NaN.
UNITS: Final[dict[str, str]] = {
    "tmax_c": "degC",
    "tmin_c": "degC",
    "tmean_c": "degC",
    "rh_mean_pct": "%",
    "rh_max_pct": "%",
    "rh_min_pct": "%",
    "tdew_c": "degC",
    "wind2m_ms": "m s-1 at 2 m",
    "rs_mj_m2": "MJ m-2 day-1",
    "precip_mm": "mm day-1",
}
COLUMNS: Final[tuple[str, ...]] = tuple(UNITS)


class Flag(IntFlag):
    """Per-row quality flags: which values were estimated, converted or rejected, and how."""

    NONE = 0
    TMEAN_FROM_MINMAX = 1 << 0
    """Tmean taken as (Tmax + Tmin) / 2 (FAO-56 Eq. 9)."""
    RS_FROM_TEMPERATURE = 1 << 1
    """Rs estimated from the temperature range (Hargreaves radiation formula, FAO-56 Eq. 50)."""
    RS_FROM_CLOUD = 1 << 2
    """Rs estimated from cloud cover (Angstrom form, FAO-56 Eq. 35 with n/N from cloudiness)."""
    EA_FROM_TMIN = 1 << 3
    """Actual vapour pressure estimated from Tmin as dew point (FAO-56 Eq. 48)."""
    WIND_DEFAULT = 1 << 4
    """Wind speed missing: FAO-56 default of 2 m/s used."""
    WIND_FROM_10M = 1 << 5
    """Wind converted from 10 m to 2 m (FAO-56 Eq. 47)."""
    HARGREAVES_ET0 = 1 << 6
    """ET0 from the Hargreaves-Samani equation (only temperatures available)."""
    QC_REJECTED = 1 << 7
    """A value failed a physical-range check and was set to missing (the raw value is kept)."""
    QC_SUSPECT = 1 << 8
    """A value is suspect (e.g. Rs slightly above Rso) but was kept."""
    GAP_FILLED = 1 << 9
    """A missing source value was taken from another source during fusion."""
    UNCALIBRATED = 1 << 10
    """No calibration applies at this place: default error priors were used."""
    FORECAST = 1 << 11
    """The day is a forecast, not an observation or reanalysis."""
    ETO_MISSING = 1 << 12
    """ET0 could not be computed for the day."""
    ANCHORED = 1 << 13
    """Corrected with the same day's reference at nearby reference sites (calibration anchors)."""


_FLAG_LABELS: Final[dict[Flag, str]] = {
    Flag.TMEAN_FROM_MINMAX: "tmean:minmax",
    Flag.RS_FROM_TEMPERATURE: "rs:hargreaves",
    Flag.RS_FROM_CLOUD: "rs:cloud",
    Flag.EA_FROM_TMIN: "ea:tmin",
    Flag.WIND_DEFAULT: "wind:default",
    Flag.WIND_FROM_10M: "wind:10m",
    Flag.HARGREAVES_ET0: "eto:hargreaves",
    Flag.QC_REJECTED: "qc:rejected",
    Flag.QC_SUSPECT: "qc:suspect",
    Flag.GAP_FILLED: "gap:filled",
    Flag.UNCALIBRATED: "uncalibrated",
    Flag.FORECAST: "forecast",
    Flag.ETO_MISSING: "eto:missing",
    Flag.ANCHORED: "anchored",
}


@lru_cache(maxsize=4096)
def flag_labels(value: int) -> str:
    """Render a flag bitmask as ``;``-separated labels (empty string when none is set)."""
    return ";".join(label for flag, label in _FLAG_LABELS.items() if value & flag)


def parse_flag_labels(text: str) -> int:
    """Inverse of :func:`flag_labels`."""
    lookup = {label: flag for flag, label in _FLAG_LABELS.items()}
    value = 0
    for part in filter(None, (p.strip() for p in text.split(";"))):
        value |= int(lookup[part])
    return value


@dataclass
class DailySeries:
    """Daily weather of one point from one source, in canonical columns and units.

    ``dates`` is ``datetime64[D]``; every array in ``values`` has the same length (float64, NaN for
    missing); ``flags`` is a ``uint32`` bitmask of :class:`Flag` per row.
    """

    dates: NDArray[np.datetime64]
    values: dict[str, FloatArray]
    flags: NDArray[np.uint32]
    source: str = "user"
    lat: float = float("nan")
    lon: float = float("nan")
    elevation_m: float = float("nan")
    extra: dict[str, FloatArray] = field(default_factory=dict)
    """Non-canonical per-row columns kept for comparison (e.g. a provider's own ET0)."""

    def __post_init__(self) -> None:
        n = len(self.dates)
        self.dates = np.asarray(self.dates, dtype="datetime64[D]")
        for name in COLUMNS:
            arr = self.values.get(name)
            self.values[name] = (
                np.full(n, np.nan) if arr is None else np.asarray(arr, dtype=np.float64)
            )
            if self.values[name].shape != (n,):
                raise ValueError(f"column {name!r} has {self.values[name].shape}, expected ({n},)")
        unknown = set(self.values) - set(COLUMNS)
        if unknown:
            raise ValueError(f"unknown columns: {sorted(unknown)}")
        self.flags = np.asarray(self.flags, dtype=np.uint32)
        if self.flags.shape != (n,):
            raise ValueError("flags must have one entry per date")

    def __len__(self) -> int:
        return len(self.dates)

    def __getitem__(self, name: str) -> FloatArray:
        return self.values[name]

    @classmethod
    def empty(cls, dates: NDArray[np.datetime64], **kwargs: object) -> DailySeries:
        """A series of the given dates with every value missing."""
        n = len(dates)
        return cls(dates=dates, values={}, flags=np.zeros(n, np.uint32), **kwargs)  # type: ignore[arg-type]
