"""Validation: reading reference folders, no leakage from evaluated cities, CLI and JSON shape."""

from __future__ import annotations

import json
import math
import shutil
from collections.abc import Iterator
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import structlog
from typer.testing import CliRunner

from evapo.calibration import fit_calibration, load_calibration
from evapo.cli import app
from evapo.schema import Flag
from evapo.validation import (
    ReferenceError,
    predict_folder,
    read_reference,
    read_sites,
    read_sources,
    validate_loo,
    validate_split,
)

from ._reference import make_reference

TRAIN = ["Barreiras_BA", "Sao_Desiderio_BA", "Formosa_do_Rio_Preto_BA"]
TEST = ["Bom_Jesus_PI", "Alvorada_do_Gurgueia_PI"]
METHODS = {
    "evapo",
    "nasa_power",
    "openmeteo_archive",
    "mean_of_sources",
    "openmeteo_eto",
    "nasa_power_monthly_bias",
    "evapo_artefact_only",
}
SCORES = {"KGE", "MAE", "R2", "NSE", "RMSE", "PBIAS", "coverage"}


@pytest.fixture(autouse=True)
def restore_logging() -> Iterator[None]:
    """The CLI configures structlog on CliRunner's temporary stderr: start from structlog's
    defaults and restore the previous configuration afterwards."""
    saved = structlog.get_config()
    structlog.reset_defaults()
    yield
    structlog.configure(**saved)


