"""Calibration artefact: learned fusion parameters, their reference sites, period and domain.

The artefact is a small versioned JSON file (:data:`SCHEMA_VERSION`), built by
``evapo calibrate`` from a reference folder and loaded by the service at start. It holds learned
parameters only, never the reference data. :func:`fit_calibration` learns it from
:class:`ReferenceSite` objects (see :mod:`evapo.validation` for reading a folder).

:class:`Anchors` are the other half, kept apart because they are derived daily data: the
calibrated chain's held-out daily errors at the reference sites, which let a point near those
sites be corrected with the same day's reference (``evapo calibrate --anchors FILE``, setting
``anchors_path``). Without them the artefact alone applies.
"""

from __future__ import annotations

import hashlib
import json
import math
from collections.abc import Mapping, Sequence
from dataclasses import asdict, dataclass, field
from datetime import UTC, datetime
from functools import cached_property
from importlib import resources
from itertools import combinations
from pathlib import Path
from typing import Any, Final

import numpy as np
from numpy.typing import NDArray

from evapo.logging import get_logger
from evapo.schema import DailySeries, FloatArray
from evapo.science import fusion
from evapo.science.stations import Site, StationFinder, distance_matrix_km, great_circle_km

SCHEMA: Final = "evapo.calibration"
SCHEMA_VERSION: Final = 1
METHOD: Final = "pooled-linear-stack/v1"
DEFAULT_RADIUS_KM: Final = 800.0
"""Distance to the nearest reference site beyond which the calibration does not apply [km]."""
DEFAULT_LENGTH_SCALE_KM: Final = 100.0
"""Length scale of the Gaussian weight of a reference site's local correction [km]."""
DEFAULT_PRIOR_STRENGTH: Final = 0.5
"""Weight of "no local correction" (ratio 1) against the sites' weights [-]."""
MAX_ANOMALY_SCALE: Final = 1.2
"""Cap on the variance-preserving factor [-]: beyond it, rescaling adds more error than skill."""
MAX_SILL: Final = 0.95
"""Upper limit of the fitted error correlation between two sites [-] (a nugget of 5 % or more)."""
MIN_ANCHOR_PAIRS: Final = 15
"""Fewest site pairs (six sites) from which the error correlation model is learned [-]."""
RIDGE: Final = 1e-6
"""Ridge penalty relative to the mean diagonal of X'X [-] (numerical safety only)."""


class CalibrationError(ValueError):
    """A calibration artefact or reference data set that cannot be used (says why)."""


@dataclass
class ReferenceSite:
    """Reference data of one site: its sources' weather and the reference ET0 [mm day-1]."""

    site: Site
    dates: NDArray[np.datetime64]
    sources: dict[str, DailySeries]
    truth: FloatArray
    extra: dict[str, FloatArray] = field(default_factory=dict)
    """Other per-day series kept for comparison (e.g. ``openmeteo_eto``) [mm day-1]."""


@dataclass
class Domain:
    """Where a calibration applies: within ``radius_km`` of a reference site."""

    radius_km: float = DEFAULT_RADIUS_KM
    length_scale_km: float = DEFAULT_LENGTH_SCALE_KM
    prior_strength: float = DEFAULT_PRIOR_STRENGTH
    bbox: tuple[float, float, float, float] = (-90.0, -180.0, 90.0, 180.0)
    """Bounding box of the reference sites (south, west, north, east) [deg], informative."""


@dataclass
class Anchoring:
    """Correlation of the chain's daily errors between sites: ``sill exp(-d / range_km)``.

    Learned from the reference sites' held-out errors; it sets how far, and how much, the same
    day's reference at nearby sites corrects a point (``fusion.anchor_correction``). A sill of 0
    turns anchoring off.
    """

    sill: float = 0.0
    range_km: float = 100.0
    pairs: int = 0
    """Number of site pairs the model was fitted on."""

    def __post_init__(self) -> None:
        if not 0.0 <= self.sill < 1.0:
            raise CalibrationError(f"anchoring.sill: {self.sill} is outside [0, 1)")
        if not self.range_km > 0.0:
            raise CalibrationError(f"anchoring.range_km: {self.range_km} must be > 0")


