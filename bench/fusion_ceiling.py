"""Fusion accuracy ceiling: the packaged chain out of sample against per-city oracle bounds.

Reads ``../shared/data/brazil-eto-validation`` (12 cities, 1991-2020) and prints, as the mean of
per-city scores (KGE, MAE, R2, mean |PBIAS|, and the KGE terms 1-r, |alpha-1|, |beta-1|):

* ``evapo anchored loo`` / ``evapo anchored lro``: the fusion with a calibration learned
  without the city (leave-one-out) or without its whole region (leave-region-out: south
  lat < -9.5 deg, west lon < -47 deg, the rest), anchored on the training sites' same-day
  reference;
* ``evapo loo`` / ``evapo lro``: the same with the artefact alone (no anchoring);
* ``huber loo``: the artefact-alone chain with the pooled models fitted by Huber IRLS
  (c = 1.345 robust SD) instead of least squares;
* ``raw ...``: the pooled two-source linear stack alone (no local correction, no anomaly scale),
  leave-one-out and leave-region-out, with candidate predictors appended: each source's
  precipitation, Open-Meteo's own ET0 (the ``open_meteo_eto`` folder), site elevation, a
  latitude/longitude trend;
* two *oracle* bounds that use each city's own reference (leakage on purpose, never a product):
  the leave-one-out prediction rescaled to the city's true mean and SD, and multiplied by the
  city's true monthly ratios. They bound what any per-city bias/variance correction can reach
  with the day-to-day skill (r) the sources give.

Run: ``.venv/bin/python -m bench.fusion_ceiling`` (a minute or two on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from evapo import calibration as cal_mod
from evapo.calibration import ReferenceSite, SiteDesign, fit_from_designs, site_design
from evapo.logging import configure_logging
from evapo.schema import FloatArray
from evapo.science import fusion
from evapo.science.fusion import fuse_point
from evapo.science.metrics import kge, mae, pbias, pearson_r
from evapo.validation import read_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
HUBER_C = 1.345
"""Huber threshold in robust residual SDs [-]."""
PLAIN_ROWS = cal_mod._rows
"""The fitter's own row builder (unweighted), kept before any replacement."""


def terms(sim: FloatArray, obs: FloatArray) -> list[float]:
    """KGE, MAE, R2, |PBIAS|, 1-r, |alpha-1|, |beta-1| of one city."""
    ok = np.isfinite(sim) & np.isfinite(obs)
    s, o = sim[ok], obs[ok]
    r = pearson_r(s, o)
    return [
        kge(s, o),
        mae(s, o),
        r * r,
        abs(pbias(s, o)),
        1.0 - r,
        abs(float(s.std() / o.std()) - 1.0),
        abs(float(s.mean() / o.mean()) - 1.0),
    ]


def line(label: str, rows: Sequence[list[float]]) -> str:
    """One printed row: mean of per-city scores."""
    m = np.mean(np.array(rows), axis=0)
    return (
        f"{label:34s} KGE {m[0]:.3f}  MAE {m[1]:.3f}  R2 {m[2]:.3f}  |PBIAS| {m[3]:.2f}  "
        f"1-r {m[4]:.3f}  |a-1| {m[5]:.3f}  |b-1| {m[6]:.3f}"
    )


def huber_rows(
    weights: dict[tuple[int, tuple[str, ...]], FloatArray],
) -> Callable[[SiteDesign, Sequence[str]], tuple[FloatArray, FloatArray, object]]:
    """A replacement for the fitter's row builder scaling each row by sqrt(Huber weight)."""

    def rows(design: SiteDesign, families: Sequence[str]) -> tuple[FloatArray, FloatArray, object]:
        x, y, ok = PLAIN_ROWS(design, families)
        w = weights.get((id(design), tuple(families)))
        if w is None:
            return x, y, ok
        s = np.sqrt(w)
        return x * s[:, None], y * s, ok

    return rows


