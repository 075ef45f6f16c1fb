"""Fusion of several daily weather sources into one bias-corrected ET0 series with a 90 % band.

Method (details and validation in ``docs/METHODS.md``, "Fusion and validation"):

1. Every source is aligned on the union of dates and run through the chosen reference ET
   method (:func:`~evapo.science.asce.reference_et`; FAO-56 grass ETo by default).
2. Calibrated sources are grouped in *families* (``nasa_power``; ``openmeteo`` for the Open-Meteo
   archive and forecast, which share the ECMWF/ERA5 model family). Per day, the calibration's
   pooled linear model for the largest set of families present maps per-family ET0, its
   neighbour days and weather variables (Rs, u2, Tmax, Tmin, VPD, Rs/Rso, seasonal terms) to the
   reference ET0. Its monthly ratio to the reference at nearby reference sites (Gaussian distance
   weights, shrunk towards 1) corrects the remaining local bias.
3. Sources outside every family (MET Norway, NWS), and every source where no calibration applies
   (outside the artefact's domain, or days the calibrated model lacks inputs), enter with
   documented default priors: FAO-56 ET0 times the family's regional prior ratio (the
   artefact's mean reference / FAO-56 ratio; 1 for sources without a family or without an
   artefact) and relative error SD :data:`PRIOR_REL_SD`; days without a calibrated
   estimate carry :attr:`Flag.UNCALIBRATED`.
   The calibration was fitted on FAO-56 grass ETo: it serves FAO-56 and the ASCE short (grass)
   reference, never the tall (alfalfa) reference, which always gets plain default priors.
4. Estimates are combined with inverse error-variance weights; the 90 % band is the weighted
   mean of each estimate's empirical 5-95 % ratio band (from out-of-sample training residuals,
   by month), widened with the distance to the nearest reference site.
"""

from __future__ import annotations

import math
from collections.abc import Mapping, Sequence
from dataclasses import dataclass, field
from typing import TYPE_CHECKING, Any, Final

import numpy as np
from numpy.typing import NDArray

from evapo.logging import get_logger
from evapo.schema import COLUMNS, DailySeries, Flag, FloatArray, flag_labels
from evapo.science.asce import MethodChoice, reference_et
from evapo.science.daily import EtoResult
from evapo.science.stations import distance_matrix_km

if TYPE_CHECKING:
    from evapo.calibration import Calibration, LinearModel


#: Source name -> calibration family. Open-Meteo forecast is mapped to the archive's calibration
#: (same provider, ECMWF-family models); MET Norway and NWS have no family: default priors.
FAMILY_OF_SOURCE: Final[dict[str, str]] = {
    "nasa_power": "nasa_power",
    "openmeteo_archive": "openmeteo",
    "openmeteo_forecast": "openmeteo",
}
#: Sources tried in order for a family on each day (the first with ET0 wins).
FAMILY_SOURCES: Final[dict[str, tuple[str, ...]]] = {
    "nasa_power": ("nasa_power",),
    "openmeteo": ("openmeteo_archive", "openmeteo_forecast"),
}
#: Sources whose days are forecasts.
FORECAST_SOURCES: Final[frozenset[str]] = frozenset({"openmeteo_forecast", "met_norway", "nws"})

#: Per-family predictors of the pooled linear model.
FAMILY_FEATURES: Final[tuple[str, ...]] = (
    "eto",
    "eto_prev",
    "eto_next",
    "eto_cos",
    "eto_sin",
    "rs",
    "rs_rel",
    "u2",
    "tmax",
    "tmin",
    "vpd",
)
#: Predictors shared by all families (intercept, annual and semi-annual harmonics, Ra).
COMMON_FEATURES: Final[tuple[str, ...]] = ("one", "cos1", "sin1", "cos2", "sin2", "ra")

PRIOR_REL_SD: Final = 0.25
"""Default relative error SD of an uncalibrated source's FAO-56 ET0 [-] (no bias correction)."""
Z90: Final = 1.6448536269514722
"""Standard normal quantile of 0.95, for the 90 % prior band [-]."""
MIN_REPORTED_WEIGHT: Final = 1e-3
"""Reference sites with a smaller weight in the local correction are not listed [-]."""
MAX_ANCHOR_SITES: Final = 24
"""Nearest reference sites whose errors are kriged to a point (farther ones add nothing)."""
ANOMALY_WINDOW_DAYS: Final = 31
"""Window of the moving mean around which day-to-day anomalies are rescaled [day]."""
FAO56_CHOICE: Final = MethodChoice()
"""The default method: FAO-56 grass reference ETo."""


