"""Honest validation: read reference folders, calibrate on some sites, score others.

A reference folder holds ``cities.csv`` (city, lat, lon, alt), one folder per source with a CSV
per city (NASA-POWER-like column names, see :data:`SOURCE_FOLDERS`), ``xavier/<city>.csv`` (the
reference ET0, ``eto_xavier``) and optionally ``open_meteo_eto/<city>.csv`` (``eto_openmeteo``).
Predictions of an evaluated city use only its sources' weather and its location: its reference
ET0 is read after the prediction and only for scoring.
"""

from __future__ import annotations

import json
from collections.abc import Callable, Sequence
from dataclasses import asdict, dataclass, replace
from pathlib import Path
from typing import Any, Final

import numpy as np
import pandas as pd

from evapo.calibration import (
    Calibration,
    CalibrationError,
    ReferenceSite,
    SiteDesign,
    fit_from_designs,
    site_design,
)
from evapo.logging import get_logger
from evapo.schema import DailySeries, Flag, FloatArray
from evapo.science import fao56
from evapo.science.fusion import FusedSeries, fuse_point
from evapo.science.metrics import SCORES, mean_scores, score
from evapo.science.stations import Site


@dataclass(frozen=True)
class SourceFolder:
    """How one source folder of a reference set maps to an Evapo source."""

    source: str
    wind_column: str
    wind_height_m: float


#: Folder name -> Evapo source and wind measurement.
SOURCE_FOLDERS: Final[dict[str, SourceFolder]] = {
    "nasa_power": SourceFolder("nasa_power", "WS2M", 2.0),
    "open_meteo": SourceFolder("openmeteo_archive", "WS10M", 10.0),
}
#: Reference-set column -> canonical column (wind is handled separately).
COLUMN_MAP: Final[dict[str, str]] = {
    "T2M_MAX": "tmax_c",
    "T2M_MIN": "tmin_c",
    "T2M": "tmean_c",
    "RH2M": "rh_mean_pct",
    "ALLSKY_SFC_SW_DWN": "rs_mj_m2",
    "PRECTOTCORR": "precip_mm",
}
TRUTH_FOLDER: Final = "xavier"
TRUTH_COLUMN: Final = "eto_xavier"
#: Comparison series shipped with a reference set: folder -> (column, method name).
EXTRA_FOLDERS: Final[dict[str, tuple[str, str]]] = {
    "open_meteo_eto": ("eto_openmeteo", "openmeteo_eto"),
}
FILL_VALUE: Final = -990.0
"""Values at or below this are provider fill values (NASA POWER uses -999) and become NaN."""


class ReferenceError(ValueError):
    """A reference folder that does not have the expected layout (says what is wrong)."""


def _read_csv(path: Path, columns: Sequence[str]) -> pd.DataFrame:
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise ReferenceError(f"missing file: {path}") from exc
    missing = [c for c in ("date", *columns) if c not in frame.columns]
    if missing:
        raise ReferenceError(f"{path}: missing columns {missing}")
    return frame


def _on_dates(frame: pd.DataFrame, column: str, dates: np.ndarray) -> FloatArray:
    """A column re-indexed on ``dates`` (NaN where absent or a fill value)."""
    idx = pd.DatetimeIndex(pd.to_datetime(frame["date"])).values.astype("datetime64[D]")
    values = pd.to_numeric(frame[column], errors="coerce").to_numpy(dtype=np.float64, copy=True)
    values[values <= FILL_VALUE] = np.nan
    out = np.full(len(dates), np.nan)
    pos = np.searchsorted(dates, idx)
    ok = (pos < len(dates)) & (dates[np.minimum(pos, len(dates) - 1)] == idx)
    out[pos[ok]] = values[ok]
    return out