@pytest.fixture(scope="module")
def folders(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> tuple[Path, Path]:
    base = tmp_path_factory.mktemp("validation")
    train = make_reference(shared_data, base / "train", TRAIN, start="2016-01-01", end="2017-12-31")
    test = make_reference(shared_data, base / "test", TEST, start="2016-01-01", end="2016-12-31")
    return train, test


def test_reading_converts_wind_and_maps_sources(folders: tuple[Path, Path]) -> None:
    train, _ = folders
    site = read_sites(train)[0]
    sources = read_sources(train, site)
    assert set(sources) == {"nasa_power", "openmeteo_archive"}
    om = sources["openmeteo_archive"]
    raw = pd.read_csv(train / "open_meteo" / f"{site.name}.csv")["WS10M"].to_numpy()
    assert np.allclose(om["wind2m_ms"], raw * 4.87 / math.log(67.8 * 10 - 5.42))
    assert np.all(om.flags & Flag.WIND_FROM_10M)
    assert not np.any(sources["nasa_power"].flags & Flag.WIND_FROM_10M)
    assert om.lat == site.lat and om.elevation_m == site.elevation_m


def test_fill_values_become_missing(folders: tuple[Path, Path], tmp_path: Path) -> None:
    train, _ = folders
    target = tmp_path / "ref"
    shutil.copytree(train, target)
    path = target / "nasa_power" / f"{TRAIN[0]}.csv"
    frame = pd.read_csv(path)
    frame.loc[3, "ALLSKY_SFC_SW_DWN"] = -999.0
    frame.to_csv(path, index=False)
    site = next(s for s in read_sites(target) if s.name == TRAIN[0])
    rs = read_sources(target, site)["nasa_power"]["rs_mj_m2"]
    assert np.isnan(rs[3])
    assert np.isfinite(rs[2]) and np.isfinite(rs[4])


def test_bad_folders_are_explained(tmp_path: Path, folders: tuple[Path, Path]) -> None:
    with pytest.raises(ReferenceError, match=r"cities\.csv"):
        read_reference(tmp_path)
    target = tmp_path / "ref"
    shutil.copytree(folders[0], target)
    (target / "xavier" / f"{TRAIN[1]}.csv").unlink()
    with pytest.raises(ReferenceError, match="missing file"):
        read_reference(target)
    listing = pd.read_csv(target / "cities.csv")
    listing.loc[1, "alt"] = None
    listing.to_csv(target / "cities.csv", index=False)
    with pytest.raises(ReferenceError, match="line 3: lat, lon and alt"):
        read_sites(target)
    listing.loc[1, "alt"] = 100.0
    listing.loc[0, "lat"] = 95.0
    listing.to_csv(target / "cities.csv", index=False)
    with pytest.raises(ReferenceError, match=r"line 2: .*lat must be within"):
        read_sites(target)


def test_evaluated_cities_never_reach_calibration(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = folders
    before = validate_split(train, test)
    calibration = fit_calibration(read_reference(train))
    preds_before = predict_folder(calibration, test)

    changed = tmp_path / "test"
    shutil.copytree(test, changed)
    path = changed / "xavier" / f"{TEST[0]}.csv"
    frame = pd.read_csv(path)
    frame["eto_xavier"] *= 1.1
    frame.to_csv(path, index=False)
    after = validate_split(train, changed)
    preds_after = predict_folder(calibration, changed)

    # Same artefact, same predictions; only the scores of the changed city move.
    assert after["calibration"]["id"] == before["calibration"]["id"] == calibration.id
    for city in TEST:
        for method, (eto, lo, hi) in preds_before[city].series.items():
            assert np.array_equal(eto, preds_after[city].series[method][0], equal_nan=True)
            if lo is not None:
                assert np.array_equal(lo, preds_after[city].series[method][1])
                assert np.array_equal(hi, preds_after[city].series[method][2])
    ev_before = before["methods"]["evapo"]["cities"]
    ev_after = after["methods"]["evapo"]["cities"]
    assert ev_after[TEST[0]]["PBIAS"] == pytest.approx(
        (100 + ev_before[TEST[0]]["PBIAS"]) / 1.1 - 100
    )
    assert ev_after[TEST[1]] == ev_before[TEST[1]]
    # Changing a training city's reference does change the artefact.
    train2 = tmp_path / "train"
    shutil.copytree(train, train2)
    path = train2 / "xavier" / f"{TRAIN[0]}.csv"
    frame = pd.read_csv(path)
    frame["eto_xavier"] *= 1.1
    frame.to_csv(path, index=False)
    assert fit_calibration(read_reference(train2)).id != calibration.id


def test_split_beats_raw_sources(folders: tuple[Path, Path]) -> None:
    train, test = folders
    result = validate_split(train, test)
    assert set(result["methods"]) == METHODS
    evapo = result["methods"]["evapo"]["mean"]
    raw = result["methods"]["nasa_power"]["mean"]
    assert evapo["KGE"] > raw["KGE"] + 0.2
    assert abs(evapo["PBIAS"]) < abs(raw["PBIAS"]) / 2
    monthly = result["methods"]["nasa_power_monthly_bias"]["mean"]
    assert abs(monthly["PBIAS"]) < abs(raw["PBIAS"]) / 2
    assert evapo["MAE"] < monthly["MAE"]
    assert 0.75 < evapo["coverage"] <= 1.0
    assert math.isnan(raw["coverage"])


def test_leave_one_out_scores_every_city(folders: tuple[Path, Path]) -> None:
    train, _ = folders
    result = validate_loo(train)
    assert result["mode"] == "leave-one-out"
    assert set(result["methods"]["evapo"]["cities"]) == set(TRAIN)
    mean = result["methods"]["evapo"]["mean"]
    per_city = result["methods"]["evapo"]["cities"]
    assert mean["MAE"] == pytest.approx(np.mean([c["MAE"] for c in per_city.values()]))


def test_cli_validate_writes_the_json_contract(folders: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = folders
    out = tmp_path / "scores.json"
    args = ["validate", "--reference", str(train), "--evaluate", str(test), "--json", str(out)]
    res = CliRunner().invoke(app, args)
    assert res.exit_code == 0, res.output
    assert "evapo" in res.output and "KGE" in res.output
    data = json.loads(out.read_text())
    assert set(data["methods"]) == METHODS
    for entry in data["methods"].values():
        assert set(entry["mean"]) == SCORES
        assert set(entry["cities"]) == set(TEST)
    assert isinstance(data["methods"]["evapo"]["cities"][TEST[0]]["coverage"], float)
    assert data["methods"]["nasa_power"]["mean"]["coverage"] is None


def test_cli_leave_one_out_and_option_errors(folders: tuple[Path, Path], tmp_path: Path) -> None:
    train, test = folders
    out = tmp_path / "loo.json"
    runner = CliRunner()
    res = runner.invoke(
        app, ["validate", "--cv", "leave-one-out", "--reference", str(train), "--json", str(out)]
    )
    assert res.exit_code == 0, res.output
    assert set(json.loads(out.read_text())["methods"]["evapo"]["cities"]) == set(TRAIN)
    res = runner.invoke(app, ["validate", "--reference", str(train)])
    assert res.exit_code == 2
    res = runner.invoke(app, ["validate", "--cv", "k-fold", "--reference", str(train)])
    assert res.exit_code == 2
    res = runner.invoke(app, ["validate", "--reference", str(tmp_path), "--evaluate", str(test)])
    assert res.exit_code == 2
    assert "cities.csv" in res.output


def test_cli_calibrate_writes_a_loadable_artefact(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    train, _ = folders
    out = tmp_path / "cal.json"
    res = CliRunner().invoke(app, ["calibrate", "--reference", str(train), "-o", str(out)])
    assert res.exit_code == 0, res.output
    cal = load_calibration(out)
    assert cal.id in res.output
    assert sorted(s.name for s in cal.sites) == sorted(TRAIN)
    bad = CliRunner().invoke(app, ["calibrate", "--reference", str(tmp_path), "-o", str(out)])
    assert bad.exit_code == 2
    assert "cities.csv" in bad.output


def test_a_city_without_reference_days_gets_empty_scores(
    folders: tuple[Path, Path], tmp_path: Path
) -> None:
    train, test = folders
    changed = tmp_path / "test"
    shutil.copytree(test, changed)
    path = changed / "xavier" / f"{TEST[0]}.csv"
    frame = pd.read_csv(path)
    frame["eto_xavier"] = np.nan
    frame.to_csv(path, index=False)
    result = validate_split(train, changed)
    empty = result["methods"]["evapo"]["cities"][TEST[0]]
    assert all(math.isnan(v) for v in empty.values())
    scored = result["methods"]["evapo"]["cities"][TEST[1]]
    assert result["methods"]["evapo"]["mean"]["KGE"] == pytest.approx(scored["KGE"])
