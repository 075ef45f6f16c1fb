"""StationFinder: great-circle distances, the k-d tree, the dateline and the poles."""

from __future__ import annotations

import math

import numpy as np
import pytest
from hypothesis import given, settings
from hypothesis import strategies as st

from evapo.science.stations import EARTH_RADIUS_KM, Site, StationFinder, great_circle_km

DEG_KM = math.pi * EARTH_RADIUS_KM / 180.0


def test_one_degree_of_latitude() -> None:
    assert great_circle_km(0, 0, 1, 0) == pytest.approx(DEG_KM)
    assert great_circle_km(10, 20, 10, 20) == 0.0


def test_pole_to_pole_and_across_the_pole() -> None:
    assert great_circle_km(90, 0, -90, 0) == pytest.approx(math.pi * EARTH_RADIUS_KM)
    # Two points 1 degree from the north pole on opposite meridians are 2 degrees apart.
    assert great_circle_km(89, 0, 89, 180) == pytest.approx(2 * DEG_KM)


def test_dateline_neighbours_are_near() -> None:
    finder = StationFinder(
        [Site("east", 0.0, 179.9), Site("west", 0.0, -179.9), Site("far", 0.0, 170.0)]
    )
    (first, d1), (second, d2) = finder.nearest(0.0, -179.95, k=2)
    assert first.name == "west"
    assert second.name == "east"
    assert d1 == pytest.approx(0.05 * DEG_KM, rel=1e-6)
    assert d2 == pytest.approx(0.15 * DEG_KM, rel=1e-6)
    # Longitudes given as 0..360 are the same places.
    assert finder.nearest(0.0, 180.05, k=1)[0][0].name == "west"


def test_poles_any_longitude() -> None:
    finder = StationFinder([Site("north", 89.9, 0.0), Site("south", -89.9, 45.0)])
    for lon in (-180.0, -37.0, 0.0, 123.0, 180.0):
        site, dist = finder.nearest(90.0, lon, k=1)[0]
        assert site.name == "north"
        assert dist == pytest.approx(0.1 * DEG_KM, rel=1e-6)
    assert finder.nearest(-90.0, 10.0, k=1)[0][0].name == "south"


def test_within_radius_weights_and_uncalibrated_beyond() -> None:
    sites = [Site("a", 0.0, 0.0), Site("b", 0.0, 1.0), Site("c", 0.0, 20.0)]
    finder = StationFinder(sites, radius_km=500.0, length_scale_km=100.0)
    matches = finder.within(0.0, 0.2)
    assert [m.site.name for m in matches] == ["a", "b"]
    assert sum(m.weight for m in matches) == pytest.approx(1.0)
    assert matches[0].weight > matches[1].weight
    assert finder.within(45.0, 90.0) == []


def test_bad_coordinates_are_refused() -> None:
    with pytest.raises(ValueError, match="lat"):
        Site("x", 91.0, 0.0)
    finder = StationFinder([Site("a", 0.0, 0.0)])
    with pytest.raises(ValueError, match="lat"):
        finder.nearest(-95.0, 0.0)
    with pytest.raises(ValueError, match="k must"):
        finder.nearest(0.0, 0.0, k=0)


def test_empty_finder_finds_nothing() -> None:
    assert StationFinder([]).within(0.0, 0.0) == []


@settings(max_examples=40, deadline=None)
@given(
    seed=st.integers(0, 10_000),
    lat=st.floats(-90, 90),
    lon=st.floats(-180, 180),
    k=st.integers(1, 6),
)
def test_tree_matches_brute_force(seed: int, lat: float, lon: float, k: int) -> None:
    rng = np.random.default_rng(seed)
    n = int(rng.integers(1, 60))
    lats = np.degrees(np.arcsin(rng.uniform(-1, 1, n)))
    lons = rng.uniform(-180, 180, n)
    sites = [
        Site(f"s{i}", float(a), float(b)) for i, (a, b) in enumerate(zip(lats, lons, strict=True))
    ]
    got = StationFinder(sites).nearest(lat, lon, k=k)
    brute = sorted(great_circle_km(lat, lon, s.lat, s.lon) for s in sites)[:k]
    assert [d for _, d in got] == pytest.approx(brute, abs=1e-6)
