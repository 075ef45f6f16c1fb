"""Calibration artefact: learned fusion parameters, their reference sites, period and domain.

The artefact is a small versioned JSON file (:data:`SCHEMA_VERSION`), built by
``evapo calibrate`` from a reference folder and loaded by the service at start. It holds learned
parameters only, never the reference data. :func:`fit_calibration` learns it from
:class:`ReferenceSite` objects (see :mod:`evapo.validation` for reading a folder).
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
from evapo.science.stations import Site, StationFinder

log = get_logger(__name__)

SCHEMA: Final = "evapo.calibration"
SCHEMA_VERSION: Final = 1
METHOD: Final = "pooled-linear-stack/v1"
DEFAULT_RADIUS_KM: Final = 800.0
"""Distance to the nearest reference site beyond which the calibration does not apply [km]."""
DEFAULT_LENGTH_SCALE_KM: Final = 200.0
"""Length scale of the Gaussian weight of a reference site's local correction [km]."""
DEFAULT_PRIOR_STRENGTH: Final = 0.5
"""Weight of "no local correction" (ratio 1) against the sites' weights [-]."""
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
    feature_names: dict[str, list[str]] = field(
        default_factory=lambda: {
            "common": list(fusion.COMMON_FEATURES),
            "family": list(fusion.FAMILY_FEATURES),
        }
    )

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
        dom = dict(data["domain"])
        dom["bbox"] = tuple(dom.get("bbox", Domain().bbox))
        return cls(
            sites=[Site(**s) for s in data["sites"]],
            models=models,
            domain=Domain(**dom),
            period=(data["period"]["start"], data["period"]["end"]),
            created=str(data.get("created", "")),
            method=str(data.get("method", METHOD)),
            version=int(data["version"]),
        )


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


def _solve(xtx: FloatArray, xty: FloatArray) -> FloatArray:
    lam = RIDGE * float(np.mean(np.diag(xtx)))
    return np.asarray(np.linalg.solve(xtx + lam * np.eye(len(xty)), xty), dtype=np.float64)


def _month(dates: NDArray[np.datetime64]) -> NDArray[np.intp]:
    return np.asarray(dates.astype("datetime64[M]").astype(np.int64) % 12, dtype=np.intp)


def _fit_model(designs: Sequence[SiteDesign], families: Sequence[str]) -> LinearModel:
    """Pooled least squares over all sites, plus held-out-site residual statistics."""
    normal = []
    for d in designs:
        x, y, _ = _rows(d, families)
        normal.append((x.T @ x, x.T @ y, len(y)))
    xtx = sum(n[0] for n in normal)
    xty = sum(n[1] for n in normal)
    coef = _solve(np.asarray(xtx), np.asarray(xty))

    # Leave-one-site-out predictions: every residual statistic is out of sample.
    ratios: list[FloatArray] = []
    months: list[NDArray[np.intp]] = []
    sq_err: list[FloatArray] = []
    truths: list[FloatArray] = []
    site_ratio: dict[str, list[float]] = {}
    for k, d in enumerate(designs):
        if len(designs) > 1:
            c = _solve(np.asarray(xtx - normal[k][0]), np.asarray(xty - normal[k][1]))
        else:
            c = coef
        x, y, ok = _rows(d, families)
        pred = np.maximum(x @ c, 0.05)
        m = _month(d.dates)[ok]
        ratios.append(y / pred)
        months.append(m)
        sq_err.append((y - pred) ** 2)
        truths.append(y)
        site_ratio[d.site.name] = [
            float(y[m == j].sum() / pred[m == j].sum()) if np.any(m == j) else 1.0
            for j in range(12)
        ]
    r = np.concatenate(ratios)
    mm = np.concatenate(months)
    se = np.concatenate(sq_err)
    yy = np.concatenate(truths)
    q05, q95, rel = [], [], []
    for j in range(12):
        sel = mm == j
        if not sel.any():
            q05.append(0.7)
            q95.append(1.3)
            rel.append(0.2)
            continue
        q05.append(float(np.quantile(r[sel], 0.05)))
        q95.append(float(np.quantile(r[sel], 0.95)))
        rel.append(float(np.sqrt(se[sel].mean()) / yy[sel].mean()))
    return LinearModel(
        families=list(families),
        coef=[float(v) for v in coef],
        ratio_q05=q05,
        ratio_q95=q95,
        rel_rmse=rel,
        site_ratio=site_ratio,
        n_days=len(yy),
    )


def fit_from_designs(
    designs: Sequence[SiteDesign],
    *,
    radius_km: float = DEFAULT_RADIUS_KM,
    length_scale_km: float = DEFAULT_LENGTH_SCALE_KM,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> Calibration:
    """Learn a calibration from prepared site designs (one model per subset of families)."""
    if not designs:
        raise CalibrationError("reference: no site to learn from")
    present = sorted(set.intersection(*(set(d.families) for d in designs)))
    if not present:
        raise CalibrationError(
            "reference: no source family is present at every site "
            f"(known families: {sorted(fusion.FAMILY_SOURCES)})"
        )
    models = [
        _fit_model(designs, subset)
        for size in range(len(present), 0, -1)
        for subset in combinations(present, size)
    ]
    lats = [d.site.lat for d in designs]
    lons = [d.site.lon for d in designs]
    start = min(str(d.dates[0]) for d in designs)
    end = max(str(d.dates[-1]) for d in designs)
    cal = Calibration(
        sites=[d.site for d in designs],
        models=models,
        domain=Domain(
            radius_km=radius_km,
            length_scale_km=length_scale_km,
            prior_strength=prior_strength,
            bbox=(min(lats), min(lons), max(lats), max(lons)),
        ),
        period=(start, end),
        created=datetime.now(UTC).isoformat(timespec="seconds"),
    )
    log.info("calibration_fitted", sites=len(designs), models=len(models), id=cal.id)
    return cal


def fit_calibration(
    sites: Sequence[ReferenceSite],
    *,
    radius_km: float = DEFAULT_RADIUS_KM,
    length_scale_km: float = DEFAULT_LENGTH_SCALE_KM,
    prior_strength: float = DEFAULT_PRIOR_STRENGTH,
) -> Calibration:
    """Learn a calibration from reference sites."""
    return fit_from_designs(
        [site_design(s) for s in sites],
        radius_km=radius_km,
        length_scale_km=length_scale_km,
        prior_strength=prior_strength,
    )
