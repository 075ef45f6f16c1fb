"""Anchoring: same-day correction from nearby reference sites' held-out errors."""

from __future__ import annotations

import json
from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import structlog
from typer.testing import CliRunner

from evapo.calibration import (
    Anchoring,
    Anchors,
    Calibration,
    CalibrationError,
    Domain,
    attach_anchors,
    fit_anchoring,
    fit_calibration,
    load_calibration,
    save_calibration,
)
from evapo.cli import app
from evapo.config import Settings
from evapo.schema import Flag
from evapo.science import fusion
from evapo.science.fusion import anchor_correction, fuse_point, residual_correlation
from evapo.science.stations import Site, distance_matrix_km, great_circle_km
from evapo.services import _calibration
from evapo.validation import (
    predict_folder,
    read_reference,
    read_sites,
    read_sources,
    read_truth,
    validate_split,
)

from ._reference import SMALL_CITIES as CITIES
from ._reference import make_reference

# --- The kriging arithmetic ----------------------------------------------------------------------


def test_one_site_at_the_point_passes_on_sill_times_its_error() -> None:
    res = np.array([[0.2, -0.1, np.nan]])
    corr, explained = anchor_correction(
        np.array([0.0]), np.zeros((1, 1)), res, sill=0.8, range_km=100.0
    )
    assert corr == pytest.approx([0.16, -0.08, 0.0])
    assert explained == pytest.approx([0.64, 0.64, 0.0])


def test_redundant_sites_share_their_weight() -> None:
    """Two sites at the same place count as one better-measured site, not as two."""
    s = 0.8
    res = np.array([[0.3, 0.3], [0.3, np.nan]])
    corr, explained = anchor_correction(
        np.array([50.0, 50.0]), np.zeros((2, 2)), res, sill=s, range_km=100.0
    )
    rho = s * np.exp(-0.5)
    # Both present: weights rho / (1 + s) each; one present: weight rho.
    assert corr[0] == pytest.approx(2 * rho / (1 + s) * 0.3)
    assert explained[0] == pytest.approx(2 * rho**2 / (1 + s))
    assert corr[1] == pytest.approx(rho * 0.3)
    assert explained[1] == pytest.approx(rho**2)
    assert explained[0] < 2 * explained[1]


def test_correction_fades_with_distance_and_stops_at_zero_sill() -> None:
    res = np.full((1, 4), 0.25)
    near, _ = anchor_correction(np.array([20.0]), np.zeros((1, 1)), res, sill=0.8, range_km=200.0)
    far, far_explained = anchor_correction(
        np.array([2000.0]), np.zeros((1, 1)), res, sill=0.8, range_km=200.0
    )
    assert 0.15 < near[0] < 0.2
    assert abs(far[0]) < 1e-4 and far_explained[0] < 1e-8
    off, off_explained = anchor_correction(
        np.array([0.0]), np.zeros((1, 1)), res, sill=0.0, range_km=200.0
    )
    assert not off.any() and not off_explained.any()


def test_fit_anchoring_recovers_a_known_correlation_model() -> None:
    rng = np.random.default_rng(7)
    sites = [Site(f"s{k}", -10.0 + 0.9 * k, -45.0 + 0.4 * (k % 3)) for k in range(8)]
    d = distance_matrix_km(sites)
    cov = residual_correlation(d, 0.7, 250.0)
    np.fill_diagonal(cov, 1.0)
    draws = rng.multivariate_normal(np.zeros(len(sites)), cov * 0.01, size=20_000).T
    anchors = Anchors("x", ["nasa_power"], sites, np.datetime64("2000-01-01"), draws)
    fitted = fit_anchoring(anchors)
    assert fitted.sill == pytest.approx(0.7, abs=0.05)
    assert fitted.range_km == pytest.approx(250.0, rel=0.15)
    assert fitted.pairs == 28
    # Too few shared days, or too few sites: anchoring stays off.
    short = Anchors("x", [], sites, np.datetime64("2000-01-01"), draws[:, :100])
    assert fit_anchoring(short) == Anchoring()
    few = Anchors("x", [], sites[:5], np.datetime64("2000-01-01"), draws[:5])
    assert fit_anchoring(few) == Anchoring(pairs=10)
    # A site whose errors never vary has no correlation to give: its pairs are left out.
    flat = draws.copy()
    flat[0] = 0.0
    still = fit_anchoring(Anchors("x", [], sites, np.datetime64("2000-01-01"), flat))
    assert still.pairs == 21 and still.sill == pytest.approx(0.7, abs=0.05)


