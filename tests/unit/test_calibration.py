"""Calibration artefact: learning, JSON round trip, versioning, domain, packaged default."""

from __future__ import annotations

import json
import shutil
from pathlib import Path

import numpy as np
import pytest

from evapo.calibration import (
    MAX_ANOMALY_SCALE,
    SCHEMA_VERSION,
    Calibration,
    CalibrationError,
    default_calibration_path,
    fit_calibration,
    load_calibration,
    save_calibration,
)
from evapo.science.fusion import COMMON_FEATURES, FAMILY_FEATURES, fuse_point
from evapo.validation import read_reference

from ._reference import SMALL_CITIES as CITIES


def test_learned_artefact_describes_its_training(learned: Calibration) -> None:
    assert [s.name for s in learned.sites] == sorted(CITIES)
    assert learned.period == ("2015-01-01", "2016-12-31")
    assert [m.families for m in learned.models] == [
        ["nasa_power", "openmeteo"],
        ["nasa_power"],
        ["openmeteo"],
    ]
    assert set(learned.prior_ratio) == {"nasa_power", "openmeteo"}
    # Both sources overestimate the reference here: the regional prior ratio is below 1.
    assert all(0.7 < r < 1.0 for r in learned.prior_ratio.values())
    assert learned.prior_ratio["nasa_power"] < 0.92
    assert set(learned.prior_band) == set(learned.prior_ratio)
    assert all(0.5 < lo < 1.0 < hi < 2.0 for lo, hi in learned.prior_band.values())
    south, west, north, east = learned.domain.bbox
    assert south < -12 < north < -10 and west < -45 < east
    for model in learned.models:
        assert set(model.site_ratio) == set(CITIES)
        assert all(lo < 1.0 < hi for lo, hi in zip(model.ratio_q05, model.ratio_q95, strict=True))
        assert min(model.rel_rmse) > 0.0 and max(model.rel_rmse) < 0.5
        assert 1.0 <= model.anomaly_scale <= MAX_ANOMALY_SCALE
        assert model.n_days > 3 * 700


def test_round_trip_keeps_every_parameter(learned: Calibration, tmp_path: Path) -> None:
    path = tmp_path / "cal.json"
    save_calibration(learned, path)
    loaded = load_calibration(path)
    assert loaded.id == learned.id
    assert loaded.to_dict() == learned.to_dict()
    data = json.loads(path.read_text())
    assert data["schema"] == "evapo.calibration"
    assert data["version"] == SCHEMA_VERSION
    assert data["families"]["openmeteo_forecast"] == "openmeteo"


def test_id_ignores_creation_time(learned: Calibration) -> None:
    data = learned.to_dict()
    data["created"] = "2000-01-01T00:00:00+00:00"
    assert Calibration.from_dict(data).id == learned.id


def test_loaded_artefact_predicts_identically(
    learned: Calibration, small_reference: Path, tmp_path: Path
) -> None:
    path = tmp_path / "cal.json"
    save_calibration(learned, path)
    ref = read_reference(small_reference)[0]
    kw = {"lat": ref.site.lat, "lon": ref.site.lon, "elevation_m": ref.site.elevation_m}
    a = fuse_point(ref.sources, calibration=learned, **kw)
    b = fuse_point(ref.sources, calibration=load_calibration(path), **kw)
    assert np.array_equal(a.eto, b.eto)
    assert np.array_equal(a.eto_hi, b.eto_hi)


@pytest.mark.parametrize(
    ("change", "message"),
    [
        (lambda d: d.update(schema="other"), "schema"),
        (lambda d: d.update(version=SCHEMA_VERSION + 1), "version"),
        (lambda d: d["models"][0].update(coef=[1.0, 2.0]), "coef"),
        (lambda d: d["models"][0].update(ratio_q05=[0.9]), "ratio_q05"),
        (lambda d: d["feature_names"].update(family=["eto"]), "feature_names"),
        (lambda d: d["prior_ratio"].update(nasa_power=9.0), "prior_ratio"),
        (lambda d: d["prior_band"].update(nasa_power=[1.1, 1.3]), "prior_band"),
        (lambda d: d["prior_band"].pop("openmeteo"), "prior_band"),
    ],
)
def test_bad_artefacts_are_refused(learned: Calibration, change: object, message: str) -> None:
    data = json.loads(json.dumps(learned.to_dict()))
    change(data)  # type: ignore[operator]
    with pytest.raises(CalibrationError, match=message):
        Calibration.from_dict(data)


def test_unreadable_files_are_explained(tmp_path: Path) -> None:
    with pytest.raises(CalibrationError, match="not found"):
        load_calibration(tmp_path / "missing.json")
    bad = tmp_path / "bad.json"
    bad.write_text("{not json")
    with pytest.raises(CalibrationError, match="not valid JSON"):
        load_calibration(bad)
    names = {"common": list(COMMON_FEATURES), "family": list(FAMILY_FEATURES)}
    bad.write_text(
        json.dumps(
            {"schema": "evapo.calibration", "version": SCHEMA_VERSION, "feature_names": names}
        )
    )
    with pytest.raises(CalibrationError, match="malformed"):
        load_calibration(bad)


def test_no_shared_source_family_is_refused(small_reference: Path, tmp_path: Path) -> None:
    target = tmp_path / "ref"
    shutil.copytree(small_reference, target)
    (target / "open_meteo" / f"{CITIES[0]}.csv").unlink()
    for city in CITIES[1:]:
        (target / "nasa_power" / f"{city}.csv").unlink()
    with pytest.raises(CalibrationError, match="no source family"):
        fit_calibration(read_reference(target))


def test_packaged_default_artefact() -> None:
    path = default_calibration_path()
    assert path.stat().st_size < 100_000
    cal = load_calibration()
    assert len(cal.sites) == 12
    assert cal.period == ("1991-01-01", "2020-12-31")
    inside, dist = cal.covers(-12.15, -45.0)  # Barreiras
    assert inside and dist < 5.0
    outside, dist = cal.covers(48.85, 2.35)  # Paris
    assert not outside and dist > cal.domain.radius_km
    # Learned parameters only: nothing of the size of a daily series.
    data = json.loads(path.read_text())
    assert max(len(m["coef"]) for m in data["models"]) < 40