@dataclass
class LinearModel:
    """Pooled linear model over a set of source families, with its out-of-sample error model."""

    families: list[str]
    coef: list[float]
    ratio_q05: list[float]
    """Per calendar month: 5 % quantile of reference / prediction on held-out sites [-]."""
    ratio_q95: list[float]
    """Per calendar month: 95 % quantile of reference / prediction on held-out sites [-]."""
    rel_rmse: list[float]
    """Per calendar month: RMSE / mean reference on held-out sites [-]."""
    site_ratio: dict[str, list[float]]
    """Per reference site and calendar month: sum(reference) / sum(held-out prediction) [-]."""
    anomaly_scale: float = 1.0
    """Factor on departures from the 31-day moving mean restoring day-to-day variance [-]."""
    n_days: int = 0


@dataclass
class Calibration:
    """Learned fusion parameters (see module docstring)."""

    sites: list[Site]
    models: list[LinearModel]
    domain: Domain
    period: tuple[str, str]
    created: str = ""
    method: str = METHOD
    version: int = SCHEMA_VERSION
    prior_ratio: dict[str, float] = field(default_factory=dict)
    """Per family: sum(reference) / sum(FAO-56 ET0) over all sites and days [-]; the default
    prior applied where the calibrated model does not (e.g. outside the domain). Annual, not
    monthly: the seasonal shape of the bias is specific to the region's climate."""
    prior_band: dict[str, tuple[float, float]] = field(default_factory=dict)
    """Per family: 5 % and 95 % quantiles of reference / (prior ratio x FAO-56) over all sites
    and days [-], the 90 % band of the default prior."""
    feature_names: dict[str, list[str]] = field(
        default_factory=lambda: {
            "common": list(fusion.COMMON_FEATURES),
            "family": list(fusion.FAMILY_FEATURES),
        }
    )
    anchoring: Anchoring = field(default_factory=Anchoring)
    anchors: Anchors | None = field(default=None, repr=False, compare=False)
    """Daily held-out errors at the reference sites, when given; never part of the artefact."""

    @cached_property
    def _finder(self) -> StationFinder:
        return StationFinder(
            self.sites,
            radius_km=self.domain.radius_km,
            length_scale_km=self.domain.length_scale_km,
        )

    def finder(self) -> StationFinder:
        """Spatial index over the reference sites (radius = domain radius)."""
        return self._finder

    def covers(self, lat: float, lon: float) -> tuple[bool, float]:
        """Whether the point is inside the domain, and its distance to the nearest site [km]."""
        if not self.sites:
            return False, math.inf
        (_, dist), *_ = self._finder.nearest(lat, lon, 1)
        return dist <= self.domain.radius_km, dist

    def to_dict(self) -> dict[str, Any]:
        """JSON-ready dict; ``id`` is a hash of the learned content (not the creation time)."""
        body = {
            "schema": SCHEMA,
            "version": self.version,
            "method": self.method,
            "period": {"start": self.period[0], "end": self.period[1]},
            "domain": asdict(self.domain),
            "sites": [asdict(s) for s in self.sites],
            "feature_names": self.feature_names,
            "families": dict(fusion.FAMILY_OF_SOURCE),
            "models": [asdict(m) for m in self.models],
            "prior_ratio": self.prior_ratio,
            "prior_band": {k: list(v) for k, v in self.prior_band.items()},
            "anchoring": asdict(self.anchoring),
        }
        digest = hashlib.sha256(json.dumps(body, sort_keys=True).encode()).hexdigest()[:16]
        return {"id": digest, "created": self.created, **body}

    @property
    def id(self) -> str:
        """Content hash of the learned parameters."""
        return str(self.to_dict()["id"])

    @classmethod
    def from_dict(cls, data: Mapping[str, Any]) -> Calibration:
        """Parse and check an artefact dict."""
        if data.get("schema") != SCHEMA:
            raise CalibrationError(f"schema: expected {SCHEMA!r}, got {data.get('schema')!r}")
        if data.get("version") != SCHEMA_VERSION:
            raise CalibrationError(
                f"version: this Evapo reads version {SCHEMA_VERSION}, got {data.get('version')!r}"
            )
        names = data.get("feature_names", {})
        if list(names.get("common", [])) != list(fusion.COMMON_FEATURES) or list(
            names.get("family", [])
        ) != list(fusion.FAMILY_FEATURES):
            raise CalibrationError("feature_names: artefact was built for other predictors")
        width = len(fusion.COMMON_FEATURES)
        models = []
        for m in data["models"]:
            model = LinearModel(**m)
            expected = width + len(fusion.FAMILY_FEATURES) * len(model.families)
            if len(model.coef) != expected:
                raise CalibrationError(
                    f"models[{model.families}].coef: {len(model.coef)} values, expected {expected}"
                )
            for key in ("ratio_q05", "ratio_q95", "rel_rmse"):
                if len(getattr(model, key)) != 12:
                    raise CalibrationError(f"models[{model.families}].{key}: expected 12 months")
            models.append(model)
        prior_ratio = {str(k): float(v) for k, v in data["prior_ratio"].items()}
        for family, ratio in prior_ratio.items():
            if not 0.2 < ratio < 5.0:
                raise CalibrationError(f"prior_ratio[{family}]: {ratio} is outside (0.2, 5)")
        prior_band: dict[str, tuple[float, float]] = {}
        for family, band in data["prior_band"].items():
            lo, hi = (float(x) for x in band)
            if not 0.0 < lo < 1.0 < hi:
                raise CalibrationError(f"prior_band[{family}]: expected 0 < q05 < 1 < q95")
            prior_band[str(family)] = (lo, hi)
        if set(prior_band) != set(prior_ratio):
            raise CalibrationError("prior_band: one band per prior_ratio family is needed")
        dom = dict(data["domain"])
        dom["bbox"] = tuple(dom.get("bbox", Domain().bbox))
        return cls(
            sites=[Site(**s) for s in data["sites"]],
            models=models,
            prior_ratio=prior_ratio,
            prior_band=prior_band,
            anchoring=Anchoring(**data.get("anchoring", {})),
            domain=Domain(**dom),
            period=(data["period"]["start"], data["period"]["end"]),
            created=str(data.get("created", "")),
            method=str(data.get("method", METHOD)),
            version=int(data["version"]),
        )