def test_anchoring_parameters_are_checked() -> None:
    with pytest.raises(CalibrationError, match="sill"):
        Anchoring(sill=1.0)
    with pytest.raises(CalibrationError, match="range_km"):
        Anchoring(sill=0.5, range_km=0.0)


# --- The anchors file ----------------------------------------------------------------------------


def test_rows_align_dates_and_leave_outside_days_missing() -> None:
    sites = [Site("a", -10.0, -45.0), Site("b", -11.0, -45.0)]
    res = np.arange(10, dtype=np.float32).reshape(2, 5)
    anchors = Anchors("x", [], sites, np.datetime64("2020-01-01"), res)
    assert anchors.end == np.datetime64("2020-01-05")
    dates = np.array(["2019-12-31", "2020-01-02", "2020-01-05", "2020-01-06"], "datetime64[D]")
    rows = anchors.rows(["b", "a"], dates)
    np.testing.assert_array_equal(rows[0], [np.nan, 6.0, 9.0, np.nan])
    np.testing.assert_array_equal(rows[1], [np.nan, 1.0, 4.0, np.nan])
    with pytest.raises(CalibrationError, match="residual rows"):
        Anchors("x", [], sites[:1], np.datetime64("2020-01-01"), res)


def test_fit_gives_anchors_of_every_site_without_changing_the_artefact(
    learned: Calibration, small_reference: Path
) -> None:
    anchors = learned.anchors
    assert anchors is not None
    assert anchors.calibration_id == learned.id
    assert anchors.families == ["nasa_power", "openmeteo"]
    assert sorted(s.name for s in anchors.sites) == sorted(CITIES)
    assert (anchors.start, anchors.end) == (
        np.datetime64("2015-01-01"),
        np.datetime64("2016-12-31"),
    )
    # Held-out errors: centred near 0, about 10 % in size, every day present.
    res = anchors.residual
    assert np.isfinite(res).all()
    assert abs(float(res.mean())) < 0.05 and 0.05 < float(res.std()) < 0.2
    # Three sites are too few to learn how errors correlate: anchoring is off.
    assert learned.anchoring == Anchoring(pairs=3)
    plain = fit_calibration(read_reference(small_reference), anchored=False)
    assert plain.anchors is None
    assert plain.id == learned.id
    # The artefact itself holds no daily data.
    text = json.dumps(learned.to_dict())
    assert "residual" not in text and len(text) < 60_000


def test_anchors_round_trip_and_must_match_their_calibration(
    learned: Calibration, tmp_path: Path
) -> None:
    assert learned.anchors is not None
    path = tmp_path / "anchors.npz"
    learned.anchors.save(path)
    loaded = Anchors.load(path)
    np.testing.assert_array_equal(loaded.residual, learned.anchors.residual)
    assert loaded.sites == learned.anchors.sites
    assert (loaded.start, loaded.families) == (learned.anchors.start, learned.anchors.families)

    cal_path = tmp_path / "cal.json"
    save_calibration(learned, cal_path)
    attach_anchors(load_calibration(cal_path), loaded)
    data = learned.to_dict()
    data["anchoring"]["sill"] = 0.1
    other = Calibration.from_dict(data)
    with pytest.raises(CalibrationError, match="made with calibration"):
        attach_anchors(other, loaded)
    stranger = replace(loaded, sites=[*loaded.sites[:-1], Site("Elsewhere", 0.0, 0.0)])
    stranger.calibration_id = learned.id
    with pytest.raises(CalibrationError, match="Elsewhere"):
        attach_anchors(load_calibration(cal_path), stranger)


