"""StationFinder: the reference sites nearest a point, by great-circle distance.

Sites are indexed as 3-D unit vectors in a small k-d tree; the chord length between unit vectors
is monotonic in great-circle distance, so nearest-by-chord is nearest on the sphere, with no
special case at the dateline or the poles.
"""

from __future__ import annotations

import heapq
import math
from collections.abc import Sequence
from dataclasses import dataclass

import numpy as np

from evapo.schema import FloatArray

EARTH_RADIUS_KM = 6371.0088
"""Mean Earth radius (IUGG) [km]."""


@dataclass(frozen=True)
class Site:
    """A reference site: name, latitude [deg], longitude [deg], elevation [m]."""

    name: str
    lat: float
    lon: float
    elevation_m: float = float("nan")

    def __post_init__(self) -> None:
        if not -90.0 <= self.lat <= 90.0:
            raise ValueError(f"site {self.name!r}: lat must be within [-90, 90], got {self.lat}")
        if not -180.0 <= self.lon <= 360.0:
            raise ValueError(f"site {self.name!r}: lon must be within [-180, 360], got {self.lon}")


@dataclass(frozen=True)
class StationMatch:
    """A site near the query point: distance [km] and normalised weight [-]."""

    site: Site
    distance_km: float
    weight: float


def unit_vector(lat_deg: float, lon_deg: float) -> FloatArray:
    """Cartesian unit vector of a point on the sphere [-]."""
    la, lo = math.radians(lat_deg), math.radians(lon_deg)
    return np.array([math.cos(la) * math.cos(lo), math.cos(la) * math.sin(lo), math.sin(la)])


def great_circle_km(lat1: float, lon1: float, lat2: float, lon2: float) -> float:
    """Great-circle distance between two points [km] (haversine form, exact at small angles)."""
    p1, p2 = math.radians(lat1), math.radians(lat2)
    dp, dl = p2 - p1, math.radians(lon2 - lon1)
    h = math.sin(dp / 2) ** 2 + math.cos(p1) * math.cos(p2) * math.sin(dl / 2) ** 2
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, math.sqrt(h)))


def distance_matrix_km(sites: Sequence[Site]) -> FloatArray:
    """Great-circle distances between every pair of ``sites`` [km] (0 on the diagonal)."""
    return np.array([[great_circle_km(a.lat, a.lon, b.lat, b.lon) for b in sites] for a in sites])


def _chord_to_km(chord: float) -> float:
    """Great-circle distance [km] from the chord between two unit vectors [-]."""
    return 2.0 * EARTH_RADIUS_KM * math.asin(min(1.0, chord / 2.0))


@dataclass
class _Node:
    index: int
    axis: int
    left: _Node | None
    right: _Node | None


class StationFinder:
    """Spatial index over reference sites with distance weighting and an "uncalibrated" radius.

    ``radius_km`` is the distance beyond which a site does not count; ``length_scale_km`` sets the
    Gaussian distance weight ``exp(-(d / L)^2)`` before normalisation.
    """

    def __init__(
        self, sites: Sequence[Site], *, radius_km: float = 800.0, length_scale_km: float = 300.0
    ) -> None:
        if radius_km <= 0 or length_scale_km <= 0:
            raise ValueError("radius_km and length_scale_km must be positive")
        self.sites = list(sites)
        self.radius_km = radius_km
        self.length_scale_km = length_scale_km
        self._xyz = np.array([unit_vector(s.lat, s.lon) for s in self.sites]).reshape(-1, 3)
        self._root = self._build(list(range(len(self.sites))), 0)

    def _build(self, idx: list[int], depth: int) -> _Node | None:
        if not idx:
            return None
        pts = self._xyz[idx]
        axis = int(np.argmax(pts.max(axis=0) - pts.min(axis=0))) if len(idx) > 1 else depth % 3
        idx = sorted(idx, key=lambda i: float(self._xyz[i, axis]))
        mid = len(idx) // 2
        return _Node(
            idx[mid],
            axis,
            self._build(idx[:mid], depth + 1),
            self._build(idx[mid + 1 :], depth + 1),
        )

    def __len__(self) -> int:
        return len(self.sites)

    def nearest(self, lat: float, lon: float, k: int = 1) -> list[tuple[Site, float]]:
        """The ``k`` nearest sites and their great-circle distances [km], nearest first."""
        return self._search(lat, lon, k, math.inf)

    def _search(self, lat: float, lon: float, k: int, max_km: float) -> list[tuple[Site, float]]:
        """Up to ``k`` nearest sites no farther than ``max_km``, by a pruned k-d tree descent."""
        if not -90.0 <= lat <= 90.0:
            raise ValueError(f"lat must be within [-90, 90], got {lat}")
        if k < 1:
            raise ValueError(f"k must be at least 1, got {k}")
        q = unit_vector(lat, lon)
        max_chord = 2.0 * math.sin(min(math.pi, max_km / EARTH_RADIUS_KM) / 2.0)
        if max_km >= math.pi * EARTH_RADIUS_KM:
            max_chord = math.inf
        heap: list[tuple[float, int]] = []  # max-heap of (-chord, index)

        def bound() -> float:
            return max_chord if len(heap) < k else min(max_chord, -heap[0][0])

        def visit(node: _Node | None) -> None:
            if node is None:
                return
            d = float(np.linalg.norm(self._xyz[node.index] - q))
            if d <= bound():
                if len(heap) == k:
                    heapq.heapreplace(heap, (-d, node.index))
                else:
                    heapq.heappush(heap, (-d, node.index))
            diff = float(q[node.axis] - self._xyz[node.index, node.axis])
            near, far = (node.left, node.right) if diff < 0 else (node.right, node.left)
            visit(near)
            if abs(diff) <= bound():
                visit(far)

        visit(self._root)
        found = sorted((-neg, i) for neg, i in heap)
        return [(self.sites[i], _chord_to_km(c)) for c, i in found]

    def within(self, lat: float, lon: float, radius_km: float | None = None) -> list[StationMatch]:
        """Sites within ``radius_km`` (default: the finder's radius), nearest first, weighted.

        Weights are Gaussian in distance and sum to 1; the list is empty beyond the radius, which
        callers treat as "uncalibrated".
        """
        radius = self.radius_km if radius_km is None else radius_km
        pairs = self._search(lat, lon, max(1, len(self.sites)), radius) if self.sites else []
        raw = [math.exp(-((d / self.length_scale_km) ** 2)) for _, d in pairs]
        total = sum(raw)
        return [
            StationMatch(s, d, (w / total) if total > 0 else 1.0 / len(pairs))
            for (s, d), w in zip(pairs, raw, strict=True)
        ]