ANCHORS_SCHEMA: Final = "evapo.anchors"
ANCHORS_VERSION: Final = 1


@dataclass
class Anchors:
    """Daily held-out errors of a calibration at its reference sites.

    ``residual[i, t]`` is ln(reference / prediction) at ``sites[i]`` on day ``start + t``, the
    prediction made by the whole calibrated chain of the model over ``families`` fitted without
    that site (NaN where either is missing). Derived from the reference series, so it lives in
    its own file, never in the artefact.
    """

    calibration_id: str
    families: list[str]
    sites: list[Site]
    start: np.datetime64
    residual: NDArray[np.float32]

    def __post_init__(self) -> None:
        self.start = self.start.astype("datetime64[D]")
        if self.residual.shape[0] != len(self.sites):
            raise CalibrationError(
                f"anchors: {self.residual.shape[0]} residual rows for {len(self.sites)} sites"
            )

    @property
    def end(self) -> np.datetime64:
        """Last day covered."""
        return self.start + np.timedelta64(self.residual.shape[1] - 1, "D")

    def rows(self, names: Sequence[str], dates: NDArray[np.datetime64]) -> FloatArray:
        """Residuals of the named sites on ``dates`` (NaN outside the period) [ln ratio]."""
        index = {s.name: i for i, s in enumerate(self.sites)}
        offset = (dates.astype("datetime64[D]") - self.start).astype(np.int64)
        inside = (offset >= 0) & (offset < self.residual.shape[1])
        out = np.full((len(names), len(dates)), np.nan)
        for row, name in enumerate(names):
            out[row, inside] = self.residual[index[name], offset[inside]]
        return out

    def save(self, path: Path) -> None:
        """Write as a NumPy ``.npz`` (no pickled objects)."""
        path.parent.mkdir(parents=True, exist_ok=True)
        with path.open("wb") as fh:
            np.savez_compressed(
                fh,
                schema=np.array(ANCHORS_SCHEMA),
                version=np.array(ANCHORS_VERSION),
                calibration_id=np.array(self.calibration_id),
                families=np.array(self.families),
                names=np.array([s.name for s in self.sites]),
                coords=np.array([[s.lat, s.lon, s.elevation_m] for s in self.sites]),
                start=np.array(str(self.start)),
                residual=self.residual,
            )

    @classmethod
    def load(cls, path: Path) -> Anchors:
        """Read a file written by :meth:`save`; raises :class:`CalibrationError`."""
        try:
            with np.load(path, allow_pickle=False) as data:
                if str(data["schema"]) != ANCHORS_SCHEMA:
                    raise CalibrationError(f"{path}: not an anchors file")
                if int(data["version"]) != ANCHORS_VERSION:
                    raise CalibrationError(
                        f"{path}: this Evapo reads anchors version {ANCHORS_VERSION}, "
                        f"got {int(data['version'])}"
                    )
                sites = [
                    Site(str(n), float(c[0]), float(c[1]), float(c[2]))
                    for n, c in zip(data["names"], data["coords"], strict=True)
                ]
                return cls(
                    calibration_id=str(data["calibration_id"]),
                    families=[str(f) for f in data["families"]],
                    sites=sites,
                    start=np.datetime64(str(data["start"]), "D"),
                    residual=np.asarray(data["residual"], dtype=np.float32),
                )
        except CalibrationError:
            raise
        except FileNotFoundError as exc:
            raise CalibrationError(f"anchors file not found: {path}") from exc
        except (OSError, KeyError, ValueError) as exc:
            raise CalibrationError(f"{path}: unreadable anchors file ({exc})") from exc