def test_bad_anchor_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        Anchors.load(tmp_path / "missing.npz")
    junk = tmp_path / "junk.npz"
    junk.write_bytes(b"not a zip")
    with pytest.raises(CalibrationError, match="unreadable"):
        Anchors.load(junk)
    other = tmp_path / "other.npz"
    np.savez(other, schema=np.array("something.else"))
    with pytest.raises(CalibrationError, match="not an anchors file"):
        Anchors.load(other)


# --- In fusion -----------------------------------------------------------------------------------


@pytest.fixture(scope="module")
def region_dir(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Every shared city but Barreiras, 1991-2018."""
    cities = [s.name for s in read_sites(shared_data) if s.name != "Barreiras_BA"]
    target = tmp_path_factory.mktemp("region")
    return make_reference(shared_data, target, cities, start="1991-01-01", end="2018-12-31")


@pytest.fixture(scope="module")
def region(region_dir: Path) -> Calibration:
    """A calibration, with anchors, that never saw Barreiras."""
    return fit_calibration(read_reference(region_dir))


def test_anchored_days_move_toward_the_reference_and_narrow_the_band(
    region: Calibration, shared_data: Path
) -> None:
    """Barreiras (24 km from Sao Desiderio) from its sources and a calibration without it."""
    assert region.anchoring.sill > 0.5 and 100.0 < region.anchoring.range_km < 500.0
    site = next(s for s in read_sites(shared_data) if s.name == "Barreiras_BA")
    sources = read_sources(shared_data, site)
    truth = read_truth(shared_data, site, sources["nasa_power"].dates)
    kw = {"lat": site.lat, "lon": site.lon, "elevation_m": site.elevation_m}
    with_anchors = fuse_point(sources, calibration=region, **kw)
    alone = fuse_point(sources, calibration=replace(region, anchors=None), **kw)

    # The anchors end with 2018: 2019 and 2020 are fused by the artefact alone.
    inside = with_anchors.dates <= np.datetime64("2018-12-31")
    assert (with_anchors.flags[inside] & Flag.ANCHORED).all()
    assert not (with_anchors.flags[~inside] & Flag.ANCHORED).any()
    assert not (alone.flags & Flag.ANCHORED).any()
    assert with_anchors.method.endswith("+anchors") and "+anchors" not in alone.method
    after = with_anchors.dates >= np.datetime64("2019-02-01")  # past the 31-day window's reach
    np.testing.assert_array_equal(with_anchors.eto[after], alone.eto[after])
    width = (with_anchors.eto_hi - with_anchors.eto_lo) / with_anchors.eto
    width_alone = (alone.eto_hi - alone.eto_lo) / alone.eto
    assert np.all(width[inside] < 0.8 * width_alone[inside])
    np.testing.assert_allclose(width[after], width_alone[after])
    # Closer to the day's reference, and the narrower band still covers it about 90 % of days.
    err = np.abs(with_anchors.eto - truth)[inside]
    err_alone = np.abs(alone.eto - truth)[inside]
    assert err.mean() < 0.85 * err_alone.mean()
    covered = (with_anchors.eto_lo <= truth) & (truth <= with_anchors.eto_hi)
    assert 0.85 < covered[inside].mean() < 0.97


def test_outside_the_domain_anchors_do_nothing(region: Calibration, small_reference: Path) -> None:
    ref = read_reference(small_reference)[0]
    kw = {"lat": 48.85, "lon": 2.35, "elevation_m": 35.0}  # Paris
    a = fuse_point(ref.sources, calibration=region, **kw)
    b = fuse_point(ref.sources, calibration=replace(region, anchors=None), **kw)
    np.testing.assert_array_equal(a.eto, b.eto)
    assert not (a.flags & Flag.ANCHORED).any()
    assert a.flags[0] & Flag.UNCALIBRATED


# --- Wiring: command and service -----------------------------------------------------------------


def test_cli_writes_anchors_the_service_attaches(small_reference: Path, tmp_path: Path) -> None:
    saved = structlog.get_config()
    try:
        cal_path, anchors_path = tmp_path / "cal.json", tmp_path / "anchors.npz"
        args = ["calibrate", "--reference", str(small_reference), "-o", str(cal_path)]
        res = CliRunner().invoke(app, [*args, "--anchors", str(anchors_path)])
    finally:
        structlog.configure(**saved)
    assert res.exit_code == 0, res.output
    assert "anchors: 3 sites, 2015-01-01..2016-12-31" in res.output
    settings = Settings(calibration_path=cal_path, anchors_path=anchors_path)
    cal = _calibration(settings)
    assert cal is not None and cal.anchors is not None
    assert cal.anchors.calibration_id == cal.id == load_calibration(cal_path).id
    # Anchors made with another artefact (the packaged one) are refused at start.
    with pytest.raises(CalibrationError, match="anchors_path: anchors were made with"):
        _calibration(Settings(anchors_path=anchors_path))
    with pytest.raises(CalibrationError, match="anchors_path: anchors file not found"):
        _calibration(Settings(calibration_path=cal_path, anchors_path=tmp_path / "none.npz"))


def test_saved_artefact_and_anchors_predict_like_the_fitted_ones(
    region: Calibration, shared_data: Path, tmp_path: Path
) -> None:
    assert region.anchors is not None
    cal_path, anchors_path = tmp_path / "cal.json", tmp_path / "anchors.npz"
    save_calibration(region, cal_path)
    region.anchors.save(anchors_path)
    loaded = _calibration(Settings(calibration_path=cal_path, anchors_path=anchors_path))
    assert loaded is not None and loaded.anchoring == region.anchoring
    site = next(s for s in read_sites(shared_data) if s.name == "Barreiras_BA")
    sources = read_sources(shared_data, site)
    kw = {"lat": site.lat, "lon": site.lon, "elevation_m": site.elevation_m}
    a = fuse_point(sources, calibration=region, **kw)
    b = fuse_point(sources, calibration=loaded, **kw)
    # float32 storage of the errors: equal to well below the reported precision.
    np.testing.assert_allclose(b.eto, a.eto, rtol=1e-6)
    np.testing.assert_allclose(b.eto_hi, a.eto_hi, rtol=1e-6)
    np.testing.assert_array_equal(b.flags, a.flags)


def test_only_pairs_within_reach_and_the_nearest_sites_count() -> None:
    rng = np.random.default_rng(3)
    sites = [Site(f"s{k}", -10.0 + 0.3 * (k // 6), -45.0 + 0.3 * (k % 6)) for k in range(30)]
    res = rng.normal(0.0, 0.1, (30, 400)).astype(np.float32)
    anchors = Anchors("", ["nasa_power"], sites, np.datetime64("2000-01-01"), res)
    assert fit_anchoring(anchors, min_days=100).pairs == 435
    close = sum(
        great_circle_km(a.lat, a.lon, b.lat, b.lon) <= 100.0
        for k, a in enumerate(sites)
        for b in sites[k + 1 :]
    )
    assert 0 < close < 435
    assert fit_anchoring(anchors, max_km=100.0, min_days=100).pairs == close
    # At a point, only the nearest MAX_ANCHOR_SITES sites are kriged.
    cal = Calibration(
        sites=sites,
        models=[],
        domain=Domain(),
        period=("2000-01-01", "2001-02-03"),
        anchoring=Anchoring(sill=0.8, range_km=200.0, pairs=435),
    )
    cal.anchors = anchors
    dates = anchors.start + np.arange(400)
    got = fusion._anchoring(cal, dates, -9.0, -44.0)
    assert got is not None
    nearest = cal.finder().within(-9.0, -44.0)[: fusion.MAX_ANCHOR_SITES]
    assert len(nearest) == fusion.MAX_ANCHOR_SITES < len(sites)
    near = [m.site for m in nearest]
    want = anchor_correction(
        np.array([m.distance_km for m in nearest]),
        distance_matrix_km(near),
        anchors.rows([s.name for s in near], dates),
        sill=0.8,
        range_km=200.0,
    )
    np.testing.assert_allclose(got[0], want[0])
    np.testing.assert_allclose(got[1], want[1])


def test_an_evaluated_city_never_reaches_the_anchors(
    region: Calibration, region_dir: Path, shared_data: Path, tmp_path: Path
) -> None:
    """Changing the evaluated city's reference moves its scores, never its prediction."""
    test = make_reference(
        shared_data, tmp_path / "test", ["Barreiras_BA"], start="2010-01-01", end="2018-12-31"
    )
    before = validate_split(region_dir, test)
    preds = predict_folder(region, test)["Barreiras_BA"].series
    path = test / "xavier" / "Barreiras_BA.csv"
    frame = pd.read_csv(path)
    frame["eto_xavier"] *= 0.9
    frame.to_csv(path, index=False)
    after = validate_split(region_dir, test)
    again = predict_folder(region, test)["Barreiras_BA"].series
    assert before["calibration"] == after["calibration"]
    assert before["calibration"]["anchoring"]["sill"] > 0.5
    for method, (eto, lo, hi) in preds.items():
        np.testing.assert_array_equal(eto, again[method][0])
        if lo is not None and hi is not None:
            np.testing.assert_array_equal(lo, again[method][1])
            np.testing.assert_array_equal(hi, again[method][2])
    evapo_before = before["methods"]["evapo"]["cities"]["Barreiras_BA"]
    evapo_after = after["methods"]["evapo"]["cities"]["Barreiras_BA"]
    assert evapo_after["PBIAS"] == pytest.approx((100 + evapo_before["PBIAS"]) / 0.9 - 100)
    # Anchoring is at work here: it beats the artefact alone on this city.
    alone = before["methods"]["evapo_artefact_only"]["cities"]["Barreiras_BA"]
    assert evapo_before["MAE"] < alone["MAE"]


def test_one_source_is_anchored_too(region: Calibration, shared_data: Path) -> None:
    """Days fused by a one-family model are anchored on the same errors, and come closer."""
    site = next(s for s in read_sites(shared_data) if s.name == "Barreiras_BA")
    sources = {"openmeteo_archive": read_sources(shared_data, site)["openmeteo_archive"]}
    truth = read_truth(shared_data, site, sources["openmeteo_archive"].dates)
    kw = {"lat": site.lat, "lon": site.lon, "elevation_m": site.elevation_m}
    with_anchors = fuse_point(sources, calibration=region, **kw)
    alone = fuse_point(sources, calibration=replace(region, anchors=None), **kw)
    assert with_anchors.method == "calibrated-stack[openmeteo]+priors+anchors"
    inside = with_anchors.dates <= np.datetime64("2018-12-31")
    assert (with_anchors.flags[inside] & Flag.ANCHORED).all()
    err = np.abs(with_anchors.eto - truth)[inside].mean()
    assert err < 0.9 * np.abs(alone.eto - truth)[inside].mean()


def test_anchors_without_any_artefact_are_refused(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    import evapo.calibration

    monkeypatch.setattr(evapo.calibration, "default_calibration_path", lambda: tmp_path / "none")
    assert _calibration(Settings()) is None
    with pytest.raises(CalibrationError, match="anchors_path: no calibration artefact"):
        _calibration(Settings(anchors_path=tmp_path / "anchors.npz"))
