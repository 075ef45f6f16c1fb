"""Logic of ``evapo eto``: ET0 of a station CSV in canonical columns.

With ``method="asce"`` the ASCE-EWRI 2005 standardized equation is used instead (short or tall
reference, simple or full Rso; :mod:`evapo.science.asce`) and a ``method`` column says which.
Unit-free station columns (``tmax``, ``rs``, ``wind``, ``ea``, ``q``, ...; see
:data:`evapo.science.units.STATION_COLUMNS`) are converted at the edge from the units the
request names (:class:`~evapo.science.units.StationUnits`).

Reads ``date`` plus any canonical columns (:data:`evapo.schema.UNITS`), with wind either as
``wind2m_ms`` or as ``wind_ms`` measured at ``wind_height_m`` (converted with FAO-56 Eq. 47).
Values rejected by :func:`evapo.science.quality.check_daily` are bad input. Output columns are
``date, eto_mm, flags`` plus every intermediate with ``details``. Any bad input raises
:class:`EtoInputError` with one message naming the column and row, before anything is written.
"""

from __future__ import annotations

import io
import math
import os
import tempfile
from collections.abc import Callable
from dataclasses import dataclass, field
from pathlib import Path

import numpy as np
import pandas as pd

from evapo.schema import COLUMNS, DailySeries, Flag, flag_labels
from evapo.science import fao56
from evapo.science.asce import MethodChoice, reference_et
from evapo.science.daily import DETAIL_UNITS, KRS_INTERIOR, POLICIES, EtoResult, eto_daily
from evapo.science.quality import check_daily
from evapo.science.units import STATION_COLUMNS, StationUnits, UnitError, station_to_canonical

#: Wind measured at ``--wind-height`` (any height) instead of ``wind2m_ms``.
WIND_AT_HEIGHT = "wind_ms"
#: Columns ``evapo eto`` requires: FAO-56 needs at least the temperature extremes.
REQUIRED: tuple[str, ...] = ("tmax_c", "tmin_c")


class EtoInputError(ValueError):
    """Bad input to ``evapo eto``: the message names the column and row."""


@dataclass(frozen=True)
class EtoRequest:
    """Everything ``evapo eto`` was asked for (one field per command-line option)."""

    input: Path
    lat_deg: float
    elevation_m: float
    wind_height_m: float | None = None
    details: bool = False
    output: Path | None = None
    krs: float = KRS_INTERIOR
    missing: str = "fao56"
    method: str | None = None
    """``fao56`` or ``asce``; ``None`` is FAO-56 without a ``method`` output column."""
    reference: str = "short"
    rso: str | None = None
    constants: str = "asce"
    units: StationUnits = field(default_factory=StationUnits)


def method_choice(request: EtoRequest) -> MethodChoice:
    """The request's method as a :class:`MethodChoice` (bad combinations: EtoInputError)."""
    try:
        return MethodChoice(
            method=request.method or "fao56",  # type: ignore[arg-type]
            reference=request.reference,  # type: ignore[arg-type]
            rso=request.rso,  # type: ignore[arg-type]
            constants=request.constants,
        )
    except ValueError as exc:
        raise EtoInputError(f"--{exc}") from exc


def station_units(**units: str | None) -> StationUnits:
    """:class:`StationUnits` from ``--*-unit`` options (``None``: the canonical unit)."""
    given = {k: v for k, v in units.items() if v is not None}
    for key, value in given.items():
        try:
            StationUnits(**{key: value})
        except UnitError as exc:
            raise EtoInputError(f"--{key.replace('_', '-')}-unit: {exc}") from exc
    return StationUnits(**given)


Compute = Callable[[DailySeries, EtoRequest], EtoResult]


def compute_selected(series: DailySeries, request: EtoRequest) -> EtoResult:
    """Reference ET by the request's method (FAO-56, or ASCE short/tall) [mm day-1]."""
    return reference_et(
        series,
        method_choice(request),
        lat_deg=request.lat_deg,
        elevation_m=request.elevation_m,
        krs=request.krs,
        missing=POLICIES[request.missing],
    )


def compute_fao56(series: DailySeries, request: EtoRequest) -> EtoResult:
    """FAO-56 Penman-Monteith daily ET0 with the request's missing-data policy."""
    return eto_daily(
        series,
        lat_deg=request.lat_deg,
        elevation_m=request.elevation_m,
        krs=request.krs,
        missing=POLICIES[request.missing],
    )


def _check_request(request: EtoRequest) -> None:
    if not (math.isfinite(request.lat_deg) and -90.0 <= request.lat_deg <= 90.0):
        raise EtoInputError(f"--lat {request.lat_deg}: latitude must be within [-90, 90] degrees")
    if not (math.isfinite(request.elevation_m) and -500.0 <= request.elevation_m <= 9000.0):
        raise EtoInputError(
            f"--elevation {request.elevation_m}: elevation must be within [-500, 9000] m"
        )
    z = request.wind_height_m
    if z is not None and not (math.isfinite(z) and 0.5 <= z <= 100.0):
        raise EtoInputError(f"--wind-height {z}: height must be within [0.5, 100] m")
    if not 0.0 < request.krs < 1.0:
        raise EtoInputError(
            f"--krs {request.krs}: must be within (0, 1) (0.16 interior, 0.19 coastal)"
        )
    if request.missing not in POLICIES:
        raise EtoInputError(
            f"--missing {request.missing!r}: choose one of {', '.join(sorted(POLICIES))}"
        )
    method_choice(request)