@dataclass
class FamilyInputs:
    """Predictors of one family on the aligned dates, and which source gave each day."""

    features: FloatArray
    """Shape (n, len(FAMILY_FEATURES)); a row is usable only when every entry is finite."""
    source_index: NDArray[np.int8]
    """Index into ``FAMILY_SOURCES[family]`` of the source used per day, -1 if none."""

    def rows(self, mask: NDArray[np.bool_]) -> FamilyInputs:
        """The inputs of the selected days only."""
        return FamilyInputs(features=self.features[mask], source_index=self.source_index[mask])


@dataclass
class FusedSeries:
    """Fused daily ET0 of one point, with its band, fused weather and provenance."""

    dates: NDArray[np.datetime64]
    eto: FloatArray
    """Fused reference evapotranspiration [mm day-1]."""
    eto_lo: FloatArray
    """Lower limit of the 90 % band [mm day-1]."""
    eto_hi: FloatArray
    """Upper limit of the 90 % band [mm day-1]."""
    weather: DailySeries
    """Fused canonical weather (source ``"fused"``)."""
    per_source_eto: dict[str, FloatArray]
    """Plain reference ET of each source by the chosen method [mm day-1]."""
    weights: dict[str, FloatArray]
    """Weight of each source in the fused ET0 per day [-] (sum 1 on days with ET0)."""
    flags: NDArray[np.uint32]
    calibrated: bool
    stations: list[tuple[str, float, float]] = field(default_factory=list)
    """Reference sites used: (name, distance [km], weight [-])."""
    method: str = ""
    """How the sources were combined (calibrated stack, regional prior or plain mean)."""
    eto_method: str = "fao56"
    """Label of the reference ET method (:attr:`MethodChoice.label`, e.g. ``asce-tall-full``)."""

    def __len__(self) -> int:
        return len(self.dates)

    def summary(self) -> dict[str, Any]:
        """Totals and extremes of the period (ET0 and precipitation in mm)."""
        ok = np.isfinite(self.eto)
        eto = self.eto[ok]
        precip = self.weather["precip_mm"]
        p_ok = np.isfinite(precip)
        total = float(eto.sum()) if eto.size else float("nan")
        p_total = float(precip[p_ok].sum()) if p_ok.any() else float("nan")
        return {
            "n_days": len(self),
            "n_days_eto": int(ok.sum()),
            "eto_total_mm": total,
            "eto_mean_mm": float(eto.mean()) if eto.size else float("nan"),
            "eto_max_mm": float(eto.max()) if eto.size else float("nan"),
            "eto_min_mm": float(eto.min()) if eto.size else float("nan"),
            "precip_total_mm": p_total,
            "water_balance_mm": p_total - total,
            "calibrated": self.calibrated,
            "sources": sorted(self.per_source_eto),
            "method": self.method,
            "eto_method": self.eto_method,
        }

    def to_rows(self) -> list[dict[str, Any]]:
        """One JSON-ready dict per day (NaN becomes ``None``)."""

        def column(arr: FloatArray) -> list[float | None]:
            values = np.asarray(arr, dtype=np.float64)
            ok = np.isfinite(values).tolist()
            return [v if good else None for v, good in zip(values.tolist(), ok, strict=True)]

        columns: dict[str, list[Any]] = {
            "date": [str(d) for d in self.dates.astype("datetime64[D]").astype(str)],
            "eto_mm": column(self.eto),
            "eto_lo_mm": column(self.eto_lo),
            "eto_hi_mm": column(self.eto_hi),
        }
        for col in COLUMNS:
            columns[col] = column(self.weather.values[col])
        for name, arr in self.per_source_eto.items():
            columns[f"eto_{name}_mm"] = column(arr)
        labels = {int(v): flag_labels(int(v)) for v in np.unique(self.flags)}
        columns["flags"] = [labels[v] for v in self.flags.tolist()]
        keys = list(columns)
        return [
            dict(zip(keys, values, strict=True)) for values in zip(*columns.values(), strict=True)
        ]


# --- Alignment and predictors ------------------------------------------------------------------


