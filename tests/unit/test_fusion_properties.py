"""Fusion invariants on real data: source order, empty sources, sub-periods, band ordering."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evapo.calibration import Calibration, load_calibration
from evapo.schema import DailySeries
from evapo.science.fusion import fuse_point
from evapo.science.stations import Site
from evapo.validation import read_sites, read_sources

CITY = "Urucui_PI"


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return load_calibration()


@pytest.fixture(scope="module")
def city(shared_data: Path) -> tuple[Site, dict[str, DailySeries]]:
    site = next(s for s in read_sites(shared_data) if s.name == CITY)
    year = np.datetime64("2010-01-01"), np.datetime64("2010-12-31")
    out = {}
    for name, s in read_sources(shared_data, site).items():
        keep = (s.dates >= year[0]) & (s.dates <= year[1])
        out[name] = DailySeries(
            dates=s.dates[keep],
            values={k: v[keep] for k, v in s.values.items()},
            flags=s.flags[keep],
            source=name,
        )
    return site, out


def test_source_order_does_not_matter(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    a = fuse_point(
        sources, lat=site.lat, lon=site.lon, elevation_m=site.elevation_m, calibration=calibration
    )
    reordered = dict(reversed(list(sources.items())))
    b = fuse_point(
        reordered, lat=site.lat, lon=site.lon, elevation_m=site.elevation_m, calibration=calibration
    )
    assert np.allclose(a.eto, b.eto, rtol=1e-12)
    assert np.allclose(a.eto_hi, b.eto_hi, rtol=1e-12)
    for col in a.weather.values:
        assert np.allclose(a.weather[col], b.weather[col], equal_nan=True)


def test_an_empty_source_changes_nothing(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    kw = {"lat": site.lat, "lon": site.lon, "elevation_m": site.elevation_m}
    a = fuse_point(sources, calibration=calibration, **kw)
    empty = DailySeries.empty(sources["nasa_power"].dates, source="met_norway")
    b = fuse_point({**sources, "met_norway": empty}, calibration=calibration, **kw)
    assert np.allclose(a.eto, b.eto, rtol=1e-12)
    assert np.all(b.weights["met_norway"] == 0.0)
    assert np.array_equal(a.flags, b.flags)


@settings(max_examples=12, deadline=None)
@given(start=st.integers(0, 300), length=st.integers(1, 60))
def test_any_sub_period_is_finite_and_ordered(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration, start: int, length: int
) -> None:
    site, sources = city
    part = {}
    for name, s in sources.items():
        sl = slice(start, start + length)
        part[name] = DailySeries(
            dates=s.dates[sl],
            values={k: v[sl] for k, v in s.values.items()},
            flags=s.flags[sl],
            source=name,
        )
    fused = fuse_point(
        part, lat=site.lat, lon=site.lon, elevation_m=site.elevation_m, calibration=calibration
    )
    assert fused.calibrated
    assert len(fused) == min(length, 365 - start)
    assert np.all(np.isfinite(fused.eto))
    assert np.all((fused.eto_lo <= fused.eto) & (fused.eto <= fused.eto_hi))
    assert np.all(fused.eto >= 0.0)