def attach_anchors(calibration: Calibration, anchors: Anchors) -> Calibration:
    """The calibration with ``anchors``, after checking they were made with it."""
    if anchors.calibration_id != calibration.id:
        raise CalibrationError(
            f"anchors were made with calibration {anchors.calibration_id}, "
            f"not {calibration.id}: rebuild them with `evapo calibrate --anchors`"
        )
    known = {s.name for s in calibration.sites}
    unknown = [s.name for s in anchors.sites if s.name not in known]
    if unknown:
        raise CalibrationError(f"anchors: sites not in the calibration: {unknown}")
    calibration.anchors = anchors
    return calibration


def save_calibration(calibration: Calibration, path: Path) -> None:
    """Write the artefact as JSON."""
    path.parent.mkdir(parents=True, exist_ok=True)
    path.write_text(json.dumps(calibration.to_dict(), indent=1) + "\n")


def default_calibration_path() -> Path:
    """The packaged default artefact."""
    return Path(str(resources.files("evapo") / "data" / "calibration.json"))


def load_calibration(path: Path | None = None) -> Calibration:
    """Load an artefact (``None``: the packaged default); raises :class:`CalibrationError`."""
    target = default_calibration_path() if path is None else Path(path)
    try:
        data = json.loads(target.read_text())
    except FileNotFoundError as exc:
        raise CalibrationError(f"calibration file not found: {target}") from exc
    except json.JSONDecodeError as exc:
        raise CalibrationError(f"{target}: not valid JSON ({exc})") from exc
    try:
        return Calibration.from_dict(data)
    except (KeyError, TypeError) as exc:
        raise CalibrationError(f"{target}: malformed artefact ({exc!r})") from exc


# --- Fitting -----------------------------------------------------------------------------------


@dataclass
class SiteDesign:
    """Predictors of one reference site, computed once and reused by every fit."""

    site: Site
    dates: NDArray[np.datetime64]
    common: FloatArray
    families: dict[str, fusion.FamilyInputs]
    truth: FloatArray