def huber_weights(
    train: Sequence[SiteDesign], iterations: int = 5
) -> dict[tuple[int, tuple[str, ...]], FloatArray]:
    """IRLS Huber weights per training site and family subset."""
    out: dict[tuple[int, tuple[str, ...]], FloatArray] = {}
    for fams in (("nasa_power", "openmeteo"), ("nasa_power",), ("openmeteo",)):
        data = [PLAIN_ROWS(d, fams)[:2] for d in train]
        ws = [np.ones(len(y)) for _, y in data]
        for _ in range(iterations):
            xtx = sum(
                cal_mod.gram(x * np.sqrt(w)[:, None]) for (x, _), w in zip(data, ws, strict=True)
            )
            xty = sum(
                np.einsum("ij,i->j", x * w[:, None], y) for (x, y), w in zip(data, ws, strict=True)
            )
            coef = cal_mod._solve(np.asarray(xtx), np.asarray(xty))
            res = [y - x @ coef for x, y in data]
            allr = np.concatenate(res)
            sig = 1.4826 * float(np.median(np.abs(allr - np.median(allr))))
            ws = [np.minimum(1.0, HUBER_C * sig / np.maximum(np.abs(r), 1e-9)) for r in res]
        for d, w in zip(train, ws, strict=True):
            out[(id(d), fams)] = w
    return out


Extra = Callable[[ReferenceSite, SiteDesign], list[FloatArray]]
"""Candidate predictor columns of one site, on its design's dates."""


def _shifted(x: FloatArray, days: int) -> FloatArray:
    """``x`` delayed by ``days`` (NaN where the shift leaves no value)."""
    out = np.full_like(x, np.nan)
    if days > 0:
        out[days:] = x[:-days]
    else:
        out[:days] = x[-days:]
    return out


def _precipitation(ref: ReferenceSite, design: SiteDesign) -> list[FloatArray]:
    """log(1 + P) and the rain-day indicator (P > 1 mm) of each source."""
    cols = []
    for series in ref.sources.values():
        p = np.full(len(design.dates), np.nan)
        p[np.searchsorted(design.dates, series.dates)] = series["precip_mm"]
        cols += [np.log1p(np.maximum(p, 0.0)), np.where(np.isfinite(p), p > 1.0, np.nan)]
    return cols


def _provider_eto(ref: ReferenceSite, design: SiteDesign) -> list[FloatArray]:
    """Open-Meteo's own ET0 with the previous and next day's."""
    e = ref.extra["openmeteo_eto"]
    return [e, _shifted(e, 1), _shifted(e, -1)]


def _elevation(ref: ReferenceSite, design: SiteDesign) -> list[FloatArray]:
    """Site elevation [km], alone and times NASA POWER's FAO-56 ET0."""
    z = ref.site.elevation_m / 1000.0
    return [np.full(len(design.dates), z), z * design.families["nasa_power"].features[:, 0]]


def _lat_lon(ref: ReferenceSite, design: SiteDesign) -> list[FloatArray]:
    """A linear latitude/longitude trend [10 deg], and latitude times NASA POWER's ET0."""
    lat, lon = ref.site.lat / 10.0, ref.site.lon / 10.0
    n = len(design.dates)
    return [np.full(n, lat), np.full(n, lon), lat * design.families["nasa_power"].features[:, 0]]


RAW_VARIANTS: dict[str, Sequence[Extra]] = {
    "raw stack": (),
    "raw + precipitation": (_precipitation,),
    "raw + Open-Meteo own ET0": (_provider_eto,),
    "raw + both": (_precipitation, _provider_eto),
    "raw + elevation": (_elevation,),
    "raw + lat/lon trend": (_lat_lon,),
}