def _read_table(path: Path) -> pd.DataFrame:
    name = path.name
    try:
        text = path.read_text(encoding="utf-8-sig")
    except FileNotFoundError as exc:
        raise EtoInputError(f"{name}: file not found") from exc
    except (OSError, UnicodeDecodeError) as exc:
        raise EtoInputError(f"{name}: cannot read the file ({exc})") from exc
    if not text.strip():
        raise EtoInputError(f"{name}: the file is empty")
    try:
        df = pd.read_csv(io.StringIO(text), dtype=str, keep_default_na=False, skipinitialspace=True)
    except (pd.errors.ParserError, ValueError) as exc:
        raise EtoInputError(f"{name}: not a valid CSV file ({exc})") from exc
    df.columns = [str(c).strip() for c in df.columns]
    duplicated = df.columns[df.columns.duplicated()]
    if len(duplicated):
        raise EtoInputError(f"{name}: column {duplicated[0]!r} appears more than once")
    if df.empty:
        raise EtoInputError(f"{name}: no data rows after the header")
    return df


def _row(i: int, dates: pd.Series | None = None) -> str:
    """Human row reference: 1-based data row and CSV line (the header is line 1)."""
    where = f"row {i + 1} (line {i + 2}"
    if dates is not None:
        where += f", date {dates.iloc[i]}"
    return where + ")"


def _numbers(df: pd.DataFrame, column: str, name: str) -> np.ndarray:
    raw = df[column].str.strip()
    values = pd.to_numeric(raw.where(raw != "", None), errors="coerce").to_numpy(np.float64)
    bad = np.flatnonzero(
        np.isnan(values) & (raw != "").to_numpy() & ~raw.str.lower().isin(["nan", "na"]).to_numpy()
    )
    if len(bad):
        i = int(bad[0])
        raise EtoInputError(f"{name}: column {column!r} {_row(i)}: {raw.iloc[i]!r} is not a number")
    infinite = np.flatnonzero(np.isinf(values))
    if len(infinite):
        raise EtoInputError(
            f"{name}: column {column!r} {_row(int(infinite[0]))}: value is infinite"
        )
    return values


def read_series(request: EtoRequest) -> tuple[DailySeries, str | None]:
    """Parse and validate the input CSV; return the series and the wind column used."""
    name = request.input.name
    df = _station_columns(_read_table(request.input), request.units, name)
    known = {"date", *COLUMNS, WIND_AT_HEIGHT}
    unknown = [c for c in df.columns if c not in known]
    if unknown:
        raise EtoInputError(
            f"{name}: unknown column {unknown[0]!r}; expected date and any of "
            f"{', '.join([*COLUMNS, WIND_AT_HEIGHT])}"
        )
    if "date" not in df.columns:
        raise EtoInputError(f"{name}: required column 'date' is missing")
    for column in REQUIRED:
        if column not in df.columns:
            raise EtoInputError(f"{name}: required column {column!r} is missing")
    if "wind2m_ms" in df.columns and WIND_AT_HEIGHT in df.columns:
        raise EtoInputError(f"{name}: give wind as 'wind2m_ms' or as 'wind_ms', not both")
    if "wind2m_ms" in df.columns and request.wind_height_m not in (None, 2.0):
        raise EtoInputError(
            f"{name}: column 'wind2m_ms' is wind at 2 m; use 'wind_ms' for wind measured at "
            f"--wind-height {request.wind_height_m:g} m"
        )

    text_dates = df["date"].str.strip()
    dates = pd.to_datetime(text_dates, format="%Y-%m-%d", errors="coerce")
    bad = np.flatnonzero(dates.isna().to_numpy())
    if len(bad):
        i = int(bad[0])
        raise EtoInputError(
            f"{name}: column 'date' {_row(i)}: {text_dates.iloc[i]!r} is not a date (YYYY-MM-DD)"
        )
    dup = np.flatnonzero(dates.duplicated().to_numpy())
    if len(dup):
        i = int(dup[0])
        raise EtoInputError(f"{name}: column 'date' {_row(i)}: {text_dates.iloc[i]} is repeated")

    n = len(df)
    values = {c: _numbers(df, c, name) for c in COLUMNS if c in df.columns}
    flags = np.zeros(n, np.uint32)
    wind_column = None
    if WIND_AT_HEIGHT in df.columns:
        wind_column = WIND_AT_HEIGHT
        uz = _numbers(df, WIND_AT_HEIGHT, name)
        negative = np.flatnonzero(uz < 0.0)
        if len(negative):
            i = int(negative[0])
            raise EtoInputError(
                f"{name}: column 'wind_ms' {_row(i, text_dates)}: {uz[i]:g} m/s is negative"
            )
        z = 2.0 if request.wind_height_m is None else request.wind_height_m
        values["wind2m_ms"] = fao56.wind_speed_2m(uz, z) if z != 2.0 else uz
        if z != 2.0:
            flags[np.isfinite(uz)] |= np.uint32(Flag.WIND_FROM_10M)
    elif "wind2m_ms" in df.columns:
        wind_column = "wind2m_ms"

    series = DailySeries(
        dates=dates.to_numpy().astype("datetime64[D]"),
        values=values,
        flags=flags,
        source=name,
        lat=request.lat_deg,
        elevation_m=request.elevation_m,
    )
    report = check_daily(series, lat_deg=request.lat_deg, elevation_m=request.elevation_m)
    if report.rejected:
        first = report.rejected[0]
        i = int(np.flatnonzero(series.dates == np.datetime64(first.date))[0])
        column = wind_column if first.column == "wind2m_ms" and wind_column else first.column
        raise EtoInputError(
            f"{name}: column {column!r} {_row(i, text_dates)}: {first.value:g} is rejected "
            f"({first.rule})"
        )
    return report.series, wind_column


