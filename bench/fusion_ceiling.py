"""Fusion accuracy ceiling: the packaged chain out of sample against per-city oracle bounds.

Reads ``../shared/data/brazil-eto-validation`` (12 cities, 1991-2020) and prints, as the mean of
per-city scores (KGE, MAE, R2, mean |PBIAS|, and the KGE terms 1-r, |alpha-1|, |beta-1|):

* ``evapo loo`` / ``evapo lro``: the fusion with a calibration learned without the city
  (leave-one-out) or without its whole region (leave-region-out: south lat < -9.5 deg, west
  lon < -47 deg, the rest);
* ``huber loo``: the same chain with the pooled models fitted by Huber IRLS (c = 1.345 robust SD)
  instead of least squares;
* two *oracle* bounds that use each city's own reference (leakage on purpose, never a product):
  the leave-one-out prediction rescaled to the city's true mean and SD, and multiplied by the
  city's true monthly ratios. They bound what any per-city bias/variance correction can reach
  with the day-to-day skill (r) the sources give.

Run: ``.venv/bin/python -m bench.fusion_ceiling`` (about a minute on 2 cores).
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path

import numpy as np

from evapo import calibration as cal_mod
from evapo.calibration import SiteDesign, fit_from_designs, site_design
from evapo.logging import configure_logging
from evapo.schema import FloatArray
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


def main() -> None:
    """Run every variant and print one line each."""
    configure_logging("WARNING", json=False)
    refs = read_reference(DATA)
    designs = [site_design(r) for r in refs]
    n = len(refs)
    south = [k for k, r in enumerate(refs) if r.site.lat < -9.5]
    west = [k for k, r in enumerate(refs) if r.site.lon < -47.0 and k not in south]
    rest = [k for k in range(n) if k not in south + west]

    def predict(groups: Sequence[Sequence[int]], robust: bool = False) -> dict[int, FloatArray]:
        out = {}
        for group in groups:
            train = [d for j, d in enumerate(designs) if j not in group]
            if robust:
                cal_mod._rows = huber_rows(huber_weights(train))  # type: ignore[assignment]
            calibration = fit_from_designs(train)
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


if __name__ == "__main__":
    main()