def align(series: DailySeries, dates: NDArray[np.datetime64]) -> DailySeries:
    """The series re-indexed on ``dates`` (missing days are NaN, flags 0)."""
    if len(series) == len(dates) and np.array_equal(series.dates, dates):
        return series
    pos = np.searchsorted(dates, series.dates)
    if np.any(pos >= len(dates)) or not np.array_equal(
        dates[np.minimum(pos, len(dates) - 1)], series.dates
    ):
        raise ValueError(f"source {series.source!r}: dates are not a subset of the target dates")
    values = {}
    for col in COLUMNS:
        arr = np.full(len(dates), np.nan)
        arr[pos] = series.values[col]
        values[col] = arr
    flags = np.zeros(len(dates), np.uint32)
    flags[pos] = series.flags
    extra = {}
    for name, arr in series.extra.items():
        full = np.full(len(dates), np.nan)
        full[pos] = arr
        extra[name] = full
    return DailySeries(
        dates=dates,
        values=values,
        flags=flags,
        source=series.source,
        lat=series.lat,
        lon=series.lon,
        elevation_m=series.elevation_m,
        extra=extra,
    )


def union_dates(sources: Mapping[str, DailySeries]) -> NDArray[np.datetime64]:
    """Sorted union of every source's dates (``datetime64[D]``)."""
    if not sources:
        raise ValueError("sources: at least one source is needed")
    for name, s in sources.items():
        if len(s) and np.any(np.diff(s.dates.astype(np.int64)) <= 0):
            raise ValueError(f"source {name!r}: dates must be strictly increasing")
    first = next(iter(sources.values())).dates
    if all(np.array_equal(s.dates, first) for s in sources.values()):
        return first
    days = np.concatenate([s.dates.astype(np.int64) for s in sources.values()])
    return np.unique(np.sort(days)).astype("datetime64[D]")


def _neighbour(x: FloatArray, step: int) -> FloatArray:
    """``x`` shifted by one day (``step`` -1: previous, +1: next); the day itself where missing."""
    out = np.roll(x, -step)
    if step > 0:
        out[-1] = np.nan
    else:
        out[0] = np.nan
    return np.where(np.isfinite(out), out, x)


def columns(cols: Sequence[FloatArray]) -> FloatArray:
    """Stack 1-D columns into an (n, k) column-major matrix (contiguous column writes)."""
    n = len(cols[0])
    out = np.empty((n, len(cols)), order="F")
    for j, col in enumerate(cols):
        out[:, j] = col
    return out


def common_features(dates: NDArray[np.datetime64], ra: FloatArray) -> FloatArray:
    """Predictors shared by every family, shape (n, len(COMMON_FEATURES))."""
    doy = (dates - dates.astype("datetime64[Y]").astype("datetime64[D]")).astype(np.float64) + 1.0
    w = 2.0 * np.pi * doy / 365.25
    one = np.ones(len(dates))
    return columns([one, np.cos(w), np.sin(w), np.cos(2 * w), np.sin(2 * w), ra])


def family_features(eto: EtoResult, series: DailySeries) -> FloatArray:
    """Per-family predictors of one source, shape (n, len(FAMILY_FEATURES))."""
    d = eto.details
    e = eto.eto
    w = 2.0 * np.pi * d["doy"] / 365.25
    with np.errstate(divide="ignore", invalid="ignore"):
        rs_rel = np.where(d["rso"] > 0, d["rs"] / d["rso"], np.nan)
    # Only measured wind and radiation count: FAO-56 defaults are not evidence of the weather.
    u2 = np.where(np.isfinite(series["wind2m_ms"]), d["u2"], np.nan)
    rs = np.where(np.isfinite(series["rs_mj_m2"]), d["rs"], np.nan)
    return columns(
        [
            e,
            _neighbour(e, -1),
            _neighbour(e, +1),
            e * np.cos(w),
            e * np.sin(w),
            rs,
            np.where(np.isfinite(rs), rs_rel, np.nan),
            u2,
            series["tmax_c"],
            series["tmin_c"],
            d["vpd"],
        ]
    )


def source_eto(
    sources: Mapping[str, DailySeries],
    dates: NDArray[np.datetime64],
    *,
    lat: float,
    elevation_m: float,
    choice: MethodChoice | None = None,
) -> tuple[dict[str, DailySeries], dict[str, EtoResult]]:
    """Every source aligned on ``dates`` and its reference ET by ``choice`` (FAO-56 default)."""
    chosen = FAO56_CHOICE if choice is None else choice
    aligned = {name: align(s, dates) for name, s in sources.items()}
    results = {
        name: reference_et(s, chosen, lat_deg=lat, elevation_m=elevation_m)
        for name, s in aligned.items()
    }
    return aligned, results


