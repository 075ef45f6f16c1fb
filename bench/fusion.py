"""Fusion benchmark: fuse 30 years of two sources at one point, against plain per-source FAO-56.

Reads one city of ``../shared/data/brazil-eto-validation`` (NASA POWER and Open-Meteo archive,
1991-2020, 10,958 days each) and times, in the same process:

* baseline: plain FAO-56 ET0 of each source (:func:`evapo.science.daily.eto_daily`), the work
  any fusion must do anyway;
* evapo: :func:`evapo.science.fusion.fuse_point` with the packaged calibration (alignment,
  FAO-56 per source, calibrated model, local correction, band, fused weather, flags).

Prints the median of ``--runs`` runs of each and their ratio. Target: fusion < 100 ms.
The last line reads ``fusion: <T> ms (target < 100 ms), baseline per-source FAO-56 <B> ms,
ratio <R>``. Run: ``.venv/bin/python -m bench.fusion [--runs 15] [--city Balsas_MA]``.
"""

from __future__ import annotations

import argparse
import statistics
import time
from collections.abc import Callable
from pathlib import Path

from evapo.calibration import load_calibration
from evapo.logging import configure_logging
from evapo.science.daily import eto_daily
from evapo.science.fusion import fuse_point
from evapo.validation import read_sites, read_sources

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
TARGET_MS = 100.0


def median_ms(fn: Callable[[], object], runs: int) -> float:
    """Median wall time of ``fn`` over ``runs`` calls after one warm-up [ms]."""
    fn()
    times = []
    for _ in range(runs):
        t0 = time.perf_counter()
        fn()
        times.append((time.perf_counter() - t0) * 1000.0)
    return statistics.median(times)


def main() -> None:
    """Run the benchmark and print the result lines."""
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--runs", type=int, default=15)
    parser.add_argument("--city", default="Balsas_MA")
    args = parser.parse_args()
    configure_logging("WARNING", json=False)

    site = next(s for s in read_sites(DATA) if s.name == args.city)
    sources = read_sources(DATA, site)
    calibration = load_calibration()
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

    base_ms = median_ms(baseline, args.runs)
    fuse_ms = median_ms(fused, args.runs)
    print(f"point: {site.name}, {len(sources)} sources x {n_days} days, {args.runs} runs")
    print(f"baseline (per-source FAO-56 only): {base_ms:.1f} ms")
    print(f"evapo fuse_point (calibrated):     {fuse_ms:.1f} ms")
    verdict = "OK" if fuse_ms < TARGET_MS else "SLOW"
    print(
        f"fusion: {fuse_ms:.1f} ms (target < {TARGET_MS:.0f} ms, {verdict}), "
        f"baseline per-source FAO-56 {base_ms:.1f} ms, ratio {fuse_ms / base_ms:.2f}"
    )


if __name__ == "__main__":
    main()
