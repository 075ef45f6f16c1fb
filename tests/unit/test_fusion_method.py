"""Fusion with a reference ET method choice: FAO-56 default unchanged, ASCE short/tall."""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest

from evapo.calibration import Calibration, load_calibration
from evapo.schema import DailySeries, Flag
from evapo.science import fusion
from evapo.science.asce import MethodChoice
from evapo.science.daily import EtoResult, eto_daily
from evapo.science.fusion import FusedSeries, fuse_point
from evapo.science.stations import Site
from evapo.validation import read_sites, read_sources

CITY = "Barreiras_BA"


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return load_calibration()


@pytest.fixture(scope="module")
def city(shared_data: Path) -> tuple[Site, dict[str, DailySeries]]:
    site = next(s for s in read_sites(shared_data) if s.name == CITY)
    sources = read_sources(shared_data, site)
    keep = {k: (v.dates >= np.datetime64("2019-01-01")) for k, v in sources.items()}
    cut = {
        name: DailySeries(
            dates=s.dates[keep[name]],
            values={k: v[keep[name]] for k, v in s.values.items()},
            flags=s.flags[keep[name]],
            source=s.source,
        )
        for name, s in sources.items()
    }
    return site, cut


def _fuse(
    city: tuple[Site, dict[str, DailySeries]],
    calibration: Calibration,
    choice: MethodChoice | None = None,
    **kwargs: Any,
) -> FusedSeries:
    site, sources = city
    return fuse_point(
        sources,
        lat=site.lat,
        lon=site.lon,
        elevation_m=site.elevation_m,
        calibration=calibration,
        **({"choice": choice} if choice is not None else {}),
        **kwargs,
    )


def _same(a: FusedSeries, b: FusedSeries) -> None:
    np.testing.assert_array_equal(a.eto, b.eto)
    np.testing.assert_array_equal(a.eto_lo, b.eto_lo)
    np.testing.assert_array_equal(a.eto_hi, b.eto_hi)
    np.testing.assert_array_equal(a.flags, b.flags)
    assert a.per_source_eto.keys() == b.per_source_eto.keys()
    for name in a.per_source_eto:
        np.testing.assert_array_equal(a.per_source_eto[name], b.per_source_eto[name])
        np.testing.assert_array_equal(a.weights[name], b.weights[name])
    assert a.method == b.method
    np.testing.assert_equal(a.summary(), b.summary())


def test_default_choice_gives_the_plain_fao56_results(
    city: tuple[Site, dict[str, DailySeries]],
    calibration: Calibration,
    monkeypatch: pytest.MonkeyPatch,
) -> None:
    default = _fuse(city, calibration)
    explicit = _fuse(city, calibration, MethodChoice(method="fao56"))
    _same(default, explicit)
    assert default.eto_method == "fao56"
    assert default.summary()["eto_method"] == "fao56"

    # The path before the method choice existed: every source straight through eto_daily.
    def fao56_only(
        series: DailySeries, choice: MethodChoice, *, lat_deg: float, elevation_m: float
    ) -> EtoResult:
        assert choice == MethodChoice()
        return eto_daily(series, lat_deg=lat_deg, elevation_m=elevation_m)

    monkeypatch.setattr(fusion, "reference_et", fao56_only)
    _same(default, _fuse(city, calibration))
    assert default.calibrated


def test_asce_short_is_calibrated_like_grass_and_labelled(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    fao = _fuse(city, calibration)
    short = _fuse(city, calibration, MethodChoice(method="asce", reference="short"))
    assert short.eto_method == "asce-short-full"
    assert short.summary()["eto_method"] == "asce-short-full"
    assert short.calibrated
    assert short.method.startswith("calibrated-stack[")
    ok = np.isfinite(fao.eto) & np.isfinite(short.eto)
    # Same grass reference: the fused series agree closely, yet were computed anew.
    assert abs(np.mean(short.eto[ok]) / np.mean(fao.eto[ok]) - 1.0) < 0.05
    assert not np.array_equal(short.per_source_eto["nasa_power"], fao.per_source_eto["nasa_power"])


def test_tall_reference_uses_default_priors_and_is_flagged_uncalibrated(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    fao = _fuse(city, calibration)
    tall = _fuse(city, calibration, MethodChoice(method="asce", reference="tall"))
    assert tall.eto_method == "asce-tall-full"
    assert not tall.calibrated
    assert tall.method == "prior-weighted-mean"  # no regional grass ratio either
    assert tall.stations == []
    assert np.all(tall.flags & np.uint32(Flag.UNCALIBRATED))
    ok = np.isfinite(tall.eto)
    assert ok.sum() == len(tall)
    # ETr (alfalfa) is well above grass ETo; the fused tall value is the sources' plain mean.
    assert np.mean(tall.eto) > 1.15 * np.mean(fao.eto[np.isfinite(fao.eto)])
    plain = np.nanmean(np.array(list(tall.per_source_eto.values())), axis=0)
    np.testing.assert_allclose(tall.eto, plain, rtol=1e-12)
    assert tall.summary()["eto_method"] == "asce-tall-full"


def test_tall_rows_are_flagged_and_keep_the_usual_columns(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    tall = _fuse(city, calibration, MethodChoice(method="asce", reference="tall", rso="simple"))
    assert tall.eto_method == "asce-tall-simple"
    rows = tall.to_rows()
    assert len(rows) == len(tall)
    assert all("uncalibrated" in row["flags"] for row in rows)
    assert set(rows[0]) == set(_fuse(city, calibration).to_rows()[0])