def build_family_inputs(
    aligned: Mapping[str, DailySeries], results: Mapping[str, EtoResult]
) -> dict[str, FamilyInputs]:
    """Predictors per family present, taking each day from the family's first usable source."""
    out: dict[str, FamilyInputs] = {}
    for family, names in FAMILY_SOURCES.items():
        present = [n for n in names if n in aligned]
        if not present:
            continue
        feats = family_features(results[present[0]], aligned[present[0]])
        index = np.where(finite_rows(feats), names.index(present[0]), -1).astype(np.int8)
        for name in present[1:]:
            f = family_features(results[name], aligned[name])
            take = (index < 0) & finite_rows(f)
            feats[take] = f[take]
            index[take] = names.index(name)
        out[family] = FamilyInputs(features=feats, source_index=index)
    return out


def model_matrix(
    common: FloatArray, families: Mapping[str, FamilyInputs], model_families: Sequence[str]
) -> FloatArray:
    """Design matrix of a model over the given families (NaN rows where one is missing)."""
    blocks = [common] + [families[f].features for f in model_families]
    out = np.empty((len(common), sum(b.shape[1] for b in blocks)), order="F")
    start = 0
    for block in blocks:
        out[:, start : start + block.shape[1]] = block
        start += block.shape[1]
    return out


def finite_rows(x: FloatArray) -> NDArray[np.bool_]:
    """Rows of a column-major matrix whose every entry is finite."""
    ok = np.isfinite(x[:, 0])
    for j in range(1, x.shape[1]):
        ok &= np.isfinite(x[:, j])
    return ok


def predict_model(
    common: FloatArray,
    families: Mapping[str, FamilyInputs],
    model_families: Sequence[str],
    coef: FloatArray,
    mask: NDArray[np.bool_],
) -> FloatArray:
    """The linear model on the masked days, block by block (same as ``model_matrix`` @ coef)."""
    take: slice | NDArray[np.bool_] = slice(None) if mask.all() else mask
    k = common.shape[1]
    pred = predict(common[take], coef[:k])
    for family in model_families:
        block = families[family].features
        pred += predict(block[take], coef[k : k + block.shape[1]])
        k += block.shape[1]
    return pred


def predict(x: FloatArray, coef: FloatArray) -> FloatArray:
    """Linear predictor ``x coef`` by einsum (no multi-threaded BLAS for one small product)."""
    return np.asarray(np.einsum("ij,j->i", x, coef), dtype=np.float64)


# --- Local correction and variance preservation ------------------------------------------------


def moving_mean(x: FloatArray, window: int = ANOMALY_WINDOW_DAYS) -> FloatArray:
    """Centred moving mean over ``window`` days, ignoring missing days (NaN where none)."""
    if window < 1 or window % 2 == 0:
        raise ValueError(f"window must be a positive odd number of days, got {window}")
    ok = np.isfinite(x)
    n = len(x)
    half = window // 2
    csum = np.concatenate([[0.0], np.cumsum(np.where(ok, x, 0.0))])
    ccount = np.concatenate([[0.0], np.cumsum(ok.astype(np.float64))])
    lo = np.clip(np.arange(n) - half, 0, n)
    hi = np.clip(np.arange(n) + half + 1, 0, n)
    num = csum[hi] - csum[lo]
    den = ccount[hi] - ccount[lo]
    with np.errstate(invalid="ignore", divide="ignore"):
        return np.where(den > 0, num / den, np.nan)


def inflate_anomalies(x: FloatArray, scale: float, window: int = ANOMALY_WINDOW_DAYS) -> FloatArray:
    """Scale departures from the centred moving mean by ``scale`` [-] (variance preservation).

    A least-squares prediction has less day-to-day variance than the truth; ``scale`` (learned
    out of sample, about 1/r) restores it without moving the monthly means.
    """
    pivot = moving_mean(x, window)
    return np.asarray(np.maximum(pivot + scale * (x - pivot), 0.0), dtype=np.float64)


