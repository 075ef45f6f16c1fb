"""Fetch benchmark: a 30-year single point through every historical source, cold and warm cache.

Starts the fake upstream APIs (``evapo fake-apis``) in a separate process on loopback, serving
``../shared/data/brazil-eto-validation``, and fetches 1991-01-01..2020-12-31 at one city through
``nasa_power`` and ``openmeteo_archive`` with :func:`evapo.sources.fetch_sources`:

* baseline: no cache (every call goes upstream), measured in the same run;
* cold: an empty SQLite cache (fetch + store);
* warm: the same request again (median of several runs).

Requests are counted at the fake. Targets: cold < 2 s, warm < 100 ms, warm makes 0 requests.
Run: ``.venv/bin/python -m bench.fetch [--warm-runs 5] [--city Balsas_MA]``.
"""

from __future__ import annotations

import argparse
import asyncio
import csv
import statistics
import subprocess
import sys
import tempfile
import time
from datetime import date
from pathlib import Path

import httpx2

from evapo.config import Settings
from evapo.fakeapi import free_port
from evapo.sources import WeatherCache, fetch_sources, plan_sources
from evapo.store.db import make_engine

DATA = Path(__file__).resolve().parents[2] / "shared" / "data" / "brazil-eto-validation"
START, END = date(1991, 1, 1), date(2020, 12, 31)
SOURCES = ("nasa_power", "openmeteo_archive")
TARGET_COLD_S, TARGET_WARM_S = 2.0, 0.100


def start_fake(data: Path) -> tuple[subprocess.Popen[bytes], str]:
    """The fake APIs in their own process; returns it and its base URL once it answers."""
    port = free_port()
    proc = subprocess.Popen(
        [sys.executable, "-m", "evapo", "fake-apis", "--data", str(data), "--port", str(port)],
        stdout=subprocess.DEVNULL,
    )
    url = f"http://127.0.0.1:{port}"
    deadline = time.monotonic() + 60
    while True:
        try:
            httpx2.get(f"{url}/_control/requests", timeout=1.0)
            return proc, url
        except httpx2.TransportError:
            if proc.poll() is not None or time.monotonic() > deadline:
                raise RuntimeError("fake APIs did not start") from None
            time.sleep(0.1)


def requests_made(url: str) -> int:
    """Upstream requests counted by the fake so far."""
    return int(httpx2.get(f"{url}/_control/requests").json()["total"])


async def run(url: str, lat: float, lon: float, warm_runs: int) -> dict[str, float]:
    """Time baseline, cold and warm fetches; return the figures."""
    settings = Settings(upstream_url=url)
    plan = plan_sources(lat, lon, START, END, sources=SOURCES)
    # Let the fake load the city's files (the real APIs do not read files per request).
    warmup = plan_sources(lat, lon, START, START, sources=SOURCES)
    await fetch_sources(lat, lon, START, START, plan=warmup, settings=settings, cache=None)

    async def once(cache: WeatherCache | None) -> tuple[float, int]:
        before = requests_made(url)
        t0 = time.perf_counter()
        out = await fetch_sources(lat, lon, START, END, plan=plan, settings=settings, cache=cache)
        elapsed = time.perf_counter() - t0
        failed = [r.error for r in out.values() if r.error is not None]
        if failed:
            raise RuntimeError(f"fetch failed: {failed}")
        return elapsed, requests_made(url) - before

    base_s, base_n = await once(None)
    with tempfile.TemporaryDirectory() as tmp:
        engine = make_engine(f"sqlite+aiosqlite:///{tmp}/cache.db")
        cache = WeatherCache(engine)
        await cache.init()
        # Warm the process (SQL statement compilation), then empty the cache: a cold cache,
        # not a cold interpreter, is what is measured.
        await fetch_sources(lat, lon, START, START, plan=warmup, settings=settings, cache=cache)
        await cache.clear()
        cold_s, cold_n = await once(cache)
        warm = [await once(cache) for _ in range(warm_runs)]
        await engine.dispose()
    return {
        "baseline_s": base_s,
        "baseline_requests": base_n,
        "cold_s": cold_s,
        "cold_requests": cold_n,
        "warm_s": statistics.median(w[0] for w in warm),
        "warm_requests": max(w[1] for w in warm),
    }


def main() -> None:
    """Parse arguments, run, print figures and ratios against the no-cache baseline."""
    parser = argparse.ArgumentParser(description=__doc__.split("\n")[0])
    parser.add_argument("--warm-runs", type=int, default=5)
    parser.add_argument("--city", default="Balsas_MA")
    parser.add_argument("--data", type=Path, default=DATA)
    args = parser.parse_args()
    with (args.data / "cities.csv").open(newline="") as fh:
        cities = {r["city"]: (float(r["lat"]), float(r["lon"])) for r in csv.DictReader(fh)}
    lat, lon = cities[args.city]
    proc, url = start_fake(args.data)
    try:
        r = asyncio.run(run(url, lat, lon, args.warm_runs))
    finally:
        proc.terminate()
        proc.wait(timeout=10)
    days = (END - START).days + 1
    print(f"fetch: {days} days x {len(SOURCES)} sources ({', '.join(SOURCES)}) at {args.city}")
    print(f"  baseline (no cache): {r['baseline_s']:.3f} s, {r['baseline_requests']:.0f} requests")
    print(
        f"  cold cache:          {r['cold_s']:.3f} s, {r['cold_requests']:.0f} requests"
        f"  (target < {TARGET_COLD_S:g} s: {'ok' if r['cold_s'] < TARGET_COLD_S else 'MISSED'})"
    )
    print(
        f"  warm cache (median of {args.warm_runs}): {r['warm_s'] * 1000:.1f} ms, "
        f"{r['warm_requests']:.0f} requests  (target < {TARGET_WARM_S * 1000:g} ms and 0 "
        f"requests: "
        f"{'ok' if r['warm_s'] < TARGET_WARM_S and r['warm_requests'] == 0 else 'MISSED'})"
    )
    print(
        f"fetch: cold/baseline {r['cold_s'] / r['baseline_s']:.2f}, "
        f"warm/baseline {r['warm_s'] / r['baseline_s']:.3f}"
    )


if __name__ == "__main__":
    main()