#: Canonical columns whose unit is fixed by their name, per :class:`StationUnits` field.
_NAMED_UNIT_COLUMNS: dict[str, tuple[str, ...]] = {
    "temperature": ("tmax_c", "tmin_c", "tmean_c", "tdew_c"),
    "radiation": ("rs_mj_m2",),
    "wind": ("wind2m_ms", WIND_AT_HEIGHT),
    "precipitation": ("precip_mm",),
}


def _station_columns(df: pd.DataFrame, units: StationUnits, name: str) -> pd.DataFrame:
    """Convert unit-free station columns to canonical ones in the units named (never guessed)."""
    default = StationUnits()
    for quantity, columns in _NAMED_UNIT_COLUMNS.items():
        unit = getattr(units, quantity)
        clash = [c for c in columns if c in df.columns]
        if unit != getattr(default, quantity) and clash:
            free = {target: col for col, (target, _) in STATION_COLUMNS.items() if target}
            raise EtoInputError(
                f"{name}: column {clash[0]!r} is in {getattr(default, quantity)} by its name; "
                f"name it {free.get(clash[0], 'wind')!r} to give it in {unit}"
            )
    present = [c for c in STATION_COLUMNS if c in df.columns]
    if not present:
        return df
    for column in present:
        target = STATION_COLUMNS[column][0]
        if target and target in df.columns:
            raise EtoInputError(
                f"{name}: column {column!r} duplicates column {target!r}: give one of them"
            )
    raw = {c: _numbers(df, c, name) for c in present}
    try:
        converted = station_to_canonical(raw, units)
    except UnitError as exc:
        raise EtoInputError(f"{name}: {exc}") from exc
    out = df.drop(columns=present)
    for column, values in converted.items():
        out[column] = ["" if not math.isfinite(v) else repr(float(v)) for v in values]
    return out


def render(
    series: DailySeries, result: EtoResult, *, details: bool, method: str | None = None
) -> str:
    """The output CSV text: ``date, eto_mm, flags`` (+ ``method``, + intermediates)."""
    out = pd.DataFrame(
        {
            "date": np.datetime_as_string(series.dates, unit="D"),
            "eto_mm": result.eto,
            "flags": [flag_labels(int(f)) for f in result.flags],
        }
    )
    if method is not None:
        out["method"] = method
    if details:
        for key in DETAIL_UNITS:
            if key in result.details:
                out[key] = result.details[key]
        for key, values in result.details.items():
            if key not in out.columns:
                out[key] = values
    return str(out.to_csv(index=False, float_format="%.6g", lineterminator="\n"))


def _write_atomically(path: Path, text: str) -> None:
    target = path.resolve()
    fd, tmp = tempfile.mkstemp(prefix=f".{target.name}.", dir=target.parent)
    try:
        with os.fdopen(fd, "w", encoding="utf-8", newline="") as fh:
            fh.write(text)
        os.replace(tmp, target)
    except BaseException:
        Path(tmp).unlink(missing_ok=True)
        raise


def run_eto(request: EtoRequest, *, compute: Compute = compute_selected) -> str:
    """Validate, compute and return the output CSV; write it to ``request.output`` if given.

    Raises :class:`EtoInputError` (nothing written) for any bad input.
    """
    _check_request(request)
    if request.output is not None and not request.output.resolve().parent.is_dir():
        raise EtoInputError(f"-o {request.output}: directory does not exist")
    series, _ = read_series(request)
    result = compute(series, request)
    label = None if request.method is None else method_choice(request).label
    text = render(series, result, details=request.details, method=label)
    if request.output is not None:
        _write_atomically(request.output, text)
    return text