def local_ratio(
    neighbours: Sequence[tuple[float, Sequence[float]]],
    *,
    length_scale_km: float,
    prior_strength: float,
) -> tuple[FloatArray, list[float]]:
    """Monthly correction ratio [-] at a point from (distance [km], 12 monthly ratios) of sites.

    Gaussian distance weights ``g = exp(-(d / L)^2)`` and a prior ratio of 1 with weight
    ``prior_strength``: far from every site the correction fades to 1. Returns the ratios and
    each site's normalised weight.
    """
    num = np.full(12, prior_strength)
    den = prior_strength
    g_all = []
    for dist, ratios in neighbours:
        g = math.exp(-((dist / length_scale_km) ** 2))
        num = num + g * np.asarray(ratios, dtype=np.float64)
        den += g
        g_all.append(g)
    return num / den, [g / den for g in g_all]


def residual_correlation(distance_km: FloatArray, sill: float, range_km: float) -> FloatArray:
    """Correlation of two sites' daily errors ``distance_km`` apart: ``sill exp(-d / range)``."""
    return np.asarray(sill * np.exp(-np.asarray(distance_km) / range_km), dtype=np.float64)


def anchor_correction(
    distances_km: FloatArray,
    pair_km: FloatArray,
    residuals: FloatArray,
    *,
    sill: float,
    range_km: float,
) -> tuple[FloatArray, FloatArray]:
    """Same-day correction [ln ratio] at a point, and the share of error variance it explains.

    Simple kriging (optimal interpolation) of the sites' errors ``residuals`` (sites, days),
    ln(reference / prediction), with the correlation model :func:`residual_correlation` (1 on
    the diagonal): weights ``C^-1 c0`` where ``C`` holds the sites' correlations (``pair_km``
    apart) and ``c0`` their correlations with the point (``distances_km`` away). Per day only
    the sites with a value count; the explained share ``c0 . w`` is 0 when none does.
    """
    n = residuals.shape[1]
    correction = np.zeros(n)
    explained = np.zeros(n)
    if sill <= 0.0 or residuals.shape[0] == 0:
        return correction, explained
    c0 = residual_correlation(distances_km, sill, range_km)
    cov = residual_correlation(pair_km, sill, range_km)
    np.fill_diagonal(cov, 1.0)
    have = np.isfinite(residuals)
    # One solve per set of sites present on a day: days grouped by their packed presence bits.
    bits = np.ascontiguousarray(np.packbits(have, axis=0).T)
    keys, day_pattern = np.unique(
        bits.view(np.dtype((np.void, bits.shape[1]))).ravel(), return_inverse=True
    )
    patterns = np.unpackbits(
        keys.view(np.uint8).reshape(len(keys), -1), axis=1, count=have.shape[0]
    ).astype(bool)
    for k, used in enumerate(patterns):
        days = day_pattern.ravel() == k
        if not used.any():
            continue
        w = np.linalg.solve(cov[np.ix_(used, used)], c0[used])
        correction[days] = w @ residuals[np.ix_(used, days)]
        explained[days] = float(c0[used] @ w)
    return correction, explained


# --- Fusion ------------------------------------------------------------------------------------


@dataclass
class _Estimate:
    value: FloatArray
    variance: FloatArray
    lo_ratio: FloatArray
    hi_ratio: FloatArray
    sources: list[NDArray[np.bool_]]  # per contributing source name: days it contributed
    names: list[str]
    anchored: NDArray[np.bool_] | None = None  # days corrected with the reference of the day


def _month_index(dates: NDArray[np.datetime64]) -> NDArray[np.intp]:
    return np.asarray(dates.astype("datetime64[M]").astype(np.int64) % 12, dtype=np.intp)


def _local_adjustment(
    model: LinearModel, calibration: Calibration, lat: float, lon: float
) -> tuple[FloatArray, list[tuple[str, float, float]]]:
    """Monthly multiplicative correction from nearby sites' ratios, shrunk towards 1 [-]."""
    matches = [m for m in calibration.finder().within(lat, lon) if m.site.name in model.site_ratio]
    ratio, weights = local_ratio(
        [(m.distance_km, model.site_ratio[m.site.name]) for m in matches],
        length_scale_km=calibration.domain.length_scale_km,
        prior_strength=calibration.domain.prior_strength,
    )
    used = [
        (m.site.name, m.distance_km, w)
        for m, w in zip(matches, weights, strict=True)
        if w >= MIN_REPORTED_WEIGHT
    ]
    return ratio, used