def raw_stack(
    refs: Sequence[ReferenceSite],
    designs: Sequence[SiteDesign],
    extras: Sequence[Extra],
    groups: Sequence[Sequence[int]],
) -> list[list[float]]:
    """Per-city terms of the pooled two-source least squares plus ``extras``, each group of
    cities predicted by a fit on the others."""
    xs, ys = [], []
    for ref, design in zip(refs, designs, strict=True):
        x = fusion.model_matrix(design.common, design.families, ("nasa_power", "openmeteo"))
        cols = [c for extra in extras for c in extra(ref, design)]
        xs.append(np.column_stack([x, *cols]) if cols else x)
        ys.append(design.truth)
    rows: dict[int, list[float]] = {}
    for group in groups:
        x = np.vstack([a for j, a in enumerate(xs) if j not in group])
        y = np.concatenate([a for j, a in enumerate(ys) if j not in group])
        ok = np.isfinite(x).all(axis=1) & np.isfinite(y)
        coef = cal_mod._solve(cal_mod.gram(x[ok]), x[ok].T @ y[ok])
        for k in group:
            rows[k] = terms(xs[k] @ coef, ys[k])
    return [rows[k] for k in range(len(refs))]


def main() -> None:
    """Run every variant and print one line each."""
    configure_logging("WARNING", json=False)
    refs = read_reference(DATA)
    designs = [site_design(r) for r in refs]
    n = len(refs)
    south = [k for k, r in enumerate(refs) if r.site.lat < -9.5]
    west = [k for k, r in enumerate(refs) if r.site.lon < -47.0 and k not in south]
    rest = [k for k in range(n) if k not in south + west]

    def predict(
        groups: Sequence[Sequence[int]], robust: bool = False, anchored: bool = False
    ) -> dict[int, FloatArray]:
        out = {}
        for group in groups:
            train = [d for j, d in enumerate(designs) if j not in group]
            if robust:
                cal_mod._rows = huber_rows(huber_weights(train))  # type: ignore[assignment]
            calibration = fit_from_designs(train, anchored=anchored)
            for k in group:
                site = refs[k].site
                out[k] = fuse_point(
                    refs[k].sources,
                    lat=site.lat,
                    lon=site.lon,
                    elevation_m=site.elevation_m,
                    calibration=calibration,
                ).eto
        return out

    for folds, groups in (("loo", [[k] for k in range(n)]), ("lro", [south, west, rest])):
        anchored = predict(groups, anchored=True)
        rows = [terms(anchored[k], refs[k].truth) for k in range(n)]
        print(line(f"evapo anchored {folds}", rows), flush=True)
    loo = predict([[k] for k in range(n)])
    print(line("evapo loo", [terms(loo[k], refs[k].truth) for k in range(n)]), flush=True)
    lro = predict([south, west, rest])
    print(line("evapo lro", [terms(lro[k], refs[k].truth) for k in range(n)]), flush=True)
    hub = predict([[k] for k in range(n)], robust=True)
    cal_mod._rows = PLAIN_ROWS
    print(line("huber loo", [terms(hub[k], refs[k].truth) for k in range(n)]), flush=True)

    mean_sd, monthly = [], []
    for k in range(n):
        p, t = loo[k], refs[k].truth
        ok = np.isfinite(p) & np.isfinite(t)
        rescaled = (p - p[ok].mean()) * (t[ok].std() / p[ok].std()) + t[ok].mean()
        mean_sd.append(terms(rescaled, t))
        month = designs[k].dates.astype("datetime64[M]").astype(np.int64) % 12
        ratio = np.array(
            [t[ok & (month == j)].sum() / p[ok & (month == j)].sum() for j in range(12)]
        )
        monthly.append(terms(p * ratio[month], t))
    print(line("oracle: own mean and SD", mean_sd))
    print(line("oracle: own monthly ratios", monthly))
    for folds, groups in (("loo", [[k] for k in range(n)]), ("lro", [south, west, rest])):
        for label, extras in RAW_VARIANTS.items():
            rows = raw_stack(refs, designs, extras, groups)
            print(line(f"{label} {folds}", rows), flush=True)


if __name__ == "__main__":
    main()