def _source_series(path: Path, spec: SourceFolder, site: Site) -> DailySeries:
    frame = _read_csv(path, [*COLUMN_MAP, spec.wind_column])
    dates = pd.DatetimeIndex(pd.to_datetime(frame["date"])).values.astype("datetime64[D]")
    values = {canon: _on_dates(frame, col, dates) for col, canon in COLUMN_MAP.items()}
    wind = _on_dates(frame, spec.wind_column, dates)
    flags = np.zeros(len(dates), np.uint32)
    if spec.wind_height_m != 2.0:
        wind = fao56.wind_speed_2m(wind, spec.wind_height_m)
        flags[np.isfinite(wind)] |= np.uint32(Flag.WIND_FROM_10M)
    values["wind2m_ms"] = wind
    return DailySeries(
        dates=dates,
        values=values,
        flags=flags,
        source=spec.source,
        lat=site.lat,
        lon=site.lon,
        elevation_m=site.elevation_m,
    )


def read_sites(folder: Path) -> list[Site]:
    """The sites listed in ``cities.csv``."""
    path = Path(folder) / "cities.csv"
    try:
        frame = pd.read_csv(path)
    except FileNotFoundError as exc:
        raise ReferenceError(f"{folder}: no cities.csv") from exc
    need = ["city", "lat", "lon", "alt"]
    if any(c not in frame.columns for c in need):
        raise ReferenceError(f"{path}: columns must include {need}")
    sites = []
    rows = zip(frame["city"], frame["lat"], frame["lon"], frame["alt"], strict=True)
    for number, (city, lat, lon, alt) in enumerate(rows, start=2):
        try:
            site = Site(str(city), float(lat), float(lon), float(alt))
        except (TypeError, ValueError) as exc:
            raise ReferenceError(f"{path} line {number}: {exc}") from exc
        if not all(np.isfinite([site.lat, site.lon, site.elevation_m])):
            raise ReferenceError(f"{path} line {number}: lat, lon and alt must all be numbers")
        sites.append(site)
    return sites


def read_sources(folder: Path, site: Site) -> dict[str, DailySeries]:
    """Every source's weather of one site (no reference ET0 is read)."""
    sources = {}
    for sub, spec in SOURCE_FOLDERS.items():
        path = Path(folder) / sub / f"{site.name}.csv"
        if path.exists():
            sources[spec.source] = _source_series(path, spec, site)
    if not sources:
        raise ReferenceError(
            f"{folder}: site {site.name!r} has no source file in {sorted(SOURCE_FOLDERS)}"
        )
    return sources


def read_truth(folder: Path, site: Site, dates: np.ndarray) -> FloatArray:
    """Reference ET0 of one site on ``dates`` [mm day-1]."""
    path = Path(folder) / TRUTH_FOLDER / f"{site.name}.csv"
    return _on_dates(_read_csv(path, [TRUTH_COLUMN]), TRUTH_COLUMN, dates)


def read_extras(folder: Path, site: Site, dates: np.ndarray) -> dict[str, FloatArray]:
    """Comparison series shipped with the reference set, by method name [mm day-1]."""
    out = {}
    for sub, (column, method) in EXTRA_FOLDERS.items():
        path = Path(folder) / sub / f"{site.name}.csv"
        if path.exists():
            out[method] = _on_dates(_read_csv(path, [column]), column, dates)
    return out


def read_reference(folder: Path) -> list[ReferenceSite]:
    """Every site of a reference folder, with sources, reference ET0 and comparison series."""
    out = []
    for site in read_sites(folder):
        sources = read_sources(folder, site)
        dates = np.unique(np.concatenate([s.dates for s in sources.values()]))
        out.append(
            ReferenceSite(
                site=site,
                dates=dates,
                sources=sources,
                truth=read_truth(folder, site, dates),
                extra=read_extras(folder, site, dates),
            )
        )
    get_logger(__name__).info("reference_read", folder=str(folder), sites=len(out))
    return out


# --- Scoring -----------------------------------------------------------------------------------


@dataclass
class CityPrediction:
    """Everything predicted for one evaluated city, before its reference is read."""

    site: Site
    dates: np.ndarray
    series: dict[str, tuple[FloatArray, FloatArray | None, FloatArray | None]]
    """Method name -> (ET0, band low or None, band high or None) [mm day-1]."""


#: Source whose plain monthly bias correction is reported as a baseline.
BASELINE_SOURCE: Final = "nasa_power"
BASELINE_METHOD: Final = "nasa_power_monthly_bias"
UNANCHORED_METHOD: Final = "evapo_artefact_only"
"""Evapo with the artefact alone (no same-day anchoring), as the service runs without anchors."""


