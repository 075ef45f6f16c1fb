"""Fusion on real data: calibrated, one source, partial coverage, uncalibrated, provenance."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest

from evapo.calibration import Calibration, load_calibration
from evapo.schema import COLUMNS, DailySeries, Flag, flag_labels
from evapo.science import fusion
from evapo.science.daily import eto_daily
from evapo.science.fusion import fuse_point
from evapo.science.stations import Site
from evapo.validation import read_sites, read_sources, read_truth

CITY = "Barreiras_BA"


@pytest.fixture(scope="module")
def calibration() -> Calibration:
    return load_calibration()


@pytest.fixture(scope="module")
def city(shared_data: Path) -> tuple[Site, dict[str, DailySeries]]:
    site = next(s for s in read_sites(shared_data) if s.name == CITY)
    return site, read_sources(shared_data, site)


def cut(series: DailySeries, start: str, end: str, source: str | None = None) -> DailySeries:
    keep = (series.dates >= np.datetime64(start)) & (series.dates <= np.datetime64(end))
    return DailySeries(
        dates=series.dates[keep],
        values={k: v[keep] for k, v in series.values.items()},
        flags=series.flags[keep],
        source=source or series.source,
    )


def fuse(
    site: Site, sources: dict[str, DailySeries], calibration: Calibration | None
) -> fusion.FusedSeries:
    return fuse_point(
        sources,
        lat=site.lat,
        lon=site.lon,
        elevation_m=site.elevation_m,
        calibration=calibration,
    )


def test_calibrated_fusion_corrects_the_sources_overestimate(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration, shared_data: Path
) -> None:
    site, sources = city
    two_years = {k: cut(v, "2019-01-01", "2020-12-31") for k, v in sources.items()}
    fused = fuse(site, two_years, calibration)
    assert fused.calibrated
    assert fused.method.startswith("calibrated-stack[nasa_power+openmeteo")
    assert not np.any(fused.flags & Flag.UNCALIBRATED)
    assert np.all(np.isfinite(fused.eto))
    assert np.all((fused.eto_lo < fused.eto) & (fused.eto < fused.eto_hi))
    # The raw sources overestimate the reference; the fused mean is within 3 % of it.
    truth = read_truth(shared_data, site, fused.dates)
    raw_mean = np.mean([np.nanmean(e) for e in fused.per_source_eto.values()])
    assert raw_mean > 1.05 * truth.mean()
    assert fused.eto.mean() == pytest.approx(truth.mean(), rel=0.03)
    total = sum(fused.weights.values())
    assert np.allclose(total, 1.0)
    assert fused.stations[0][0] == CITY
    assert fused.stations[0][1] == pytest.approx(0.0, abs=1e-6)
    assert all(weight >= 1e-3 for _, _, weight in fused.stations)


def test_one_source_is_enough(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    only = {"nasa_power": cut(sources["nasa_power"], "2020-01-01", "2020-03-31")}
    fused = fuse(site, only, calibration)
    assert fused.calibrated
    assert fused.method == "calibrated-stack[nasa_power]+priors"
    assert np.all(np.isfinite(fused.eto))
    assert np.allclose(fused.weights["nasa_power"], 1.0)


def test_partial_coverage_and_forecast_days(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    mixed = {
        "nasa_power": cut(sources["nasa_power"], "2020-06-01", "2020-06-20"),
        "openmeteo_archive": cut(sources["openmeteo_archive"], "2020-06-10", "2020-06-25"),
        "openmeteo_forecast": cut(
            sources["openmeteo_archive"], "2020-06-26", "2020-06-30", "openmeteo_forecast"
        ),
        "nws": cut(sources["nasa_power"], "2020-06-28", "2020-07-02", "nws"),
    }
    fused = fuse(site, mixed, calibration)
    assert len(fused) == 32  # 1 June .. 2 July
    assert np.all(np.isfinite(fused.eto))
    day = {str(d): i for i, d in enumerate(fused.dates)}
    both = day["2020-06-15"]
    assert fused.weights["nasa_power"][both] == pytest.approx(0.5)
    assert fused.weights["openmeteo_archive"][both] == pytest.approx(0.5)
    forecast = day["2020-06-27"]
    assert fused.weights["openmeteo_forecast"][forecast] == pytest.approx(1.0)
    assert fused.flags[forecast] & Flag.FORECAST
    assert not fused.flags[forecast] & Flag.UNCALIBRATED
    # NWS has no calibration: alone on 1-2 July, those days are uncalibrated.
    alone = day["2020-07-01"]
    assert fused.flags[alone] & Flag.UNCALIBRATED
    assert fused.weights["nws"][alone] == pytest.approx(1.0)
    assert fused.eto[alone] == pytest.approx(fused.per_source_eto["nws"][alone])
    # Where NWS overlaps a calibrated forecast it gets a small, non-zero weight.
    overlap = day["2020-06-29"]
    assert 0.0 < fused.weights["nws"][overlap] < 0.3


def test_no_calibration_uses_default_priors(
    city: tuple[Site, dict[str, DailySeries]],
) -> None:
    site, sources = city
    two = {k: cut(v, "2020-01-01", "2020-01-31") for k, v in sources.items()}
    fused = fuse(site, two, None)
    assert not fused.calibrated
    assert fused.method == "prior-weighted-mean"
    assert np.all(fused.flags & Flag.UNCALIBRATED)
    expected = np.mean([fused.per_source_eto[k] for k in two], axis=0)
    assert np.allclose(fused.eto, expected)
    ratio_hi = np.exp(fusion.Z90 * fusion.PRIOR_REL_SD)
    assert np.allclose(fused.eto_hi, fused.eto * ratio_hi)


def test_outside_the_domain_is_uncalibrated(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    _, sources = city
    one = {"nasa_power": cut(sources["nasa_power"], "2020-01-01", "2020-01-10")}
    fused = fuse_point(one, lat=48.85, lon=2.35, elevation_m=35.0, calibration=calibration)
    assert not fused.calibrated
    assert fused.method == "regional-prior"
    assert fused.stations == []
    assert all("uncalibrated" in row["flags"] for row in fused.to_rows())
    # The documented default prior: FAO-56 times the artefact's regional ratio, wide band.
    ratio = calibration.prior_ratio["nasa_power"]
    assert 0.7 < ratio < 1.0
    assert np.allclose(fused.eto, ratio * fused.per_source_eto["nasa_power"])
    # Its band was measured on all reference sites, widened by half outside the domain.
    q05, q95 = calibration.prior_band["nasa_power"]
    assert np.allclose(fused.eto_lo, fused.eto * q05**1.5)
    assert np.allclose(fused.eto_hi, fused.eto * q95**1.5)


def test_missing_day_stays_local(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    src = cut(sources["nasa_power"], "2020-03-01", "2020-03-31")
    base = fuse(site, {"nasa_power": src}, calibration)
    holed = cut(sources["nasa_power"], "2020-03-01", "2020-03-31")
    for col in COLUMNS:
        holed.values[col][15] = np.nan
    fused = fuse(site, {"nasa_power": holed}, calibration)
    assert np.isnan(fused.eto[15])
    assert fused.flags[15] & Flag.ETO_MISSING
    row = fused.to_rows()[15]
    assert row["eto_mm"] is None and row["tmax_c"] is None
    assert "eto:missing" in row["flags"]
    far = np.r_[0:5, 26:31]
    assert np.allclose(fused.eto[far], base.eto[far], rtol=0.02)


def test_rows_and_summary(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    week = {k: cut(v, "2020-02-01", "2020-02-07") for k, v in sources.items()}
    fused = fuse(site, week, calibration)
    rows = fused.to_rows()
    assert len(rows) == 7
    first = rows[0]
    assert first["date"] == "2020-02-01"
    for key in (
        "eto_mm",
        "eto_lo_mm",
        "eto_hi_mm",
        "eto_nasa_power_mm",
        "eto_openmeteo_archive_mm",
    ):
        assert isinstance(first[key], float)
    assert set(COLUMNS) <= set(first)
    assert first["flags"] == flag_labels(int(fused.flags[0]))
    assert "wind:10m" in first["flags"]
    summary = fused.summary()
    assert summary["n_days"] == 7
    assert summary["eto_total_mm"] == pytest.approx(float(fused.eto.sum()))
    assert summary["water_balance_mm"] == pytest.approx(
        summary["precip_total_mm"] - summary["eto_total_mm"]
    )
    assert summary["sources"] == ["nasa_power", "openmeteo_archive"]
    assert summary["calibrated"] is True


def test_fused_weather_is_the_weighted_mean(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    week = {k: cut(v, "2020-02-01", "2020-02-07") for k, v in sources.items()}
    fused = fuse(site, week, calibration)
    expected = 0.5 * (week["nasa_power"]["tmax_c"] + week["openmeteo_archive"]["tmax_c"])
    assert np.allclose(fused.weather["tmax_c"], expected)
    # A value missing from one source is taken from the other and flagged.
    week["nasa_power"].values["rs_mj_m2"][3] = np.nan
    fused = fuse(site, week, calibration)
    assert fused.weather["rs_mj_m2"][3] == pytest.approx(week["openmeteo_archive"]["rs_mj_m2"][3])


def test_per_source_eto_is_plain_fao56(
    city: tuple[Site, dict[str, DailySeries]], calibration: Calibration
) -> None:
    site, sources = city
    month = cut(sources["nasa_power"], "2020-05-01", "2020-05-31")
    fused = fuse(site, {"nasa_power": month}, calibration)
    plain = eto_daily(month, lat_deg=site.lat, elevation_m=site.elevation_m).eto
    assert np.allclose(fused.per_source_eto["nasa_power"], plain)


def test_bad_sources_are_refused(calibration: Calibration) -> None:
    with pytest.raises(ValueError, match="at least one source"):
        fuse_point({}, lat=0, lon=0, elevation_m=0, calibration=calibration)
    dates = np.array(["2020-01-02", "2020-01-01"], dtype="datetime64[D]")
    bad = DailySeries.empty(dates)
    with pytest.raises(ValueError, match="strictly increasing"):
        fuse_point({"nasa_power": bad}, lat=0, lon=0, elevation_m=0, calibration=calibration)


def test_moving_mean_and_inflation() -> None:
    x = np.array([1.0, 2.0, np.nan, 4.0, 5.0])
    mm = fusion.moving_mean(x, 3)
    assert np.allclose(mm, [1.5, 1.5, 3.0, 4.5, 4.5])
    flat = np.full(40, 3.0)
    assert np.allclose(fusion.inflate_anomalies(flat, 1.3), flat)
    with pytest.raises(ValueError, match="odd"):
        fusion.moving_mean(x, 4)


def test_local_ratio_fades_with_distance() -> None:
    near, _ = fusion.local_ratio([(0.0, [1.2] * 12)], length_scale_km=100.0, prior_strength=0.5)
    far, w = fusion.local_ratio([(500.0, [1.2] * 12)], length_scale_km=100.0, prior_strength=0.5)
    assert near[0] == pytest.approx((0.5 + 1.2) / 1.5)
    assert far[0] == pytest.approx(1.0, abs=1e-6)
    assert w[0] < 1e-6