def site_design(ref: ReferenceSite) -> SiteDesign:
    """Run FAO-56 on every source of a reference site and build its predictors."""
    aligned, results = fusion.source_eto(
        ref.sources, ref.dates, lat=ref.site.lat, elevation_m=ref.site.elevation_m
    )
    families = fusion.build_family_inputs(aligned, results)
    ra = next(iter(results.values())).details["ra"]
    return SiteDesign(
        site=ref.site,
        dates=ref.dates,
        common=fusion.common_features(ref.dates, ra),
        families=families,
        truth=np.asarray(ref.truth, dtype=np.float64),
    )


def _rows(design: SiteDesign, families: Sequence[str]) -> tuple[FloatArray, FloatArray, Any]:
    x = fusion.model_matrix(design.common, design.families, families)
    ok = np.isfinite(x).all(axis=1) & np.isfinite(design.truth)
    return x[ok], design.truth[ok], ok


def gram(x: FloatArray) -> FloatArray:
    """``x' x`` by einsum (tall, narrow matrices: avoids multi-threaded BLAS contention)."""
    return np.asarray(np.einsum("ij,ik->jk", x, x), dtype=np.float64)


def _solve(xtx: FloatArray, xty: FloatArray) -> FloatArray:
    lam = RIDGE * float(np.mean(np.diag(xtx)))
    return np.asarray(np.linalg.solve(xtx + lam * np.eye(len(xty)), xty), dtype=np.float64)


def _month(dates: NDArray[np.datetime64]) -> NDArray[np.intp]:
    return np.asarray(dates.astype("datetime64[M]").astype(np.int64) % 12, dtype=np.intp)


def _fit_model(
    designs: Sequence[SiteDesign],
    families: Sequence[str],
    *,
    length_scale_km: float,
    prior_strength: float,
) -> tuple[LinearModel, list[FloatArray]]:
    """Pooled least squares over all sites, plus held-out-site statistics.

    Every statistic (site ratios, anomaly scale, band quantiles, RMSE) comes from predictions of
    a site by a model fitted without it; the band is measured on the whole prediction chain
    (model, local correction from the other sites, variance preservation). Also returns each
    site's held-out daily residual ln(reference / chain prediction).
    """
    normal = []
    for d in designs:
        x, y, _ = _rows(d, families)
        normal.append((gram(x), np.einsum("ij,i->j", x, y)))
    xtx = np.asarray(sum(n[0] for n in normal))
    xty = np.asarray(sum(n[1] for n in normal))
    coef = _solve(xtx, xty)

    # Held-out raw predictions and monthly ratios per site.
    held: list[FloatArray] = []
    months = [_month(d.dates) for d in designs]
    site_ratio: dict[str, list[float]] = {}
    for k, d in enumerate(designs):
        c = _solve(xtx - normal[k][0], xty - normal[k][1]) if len(designs) > 1 else coef
        x = fusion.model_matrix(d.common, d.families, families)
        pred = np.maximum(fusion.predict(x, c), 0.05)
        pred[~np.isfinite(d.truth)] = np.nan
        held.append(pred)
        m = months[k]
        ok = np.isfinite(pred)
        site_ratio[d.site.name] = [
            float(d.truth[ok & (m == j)].sum() / pred[ok & (m == j)].sum())
            if np.any(ok & (m == j))
            else 1.0
            for j in range(12)
        ]

    # Anomaly scale: std of the truth's sub-monthly departures over the prediction's.
    num = den = 0.0
    for k, d in enumerate(designs):
        pa = held[k] * np.asarray(site_ratio[d.site.name])[months[k]]
        pivot = fusion.moving_mean(pa)
        ok = np.isfinite(pa)
        num += float(((d.truth[ok] - pivot[ok]) ** 2).sum())
        den += float(((pa[ok] - pivot[ok]) ** 2).sum())
    anomaly_scale = float(np.sqrt(num / den)) if den > 0 else 1.0
    anomaly_scale = min(max(anomaly_scale, 1.0), MAX_ANOMALY_SCALE)

    # The whole chain on each held-out site: band ratios and RMSE by month.
    ratios: list[FloatArray] = []
    sq_err: list[FloatArray] = []
    truths: list[FloatArray] = []
    mm: list[NDArray[np.intp]] = []
    residuals: list[FloatArray] = []
    for k, d in enumerate(designs):
        neighbours = [
            (
                great_circle_km(d.site.lat, d.site.lon, o.site.lat, o.site.lon),
                site_ratio[o.site.name],
            )
            for j, o in enumerate(designs)
            if j != k
        ]
        adj, _ = fusion.local_ratio(
            neighbours, length_scale_km=length_scale_km, prior_strength=prior_strength
        )
        pred = fusion.inflate_anomalies(held[k] * adj[months[k]], anomaly_scale)
        ok = np.isfinite(pred) & (pred > 0)
        with np.errstate(invalid="ignore", divide="ignore"):
            residuals.append(np.where(ok & (d.truth > 0), np.log(d.truth / pred), np.nan))
        ratios.append(d.truth[ok] / pred[ok])
        sq_err.append((d.truth[ok] - pred[ok]) ** 2)
        truths.append(d.truth[ok])
        mm.append(months[k][ok])
    r = np.concatenate(ratios)
    se = np.concatenate(sq_err)
    yy = np.concatenate(truths)
    month = np.concatenate(mm)
    q05, q95, rel = [], [], []
    for j in range(12):
        sel = month == j
        if not sel.any():
            q05.append(float(np.exp(-fusion.Z90 * fusion.PRIOR_REL_SD)))
            q95.append(float(np.exp(fusion.Z90 * fusion.PRIOR_REL_SD)))
            rel.append(fusion.PRIOR_REL_SD)
            continue
        q05.append(float(np.quantile(r[sel], 0.05)))
        q95.append(float(np.quantile(r[sel], 0.95)))
        rel.append(float(np.sqrt(se[sel].mean()) / yy[sel].mean()))
    model = LinearModel(
        families=list(families),
        coef=[float(v) for v in coef],
        ratio_q05=q05,
        ratio_q95=q95,
        rel_rmse=rel,
        site_ratio=site_ratio,
        anomaly_scale=anomaly_scale,
        n_days=len(yy),
    )
    return model, residuals