def monthly_bias_ratios(designs: Sequence[SiteDesign], family: str = BASELINE_SOURCE) -> FloatArray:
    """Plain monthly bias correction: sum(reference) / sum(FAO-56 ET0) by calendar month [-]."""
    num, den = np.zeros(12), np.zeros(12)
    for d in designs:
        if family not in d.families:
            continue
        eto = d.families[family].features[:, 0]
        ok = np.isfinite(eto) & np.isfinite(d.truth)
        month = (d.dates.astype("datetime64[M]").astype(np.int64) % 12)[ok]
        num += np.bincount(month, weights=d.truth[ok], minlength=12)
        den += np.bincount(month, weights=eto[ok], minlength=12)
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def predict_city(
    calibration: Calibration | None,
    site: Site,
    sources: dict[str, DailySeries],
    extras: dict[str, FloatArray],
    monthly_ratios: FloatArray | None = None,
) -> CityPrediction:
    """Evapo's fused ET0 and every comparison method for one city, from its sources only.

    With ``monthly_ratios`` (12 values, learned on other cities), the baseline
    :data:`BASELINE_METHOD` (NASA POWER FAO-56 times the month's ratio) is added; with
    anchors on the calibration, also :data:`UNANCHORED_METHOD`.
    """

    def fuse(cal: Calibration | None) -> FusedSeries:
        return fuse_point(
            sources, lat=site.lat, lon=site.lon, elevation_m=site.elevation_m, calibration=cal
        )

    fused = fuse(calibration)
    methods: dict[str, tuple[FloatArray, FloatArray | None, FloatArray | None]] = {
        "evapo": (fused.eto, fused.eto_lo, fused.eto_hi)
    }
    if calibration is not None and calibration.anchors is not None:
        alone = fuse(replace(calibration, anchors=None))
        methods[UNANCHORED_METHOD] = (alone.eto, alone.eto_lo, alone.eto_hi)
    for name, eto in fused.per_source_eto.items():
        methods[name] = (eto, None, None)
    stack = np.array(list(fused.per_source_eto.values()))
    with np.errstate(invalid="ignore"):
        counts = np.isfinite(stack).sum(axis=0)
        mean = np.where(counts > 0, np.nansum(stack, axis=0) / np.maximum(counts, 1), np.nan)
    methods["mean_of_sources"] = (mean, None, None)
    for name, arr in extras.items():
        if arr.shape != fused.eto.shape:
            raise ValueError(f"extra series {name!r} is not on the sources' dates")
        methods[name] = (arr, None, None)
    if monthly_ratios is not None and BASELINE_SOURCE in fused.per_source_eto:
        month = fused.dates.astype("datetime64[M]").astype(np.int64) % 12
        corrected = fused.per_source_eto[BASELINE_SOURCE] * monthly_ratios[month]
        methods[BASELINE_METHOD] = (corrected, None, None)
    return CityPrediction(site=site, dates=fused.dates, series=methods)


def _extras_dates(sources: dict[str, DailySeries]) -> np.ndarray:
    return np.unique(np.concatenate([s.dates for s in sources.values()]))


def score_prediction(pred: CityPrediction, truth: FloatArray) -> dict[str, dict[str, float]]:
    """Scores of every method of one city against its reference ET0.

    A method with no day in common with the reference gets NaN scores (and a warning), so one
    empty series does not stop the other cities and methods from being scored.
    """
    out = {}
    for method, (eto, lo, hi) in pred.series.items():
        ok = np.isfinite(eto) & np.isfinite(truth)
        if ok.sum() < 2:
            get_logger(__name__).warning(
                "not_scored", city=pred.site.name, method=method, days_in_common=int(ok.sum())
            )
            out[method] = dict.fromkeys(SCORES, float("nan"))
            continue
        out[method] = score(eto, truth, lo, hi)
    return out