def _anchoring(
    calibration: Calibration, dates: NDArray[np.datetime64], lat: float, lon: float
) -> tuple[FloatArray, FloatArray] | None:
    """The anchors' correction and explained share at a point (None without anchors near it)."""
    anchors = calibration.anchors
    if anchors is None:
        return None
    known = {s.name for s in anchors.sites}
    matches = [m for m in calibration.finder().within(lat, lon) if m.site.name in known]
    matches = matches[:MAX_ANCHOR_SITES]
    if not matches:
        return None
    sites = [m.site for m in matches]
    return anchor_correction(
        np.array([m.distance_km for m in matches]),
        distance_matrix_km(sites),
        anchors.rows([s.name for s in sites], dates),
        sill=calibration.anchoring.sill,
        range_km=calibration.anchoring.range_km,
    )


def _calibrated_estimate(
    calibration: Calibration,
    dates: NDArray[np.datetime64],
    common: FloatArray,
    families: Mapping[str, FamilyInputs],
    *,
    lat: float,
    lon: float,
    widen: float,
) -> tuple[_Estimate | None, list[tuple[str, float, float]], list[str]]:
    """The calibrated ET0 on days some model's families are all present."""
    n = len(dates)
    value = np.full(n, np.nan)
    scale = np.ones(n)
    rel_rmse = np.full(n, np.nan)
    lo = np.full(n, np.nan)
    hi = np.full(n, np.nan)
    month = _month_index(dates)
    contrib: dict[str, NDArray[np.bool_]] = {}
    stations: list[tuple[str, float, float]] = []
    used_models: list[str] = []
    for model in sorted(calibration.models, key=lambda m: -len(m.families)):
        if not all(f in families for f in model.families):
            continue
        ok = ~np.isfinite(value)
        for family in model.families:
            ok &= families[family].source_index >= 0
        if not ok.any():
            continue
        adj, st = _local_adjustment(model, calibration, lat, lon)
        if len(st) > len(stations):
            stations = st
        pred = predict_model(common, families, model.families, np.asarray(model.coef), ok)
        pred = pred * adj[month[ok]]
        value[ok] = np.maximum(pred, 0.0)
        scale[ok] = model.anomaly_scale
        rel_rmse[ok] = np.asarray(model.rel_rmse)[month[ok]]
        lo[ok] = np.exp(np.log(np.asarray(model.ratio_q05)[month[ok]]) * widen)
        hi[ok] = np.exp(np.log(np.asarray(model.ratio_q95)[month[ok]]) * widen)
        used_models.append("+".join(model.families))
        for family in model.families:
            idx = families[family].source_index
            for k, name in enumerate(FAMILY_SOURCES[family]):
                contrib.setdefault(name, np.zeros(n, bool))
                contrib[name] |= ok & (idx == k)
    if not used_models:
        return None, [], []
    pivot = moving_mean(value)
    value = np.maximum(pivot + scale * (value - pivot), 0.0)
    anchored = np.zeros(n, bool)
    anchoring = _anchoring(calibration, dates, lat, lon)
    if anchoring is not None:
        # The error left is sqrt(1 - explained) of the unanchored one (in log space).
        correction, explained = anchoring
        anchored = (explained > 0) & np.isfinite(value)
        narrow = np.where(anchored, np.sqrt(np.clip(1.0 - explained, 0.0, 1.0)), 1.0)
        value = np.where(anchored, value * np.exp(correction), value)
        lo, hi = lo**narrow, hi**narrow
        rel_rmse = rel_rmse * narrow
    variance = (rel_rmse * np.maximum(value, 0.1)) ** 2
    names = list(contrib)
    return (
        _Estimate(value, variance, lo, hi, [contrib[k] for k in names], names, anchored),
        stations,
        used_models,
    )


@dataclass
class _Prior:
    """A source's prior estimate [mm day-1] and its 90 % band as ratios [-]."""

    value: FloatArray
    lo_ratio: float
    hi_ratio: float

    @property
    def rel_sd(self) -> float:
        """Relative error SD implied by the band (normal in log space) [-]."""
        return (math.log(self.hi_ratio) - math.log(self.lo_ratio)) / (2.0 * Z90)