def _anchors(
    designs: Sequence[SiteDesign], residuals: Sequence[FloatArray], families: Sequence[str]
) -> Anchors:
    """The sites' residual series on one daily axis (id left empty for the caller to set)."""
    start = min(d.dates[0] for d in designs).astype("datetime64[D]")
    end = max(d.dates[-1] for d in designs).astype("datetime64[D]")
    matrix = np.full((len(designs), int((end - start).astype(np.int64)) + 1), np.nan, np.float32)
    for row, (d, r) in enumerate(zip(designs, residuals, strict=True)):
        matrix[row, (d.dates.astype("datetime64[D]") - start).astype(np.int64)] = r
    return Anchors("", list(families), [d.site for d in designs], start, matrix)


def fit_anchoring(
    anchors: Anchors, *, max_km: float = DEFAULT_RADIUS_KM, min_days: int = 365
) -> Anchoring:
    """The error correlation model, by least squares on the correlations of pairs of sites.

    For each range on a log grid (25-2000 km) the best sill has a closed form; the pair
    (sill <= 0.95, range) with the least squared misfit wins. Only pairs at most ``max_km``
    apart (the domain radius, beyond which sites never anchor a point) sharing at least
    ``min_days`` days count; with fewer than :data:`MIN_ANCHOR_PAIRS` pairs the sill is
    0 (no anchoring): with few sites, each held-out model is fitted on the very sites it is
    compared with, which makes their errors anti-correlated whatever the distance.
    """
    dist, corr = [], []
    pair_km = distance_matrix_km(anchors.sites)
    for i, j in combinations(range(len(anchors.sites)), 2):
        km = float(pair_km[i, j])
        a, b = anchors.residual[i], anchors.residual[j]
        ok = np.isfinite(a) & np.isfinite(b)
        if km > max_km or ok.sum() < min_days or a[ok].std() == 0 or b[ok].std() == 0:
            continue
        dist.append(km)
        corr.append(float(np.corrcoef(a[ok], b[ok])[0, 1]))
    if len(dist) < MIN_ANCHOR_PAIRS:
        return Anchoring(pairs=len(dist))
    d, c = np.array(dist), np.array(corr)
    best = (math.inf, Anchoring())
    for range_km in np.geomspace(25.0, 2000.0, 60):
        shape = np.exp(-d / range_km)
        sill = float(np.clip((shape @ c) / (shape @ shape), 0.0, MAX_SILL))
        misfit = float(((c - sill * shape) ** 2).sum())
        if misfit < best[0]:
            best = (misfit, Anchoring(sill=sill, range_km=float(range_km), pairs=len(d)))
    return best[1]