def _collect(per_city: dict[str, dict[str, dict[str, float]]]) -> dict[str, Any]:
    methods: dict[str, dict[str, Any]] = {}
    for city, by_method in per_city.items():
        for method, scores in by_method.items():
            methods.setdefault(method, {"mean": {}, "cities": {}})["cities"][city] = scores
    for entry in methods.values():
        entry["mean"] = mean_scores(entry["cities"])
    return {"methods": methods}


def predict_folder(
    calibration: Calibration, folder: Path, monthly_ratios: FloatArray | None = None
) -> dict[str, CityPrediction]:
    """Predict every city of a folder from its sources and location only (no reference read)."""
    out = {}
    for site in read_sites(folder):
        sources = read_sources(folder, site)
        extras = read_extras(folder, site, _extras_dates(sources))
        out[site.name] = predict_city(calibration, site, sources, extras, monthly_ratios)
    return out


def validate_split(
    train_dir: Path, test_dir: Path, *, progress: Callable[[str], None] | None = None
) -> dict[str, Any]:
    """Calibrate on ``train_dir`` only, predict every city of ``test_dir``, then score it."""
    designs = [site_design(s) for s in read_reference(train_dir)]
    calibration = fit_from_designs(designs)
    predictions = predict_folder(calibration, test_dir, monthly_bias_ratios(designs))
    per_city: dict[str, dict[str, dict[str, float]]] = {}
    for name, pred in predictions.items():
        truth = read_truth(test_dir, pred.site, pred.dates)
        per_city[name] = score_prediction(pred, truth)
        if progress:
            progress(name)
    result = _collect(per_city)
    result["mode"] = "split"
    result["calibration"] = {
        "id": calibration.id,
        "sites": [s.name for s in calibration.sites],
        "anchoring": asdict(calibration.anchoring),
    }
    return result


def validate_loo(folder: Path, *, progress: Callable[[str], None] | None = None) -> dict[str, Any]:
    """Leave-one-city-out: each city scored by a calibration learned on all the others."""
    refs = read_reference(folder)
    if len(refs) < 2:
        raise CalibrationError("leave-one-out needs at least two reference sites")
    designs = [site_design(r) for r in refs]
    per_city: dict[str, dict[str, dict[str, float]]] = {}
    for k, ref in enumerate(refs):
        train = [d for j, d in enumerate(designs) if j != k]
        calibration = fit_from_designs(train)
        pred = predict_city(
            calibration, ref.site, ref.sources, ref.extra, monthly_bias_ratios(train)
        )
        per_city[ref.site.name] = score_prediction(pred, ref.truth)
        if progress:
            progress(ref.site.name)
    result = _collect(per_city)
    result["mode"] = "leave-one-out"
    return result


def write_json(result: dict[str, Any], path: Path) -> None:
    """Write a validation result (NaN as null)."""

    def clean(obj: Any) -> Any:
        if isinstance(obj, float):
            return obj if np.isfinite(obj) else None
        if isinstance(obj, dict):
            return {k: clean(v) for k, v in obj.items()}
        if isinstance(obj, list):
            return [clean(v) for v in obj]
        return obj

    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(clean(result), indent=1) + "\n")


def render_table(result: dict[str, Any]) -> Any:
    """A rich table of the mean of per-city scores, one row per method."""
    from rich.table import Table

    table = Table(title=f"Mean of per-city scores ({result.get('mode', '')})")
    table.add_column("method", no_wrap=True)
    for name in SCORES:
        table.add_column(name, justify="right")
    for method, entry in result["methods"].items():
        mean = entry["mean"]
        table.add_row(method, *(f"{mean[s]:.3f}" if np.isfinite(mean[s]) else "-" for s in SCORES))
    return table


def render_city_table(result: dict[str, Any], method: str = "evapo") -> Any:
    """A rich table of one method's scores per city."""
    from rich.table import Table

    table = Table(title=f"{method} per city ({result.get('mode', '')})")
    table.add_column("city", no_wrap=True)
    for name in SCORES:
        table.add_column(name, justify="right")
    for city, scores in result["methods"][method]["cities"].items():
        table.add_row(
            city, *(f"{scores[s]:.3f}" if np.isfinite(scores[s]) else "-" for s in SCORES)
        )
    return table