def _prior_estimate(name: str, prior: _Prior, value: FloatArray, level: FloatArray) -> _Estimate:
    """A source's prior estimate as an :class:`_Estimate`.

    The error SD is relative to the day's ``level`` [mm day-1] (the calibrated estimate, else
    the prior estimates' mean), so that priors of equal width get equal weights.
    """
    n = len(value)
    return _Estimate(
        value=value,
        variance=(prior.rel_sd * np.maximum(level, 0.1)) ** 2,
        lo_ratio=np.full(n, prior.lo_ratio),
        hi_ratio=np.full(n, prior.hi_ratio),
        sources=[np.isfinite(value)],
        names=[name],
    )


def _priors(
    per_source: Mapping[str, FloatArray], calibration: Calibration | None, widen: float
) -> tuple[dict[str, _Prior], bool]:
    """Each source's default prior: ET0 times its family's regional ratio, with its band.

    With an artefact, a family's ratio and band come from all its reference sites (band
    widened like the calibrated one); otherwise ratio 1 and relative SD :data:`PRIOR_REL_SD`.
    """
    out: dict[str, _Prior] = {}
    applied = False
    default_lo, default_hi = math.exp(-Z90 * PRIOR_REL_SD), math.exp(Z90 * PRIOR_REL_SD)
    for name, eto in per_source.items():
        family = FAMILY_OF_SOURCE.get(name) or ""
        if calibration is not None and family in calibration.prior_ratio:
            q05, q95 = calibration.prior_band[family]
            out[name] = _Prior(eto * calibration.prior_ratio[family], q05**widen, q95**widen)
            applied = True
        else:
            out[name] = _Prior(eto, default_lo, default_hi)
    return out, applied


def fuse_point(
    sources: Mapping[str, DailySeries],
    *,
    lat: float,
    lon: float,
    elevation_m: float,
    calibration: Calibration | None,
    choice: MethodChoice | None = None,
) -> FusedSeries:
    """Fuse the sources' daily weather of one point into reference ET with a 90 % band.

    ``lat`` [deg], ``lon`` [deg], ``elevation_m`` [m]. ``choice`` is the reference ET method
    (default FAO-56 grass ETo). Sources may cover different days; a day gets ET when at least
    one source has enough data for the method on it. Days without a calibrated estimate are
    flagged ``UNCALIBRATED``; the tall reference is never calibrated (the calibration was
    fitted on grass ETo), so all its days are.
    """
    chosen = FAO56_CHOICE if choice is None else choice
    if chosen.reference == "tall":
        calibration = None
    dates = union_dates(sources)
    n = len(dates)
    aligned, results = source_eto(sources, dates, lat=lat, elevation_m=elevation_m, choice=chosen)
    per_source = {name: r.eto for name, r in results.items()}

    in_domain = False
    widen = 1.0
    if calibration is not None:
        in_domain, nearest_km = calibration.covers(lat, lon)
        widen = 1.0 + 0.5 * min(nearest_km / calibration.domain.radius_km, 1.0)
    estimates: list[_Estimate] = []
    stations: list[tuple[str, float, float]] = []
    used_models: list[str] = []
    calibrated_sources: set[str] = set()
    if calibration is not None and in_domain:
        families = build_family_inputs(aligned, results)
        ra = next(iter(results.values())).details["ra"]
        common = common_features(dates, ra)
        cal, stations, used_models = _calibrated_estimate(
            calibration, dates, common, families, lat=lat, lon=lon, widen=widen
        )
        if cal is not None:
            estimates.append(cal)
            calibrated_sources = {s for s, fam in FAMILY_OF_SOURCE.items() if fam in families}
    prior, prior_applied = _priors(per_source, calibration, widen)
    stack = np.array([p.value for p in prior.values()])
    count = np.isfinite(stack).sum(axis=0)
    level = np.where(count > 0, np.nansum(stack, axis=0) / np.maximum(count, 1), np.nan)
    has_cal = np.zeros(n, bool)
    if estimates:
        has_cal = np.isfinite(estimates[0].value)
        level = np.where(has_cal, estimates[0].value, level)
    for name, p in prior.items():
        # A calibrated family's source enters only on days its model could not be used.
        value = np.where(has_cal, np.nan, p.value) if name in calibrated_sources else p.value
        estimates.append(_prior_estimate(name, p, value, level))

    # Inverse error-variance weights.
    w = np.array([np.where(np.isfinite(e.value), 1.0 / e.variance, 0.0) for e in estimates])
    w_sum = w.sum(axis=0)
    with np.errstate(invalid="ignore", divide="ignore"):
        wn = np.where(w_sum > 0, w / w_sum, 0.0)
    vals = np.array([np.where(np.isfinite(e.value), e.value, 0.0) for e in estimates])
    fused = np.where(w_sum > 0, (wn * vals).sum(axis=0), np.nan)
    lo_r = np.array([np.where(np.isfinite(e.lo_ratio), e.lo_ratio, 1.0) for e in estimates])
    hi_r = np.array([np.where(np.isfinite(e.hi_ratio), e.hi_ratio, 1.0) for e in estimates])
    eto_lo = np.where(w_sum > 0, fused * (wn * lo_r).sum(axis=0), np.nan)
    eto_hi = np.where(w_sum > 0, fused * (wn * hi_r).sum(axis=0), np.nan)

    # Each estimate's weight shared equally among the sources that fed it on the day.
    weights = {name: np.zeros(n) for name in sources}
    for k, est in enumerate(estimates):
        masks = np.array(est.sources, dtype=bool)
        count = masks.sum(axis=0)
        for name, mask in zip(est.names, masks, strict=True):
            if name in weights:
                weights[name] += np.where(mask & (count > 0), wn[k] / np.maximum(count, 1), 0.0)

    weather, flags = _fuse_weather(aligned, results, weights, dates)
    flags[~has_cal] |= np.uint32(Flag.UNCALIBRATED)
    anchored = estimates[0].anchored if estimates and estimates[0].anchored is not None else None
    if anchored is not None:
        flags[anchored] |= np.uint32(Flag.ANCHORED)
    flags[~np.isfinite(fused)] |= np.uint32(Flag.ETO_MISSING)
    weather.lat, weather.lon, weather.elevation_m = lat, lon, elevation_m
    if used_models:
        method = "calibrated-stack[" + ",".join(used_models) + "]+priors"
        if anchored is not None and anchored.any():
            method += "+anchors"
    else:
        method = "regional-prior" if prior_applied else "prior-weighted-mean"
    get_logger(__name__).debug(
        "fused",
        n_days=n,
        sources=sorted(sources),
        method=method,
        eto_method=chosen.label,
        lat=lat,
        lon=lon,
    )
    return FusedSeries(
        dates=dates,
        eto=fused,
        eto_lo=eto_lo,
        eto_hi=eto_hi,
        weather=weather,
        per_source_eto=per_source,
        weights=weights,
        flags=flags,
        calibrated=bool(has_cal.any()),
        stations=stations,
        method=method,
        eto_method=chosen.label,
    )