def fit_from_designs(
    designs: Sequence[SiteDesign],
    *,
    radius_km: float = DEFAULT_RADIUS_KM,
    length_scale_km: float = DEFAULT_LENGTH_SCALE_KM,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    anchored: bool = True,
) -> Calibration:
    """Learn a calibration from prepared site designs (one model per subset of families).

    With ``anchored``, the calibration carries its :class:`Anchors` (not saved in the artefact).
    """
    if not designs:
        raise CalibrationError("reference: no site to learn from")
    present = sorted(set.intersection(*(set(d.families) for d in designs)))
    if not present:
        raise CalibrationError(
            "reference: no source family is present at every site "
            f"(known families: {sorted(fusion.FAMILY_SOURCES)})"
        )
    fitted = [
        _fit_model(designs, subset, length_scale_km=length_scale_km, prior_strength=prior_strength)
        for size in range(len(present), 0, -1)
        for subset in combinations(present, size)
    ]
    models = [model for model, _ in fitted]
    anchors = _anchors(designs, fitted[0][1], models[0].families)
    prior_ratio: dict[str, float] = {}
    prior_band: dict[str, tuple[float, float]] = {}
    for family in present:
        pairs = []
        for d in designs:
            eto = d.families[family].features[:, 0]
            ok = np.isfinite(eto) & np.isfinite(d.truth) & (eto > 0.05)
            pairs.append((d.truth[ok], eto[ok]))
        truth = np.concatenate([p[0] for p in pairs])
        eto = np.concatenate([p[1] for p in pairs])
        ratio = float(truth.sum() / eto.sum())
        q05, q95 = np.quantile(truth / (ratio * eto), [0.05, 0.95])
        prior_ratio[family] = ratio
        prior_band[family] = (float(q05), float(q95))
    lats = [d.site.lat for d in designs]
    lons = [d.site.lon for d in designs]
    start = min(str(d.dates[0]) for d in designs)
    end = max(str(d.dates[-1]) for d in designs)
    cal = Calibration(
        sites=[d.site for d in designs],
        models=models,
        prior_ratio=prior_ratio,
        prior_band=prior_band,
        domain=Domain(
            radius_km=radius_km,
            length_scale_km=length_scale_km,
            prior_strength=prior_strength,
            bbox=(min(lats), min(lons), max(lats), max(lons)),
        ),
        period=(start, end),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
        # The richest model's errors: the one used wherever the reference period has all sources.
        anchoring=fit_anchoring(anchors, max_km=radius_km),
    )
    if anchored:
        anchors.calibration_id = cal.id
        cal.anchors = anchors
    get_logger(__name__).info(
        "calibration_fitted", sites=len(designs), models=len(models), id=cal.id, anchored=anchored
    )
    return cal


def fit_calibration(
    sites: Sequence[ReferenceSite],
    *,
    radius_km: float = DEFAULT_RADIUS_KM,
    length_scale_km: float = DEFAULT_LENGTH_SCALE_KM,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
    anchored: bool = True,
) -> Calibration:
    """Learn a calibration (with its anchors when ``anchored``) from reference sites."""
    return fit_from_designs(
        [site_design(s) for s in sites],
        radius_km=radius_km,
        length_scale_km=length_scale_km,
        prior_strength=prior_strength,
        anchored=anchored,
    )
