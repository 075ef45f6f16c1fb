"""ASCE benchmark: Evapo's ASCE-EWRI daily ETsz against refet on the real 12-city series.

Reads the NASA POWER daily series of ``../shared/data/brazil-eto-validation`` (12 cities x 30
years), repeats it ``--repeat`` times along time, and computes short and tall ETsz with full
Rso through :func:`evapo.science.asce.eto_asce_daily` and through refet (``Daily``, method
``asce``) in the same process. Prints rows/s of each, their ratio and the largest difference.
The last line reads ``asce: evapo <N> rows/s, refet <M> rows/s, ratio <R>, max diff <D> mm/day``.

Run: ``.venv/bin/python -m bench.asce [--repeat 4]``.
"""

from __future__ import annotations

import argparse
import time
from pathlib import Path

import numpy as np
import pandas as pd

from evapo.schema import DailySeries
from evapo.science import asce, fao56
from evapo.science.daily import STRICT, day_of_year

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
TOLERANCE_MM = 1e-6


def load(repeat: int) -> list[tuple[DailySeries, float, float]]:
    """Each city's series, tiled ``repeat`` times (dates continue day by day)."""
    sites = pd.read_csv(DATA / "cities.csv")
    out = []
    for city, lat, alt in zip(sites["city"], sites["lat"], sites["alt"], strict=True):
        df = pd.read_csv(DATA / "nasa_power" / f"{city}.csv")
        n = len(df) * repeat
        dates = np.datetime64("1991-01-01") + np.arange(n).astype("timedelta64[D]")
        values = {
            name: np.tile(df[col].to_numpy(np.float64), repeat)
            for name, col in [
                ("tmax_c", "T2M_MAX"),
                ("tmin_c", "T2M_MIN"),
                ("rh_mean_pct", "RH2M"),
                ("wind2m_ms", "WS2M"),
                ("rs_mj_m2", "ALLSKY_SFC_SW_DWN"),
            ]
        }
        series = DailySeries(dates=dates, values=values, flags=np.zeros(n, np.uint32))
        out.append((series, float(lat), float(alt)))
    return out


def run_evapo(cities: list[tuple[DailySeries, float, float]], reference: str) -> np.ndarray:
    """ETsz of every city with Evapo [mm day-1], concatenated."""
    return np.concatenate(
        [
            asce.eto_asce_daily(
                s,
                lat_deg=lat,
                elevation_m=elev,
                reference=reference,  # type: ignore[arg-type]
                rso="full",
                missing=STRICT,
            ).eto
            for s, lat, elev in cities
        ]
    )


def run_refet(cities: list[tuple[DailySeries, float, float]], reference: str) -> np.ndarray:
    """ETsz of every city with refet [mm day-1], same inputs, concatenated."""
    import refet

    identity = float(fao56.wind_speed_2m(1.0, 2.0))
    out = []
    for s, lat, elev in cities:
        v = s.values
        ea = fao56.actual_vapour_pressure_from_rhmean(v["tmax_c"], v["tmin_c"], v["rh_mean_pct"])
        daily = refet.Daily(
            tmin=v["tmin_c"],
            tmax=v["tmax_c"],
            ea=ea,
            rs=v["rs_mj_m2"],
            uz=v["wind2m_ms"] / identity,
            zw=2.0,
            elev=elev,
            lat=lat,
            doy=day_of_year(s.dates),
            method="asce",
            rso_type="full",
        )
        out.append(np.asarray(daily.etsz(reference)))
    return np.concatenate(out)


def best_time(fn: object, *args: object, runs: int = 3) -> tuple[float, np.ndarray]:
    """Fastest of ``runs`` calls [s] and the last result."""
    best = float("inf")
    result = np.empty(0)
    for _ in range(runs):
        t0 = time.perf_counter()
        result = fn(*args)  # type: ignore[operator]
        best = min(best, time.perf_counter() - t0)
    return best, result


def main() -> None:
    """Run the benchmark and print the figures."""
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--repeat", type=int, default=4, help="Tile the 30 years this many times.")
    args = parser.parse_args()
    cities = load(args.repeat)
    rows = sum(len(s) for s, _, _ in cities)
    print(f"{rows} rows (12 cities x {args.repeat} x 30 years), short and tall, full Rso")
    worst = 0.0
    t_evapo = t_refet = 0.0
    for reference in ("short", "tall"):
        te, ours = best_time(run_evapo, cities, reference)
        tr, theirs = best_time(run_refet, cities, reference)
        diff = float(np.max(np.abs(ours - theirs)))
        worst = max(worst, diff)
        t_evapo += te
        t_refet += tr
        print(
            f"{reference:5s}: evapo {rows / te:,.0f} rows/s, refet {rows / tr:,.0f} rows/s, "
            f"max |diff| {diff:.1e} mm/day"
        )
    if worst > TOLERANCE_MM:
        raise SystemExit(f"asce: disagreement {worst:.2e} mm/day exceeds {TOLERANCE_MM:g}")
    n = 2 * rows
    print(
        f"asce: evapo {n / t_evapo:.0f} rows/s, refet {n / t_refet:.0f} rows/s, "
        f"ratio {t_refet / t_evapo:.2f}, max diff {worst:.1e} mm/day"
    )


if __name__ == "__main__":
    main()