def _fuse_weather(
    aligned: Mapping[str, DailySeries],
    results: Mapping[str, EtoResult],
    weights: Mapping[str, FloatArray],
    dates: NDArray[np.datetime64],
) -> tuple[DailySeries, NDArray[np.uint32]]:
    """Weighted mean of the sources' weather per column; days without weights use equal weights.

    Flags: union of the contributing sources' flags, ``FORECAST`` when a forecast source
    contributed, ``GAP_FILLED`` when the day's main source lacked a value another source gave.
    """
    names = list(aligned)
    n = len(dates)
    w = np.array([weights[name] for name in names])
    no_w = w.sum(axis=0) <= 0
    w[:, no_w] = 1.0
    main = np.argmax(w, axis=0)
    flags = np.zeros(n, np.uint32)
    for k, name in enumerate(names):
        used = w[k] > 0
        flags[used] |= results[name].flags[used] & ~np.uint32(Flag.ETO_MISSING)
        if name in FORECAST_SOURCES:
            flags[used & np.isfinite(results[name].eto)] |= np.uint32(Flag.FORECAST)
    values: dict[str, FloatArray] = {}
    rows = np.arange(n)
    for col in COLUMNS:
        x = np.array([aligned[name].values[col] for name in names])
        have = np.isfinite(x)
        if not have.any():
            values[col] = np.full(n, np.nan)
            continue
        if len(names) == 1:
            values[col] = x[0].copy()
            continue
        ww = np.where(have, w, 0.0)
        tot = ww.sum(axis=0)
        with np.errstate(invalid="ignore", divide="ignore"):
            values[col] = np.where(tot > 0, (ww * np.where(have, x, 0.0)).sum(axis=0) / tot, np.nan)
        filled = (tot > 0) & ~have[main, rows]
        flags[filled] |= np.uint32(Flag.GAP_FILLED)
    return DailySeries(dates=dates, values=values, flags=flags, source="fused"), flags.copy()
