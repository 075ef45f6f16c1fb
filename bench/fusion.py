"""Fusion benchmark: fuse 30 years of two sources at one point, against plain per-source FAO-56.

Reads one city of ``../shared/data/brazil-eto-validation`` (NASA POWER and Open-Meteo archive,
1991-2020, 10,958 days each) and times, in the same process:

* baseline: plain FAO-56 ET0 of each source (:func:`evapo.science.daily.eto_daily`), the work
  any fusion must do anyway;
* evapo: :func:`evapo.science.fusion.fuse_point` with the packaged calibration and the anchors
  of the shared reference (alignment, FAO-56 per source, calibrated model, local correction,
  same-day anchoring on the 12 sites, band, fused weather, flags); and, for comparison, with
  the artefact alone.

Prints the median wall and CPU time of ``--runs`` runs of each and their ratio. Target: fusion
< 100 ms wall on an idle machine (on a loaded one, CPU time shows the code's own cost). The last
line reads ``fusion: <T> ms wall, <C> ms cpu (target < 100 ms wall, OK|SLOW), baseline
per-source FAO-56 <B> ms, ratio <R>``.
Run: ``.venv/bin/python -m bench.fusion [--runs 15] [--city Balsas_MA]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from dataclasses import replace
from pathlib import Path

from evapo.calibration import attach_anchors, fit_calibration, load_calibration
from evapo.logging import configure_logging
from evapo.science.daily import eto_daily
from evapo.science.fusion import fuse_point
from evapo.validation import read_reference, read_sites, read_sources

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
TARGET_MS = 100.0


def timings_ms(fn: Callable[[], object], runs: int) -> tuple[float, float]:
    """Median wall time and median CPU time of ``fn`` over ``runs`` calls after a warm-up [ms].

    CPU time (this process only) is what the code costs; wall time also counts waiting for a
    core, which dominates on a loaded machine.
    """
    fn()
    wall, cpu = [], []
    for _ in range(runs):
        w0, c0 = time.perf_counter(), time.process_time()
        fn()
        wall.append((time.perf_counter() - w0) * 1000.0)
        cpu.append((time.process_time() - c0) * 1000.0)
    return statistics.median(wall), statistics.median(cpu)


def main() -> None:
    """Run the benchmark and print the result lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--city", default="Balsas_MA")
    args = parser.parse_args()
    configure_logging("WARNING", json=False)

    site = next(s for s in read_sites(DATA) if s.name == args.city)
    sources = read_sources(DATA, site)
    # The anchors of the shared reference, checked against the packaged artefact they belong to.
    anchors = fit_calibration(read_reference(DATA)).anchors
    assert anchors is not None
    calibration = attach_anchors(load_calibration(), anchors)
    alone = replace(calibration, anchors=None)
    n_days = max(len(s) for s in sources.values())

    def baseline() -> None:
        for series in sources.values():
            eto_daily(series, lat_deg=site.lat, elevation_m=site.elevation_m)

    def fused() -> None:
        fuse_point(
            sources,
            lat=site.lat,
            lon=site.lon,
            elevation_m=site.elevation_m,
            calibration=calibration,
        )

    def fused_alone() -> None:
        fuse_point(
            sources, lat=site.lat, lon=site.lon, elevation_m=site.elevation_m, calibration=alone
        )

    base_wall, base_cpu = timings_ms(baseline, args.runs)
    fuse_wall, fuse_cpu = timings_ms(fused, args.runs)
    alone_wall, alone_cpu = timings_ms(fused_alone, args.runs)
    print(f"point: {site.name}, {len(sources)} sources x {n_days} days, {args.runs} runs (median)")
    print(f"baseline (per-source FAO-56 only): wall {base_wall:.1f} ms, cpu {base_cpu:.1f} ms")
    print(f"evapo fuse_point (artefact alone): wall {alone_wall:.1f} ms, cpu {alone_cpu:.1f} ms")
    print(f"evapo fuse_point (with anchors):   wall {fuse_wall:.1f} ms, cpu {fuse_cpu:.1f} ms")
    verdict = "OK" if fuse_wall < TARGET_MS else "SLOW"
    print(
        f"fusion: {fuse_wall:.1f} ms wall, {fuse_cpu:.1f} ms cpu "
        f"(target < {TARGET_MS:.0f} ms wall, {verdict}), baseline per-source FAO-56 "
        f"{base_wall:.1f} ms, "
        f"ratio {fuse_wall / base_wall:.2f}"
    )


if __name__ == "__main__":
    main()
