"""Is the grass calibration fit for ASCE short ETo? Leave-one-city-out on the 12 shared cities.

For each city, a calibration is learned on the 11 others (as ``evapo validate --cv
leave-one-out`` does), then the city's fused series is computed with FAO-56 (the method the
calibration was fitted on) and with the ASCE-EWRI short reference (full and simple Rso), and
scored against the Xavier reference ETo. Also prints the uncalibrated mean of the sources' ET
for each method, and the fused ASCE tall series (never calibrated) as context. The baseline
is the FAO-56 fused series of the same run. The last line reads
``method_calibration: asce-short-full PBIAS <P> % KGE <K> vs fao56 PBIAS <P0> % KGE <K0>``.

Run: ``.venv/bin/python -m bench.method_calibration``.
"""

from __future__ import annotations

import time
from pathlib import Path

import numpy as np

from evapo.calibration import fit_from_designs, site_design
from evapo.logging import configure_logging
from evapo.science.asce import MethodChoice
from evapo.science.fusion import fuse_point
from evapo.science.metrics import mean_scores, score
from evapo.validation import read_reference

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
CHOICES = {
    "fao56": MethodChoice(),
    "asce-short-full": MethodChoice(method="asce", reference="short"),
    "asce-short-simple": MethodChoice(method="asce", reference="short", rso="simple"),
    "asce-tall-full": MethodChoice(method="asce", reference="tall"),
}


def main() -> None:
    """Run the leave-one-out comparison and print mean scores per method."""
    configure_logging("WARNING", json=False)
    t0 = time.perf_counter()
    refs = read_reference(DATA)
    designs = [site_design(r) for r in refs]
    fused: dict[str, dict[str, dict[str, float]]] = {}
    plain: dict[str, dict[str, dict[str, float]]] = {}
    for k, ref in enumerate(refs):
        calibration = fit_from_designs([d for j, d in enumerate(designs) if j != k])
        site = ref.site
        for label, choice in CHOICES.items():
            f = fuse_point(
                ref.sources,
                lat=site.lat,
                lon=site.lon,
                elevation_m=site.elevation_m,
                calibration=calibration,
                choice=choice,
            )
            fused.setdefault(label, {})[site.name] = score(f.eto, ref.truth, f.eto_lo, f.eto_hi)
            mean = np.nanmean(np.array(list(f.per_source_eto.values())), axis=0)
            plain.setdefault(label, {})[site.name] = score(mean, ref.truth)
    print(f"{len(refs)} cities, leave-one-out, {time.perf_counter() - t0:.0f} s")
    print(
        f"{'method':<20} {'fused PBIAS %':>14} {'KGE':>6} {'RMSE':>6} {'cover':>6}   "
        f"{'sources PBIAS %':>16} {'KGE':>6}"
    )
    means = {}
    for label in CHOICES:
        m, p = mean_scores(fused[label]), mean_scores(plain[label])
        means[label] = m
        print(
            f"{label:<20} {m['PBIAS']:>14.2f} {m['KGE']:>6.3f} {m['RMSE']:>6.3f} "
            f"{m['coverage']:>6.3f}   {p['PBIAS']:>16.2f} {p['KGE']:>6.3f}"
        )
    a, b = means["asce-short-full"], means["fao56"]
    print(
        f"method_calibration: asce-short-full PBIAS {a['PBIAS']:.2f} % KGE {a['KGE']:.3f} "
        f"vs fao56 PBIAS {b['PBIAS']:.2f} % KGE {b['KGE']:.3f}"
    )


if __name__ == "__main__":
    main()
