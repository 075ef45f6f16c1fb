"""``evapo eto --method asce``: ASCE-EWRI through the command, station units at the edge.

The Fallon AgriMet July 2015 inputs go in as the station reports them (degF, Langleys, mph at
3 m) and must give Ref-ET 4.1's ETr and ETo (tolerances as refet's tests; see test_asce.py).
"""

from __future__ import annotations

import io
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evapo.cli import app
from evapo.science import fao56
from evapo.science.units import to_canonical
from tests.unit.test_asce import ELEV, FALLON_JULY_2015, LAT, ZW

runner = CliRunner()
FALLON = ("--lat", str(LAT), "--elevation", str(ELEV))
US_UNITS = (
    "--temperature-unit",
    "degF",
    "--radiation-unit",
    "Langley/day",
    "--wind-unit",
    "mph",
    "--wind-height",
    str(ZW),
)


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eto", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def _station_csv(tmp_path: Path) -> Path:
    """Fallon July 2015 in the station's own units and unit-free column names."""
    rows = ["date,tmin,tmax,rs,tdew,wind"]
    for day, tmin, tmax, rs, tdew, wind, *_ in FALLON_JULY_2015:
        rows.append(f"2015-07-{int(day):02d},{tmin},{tmax},{rs},{tdew},{wind}")
    path = tmp_path / "fallon.csv"
    path.write_text("\n".join(rows) + "\n", encoding="utf-8")
    return path


def _read(text: str) -> pd.DataFrame:
    return pd.read_csv(io.StringIO(text), keep_default_na=False)


@pytest.mark.parametrize(("reference", "column"), [("tall", 6), ("short", 7)])
def test_ref_et_output_from_station_units(tmp_path: Path, reference: str, column: int) -> None:
    code, out, err = invoke(
        _station_csv(tmp_path),
        *FALLON,
        *US_UNITS,
        "--method",
        "asce",
        "--reference",
        reference,
        "--constants",
        "refet",
    )
    assert code == 0, err
    df = _read(out)
    assert list(df.columns) == ["date", "eto_mm", "flags", "method"]
    assert set(df["method"]) == {f"asce-{reference}-full-refet"}
    expected = np.array(FALLON_JULY_2015)[:, column]
    tolerance = np.where(expected >= 10.0, 0.05, 0.008)
    assert (np.abs(df["eto_mm"].to_numpy(float) - expected) <= tolerance).all()
    assert set(df["flags"]) == {"wind:10m"}  # wind converted from 3 m (Eq. 33)


def test_units_are_invariant(tmp_path: Path) -> None:
    """The same day in canonical columns or in station units gives the same ETr."""
    code, station_out, err = invoke(
        _station_csv(tmp_path), *FALLON, *US_UNITS, "--method", "asce", "--reference", "tall"
    )
    assert code == 0, err
    rows = np.array(FALLON_JULY_2015)
    canonical = pd.DataFrame(
        {
            "date": [f"2015-07-{int(d):02d}" for d in rows[:, 0]],
            "tmin_c": to_canonical(rows[:, 1], "temperature", "degF"),
            "tmax_c": to_canonical(rows[:, 2], "temperature", "degF"),
            "rs_mj_m2": to_canonical(rows[:, 3], "radiation_daily", "Langley/day"),
            "tdew_c": to_canonical(rows[:, 4], "temperature", "degF"),
            "wind2m_ms": fao56.wind_speed_2m(to_canonical(rows[:, 5], "wind", "mph"), ZW),
        }
    )
    path = tmp_path / "canonical.csv"
    canonical.to_csv(path, index=False, float_format="%.17g")
    code, canonical_out, err = invoke(path, *FALLON, "--method", "asce", "--reference", "tall")
    assert code == 0, err
    a, b = _read(station_out), _read(canonical_out)
    np.testing.assert_allclose(a["eto_mm"].to_numpy(float), b["eto_mm"].to_numpy(float), atol=2e-5)
    assert set(a["method"]) == set(b["method"]) == {"asce-tall-full"}


def test_vapour_pressure_and_specific_humidity_inputs(tmp_path: Path) -> None:
    """ea in hPa, or q in g/kg with pressure in hPa, stand in for the dew point exactly."""
    tdew = float(to_canonical(49.84, "temperature", "degF"))
    ea_kpa = float(fao56.actual_vapour_pressure_from_tdew(tdew))
    p_kpa = 87.8
    q = 0.622 * ea_kpa / (p_kpa - 0.378 * ea_kpa)
    base = "date,tmin,tmax,rs,wind,{}\n2015-07-01,66.65,102.80,674.07,4.80,{}\n"
    variants = {
        "tdew": base.format("tdew", 49.84),
        "ea": base.format("ea", repr(ea_kpa * 10.0)),
        "q": base.format("q,pressure", f"{q * 1000.0!r},{p_kpa * 10.0!r}"),
    }
    results = {}
    for name, text in variants.items():
        path = tmp_path / f"{name}.csv"
        path.write_text(text, encoding="utf-8")
        code, out, err = invoke(
            path,
            *FALLON,
            *US_UNITS,
            "--vapour-pressure-unit",
            "hPa",
            "--specific-humidity-unit",
            "g/kg",
            "--pressure-unit",
            "hPa",
            "--method",
            "asce",
            "--details",
        )
        assert code == 0, err
        results[name] = _read(out)
    for name in ("ea", "q"):
        assert results[name]["ea"][0] == pytest.approx(ea_kpa, rel=1e-5)  # printed %.6g
        assert results[name]["eto_mm"][0] == pytest.approx(results["tdew"]["eto_mm"][0], rel=1e-5)


def test_default_output_unchanged_and_explicit_fao56_labelled(tmp_path: Path) -> None:
    path = tmp_path / "lyon.csv"
    path.write_text("date,tmax_c,tmin_c\n2001-07-15,26.6,14.8\n", encoding="utf-8")
    site = ("--lat", "45.7167", "--elevation", "200")
    code, out, _ = invoke(path, *site)
    assert code == 0
    assert out.splitlines()[0] == "date,eto_mm,flags"
    code, labelled, _ = invoke(path, *site, "--method", "fao56")
    assert code == 0
    assert labelled.splitlines()[0] == "date,eto_mm,flags,method"
    assert labelled.splitlines()[1].endswith(",fao56")
    assert labelled.splitlines()[1].rsplit(",", 1)[0] == out.splitlines()[1]


BAD = [
    ("fao56 tall", ("--method", "fao56", "--reference", "tall"), "FAO-56 defines only the short"),
    ("fao56 full", ("--method", "fao56", "--rso", "full"), "FAO-56 uses the simple"),
    ("method", ("--method", "penman"), "--method: 'penman'"),
    ("reference", ("--method", "asce", "--reference", "alfalfa"), "--reference: 'alfalfa'"),
    ("rso", ("--method", "asce", "--rso", "exact"), "--rso: 'exact'"),
    ("constants", ("--method", "asce", "--constants", "x"), "--constants: 'x'"),
    ("unit", ("--temperature-unit", "rankine"), "--temperature-unit: unit 'rankine'"),
    ("unit kind", ("--wind-unit", "degF"), "--wind-unit: unit 'degF' is not accepted for wind"),
]


@pytest.mark.parametrize(("args", "message"), [b[1:] for b in BAD], ids=[b[0] for b in BAD])
def test_bad_choices_exit_2(tmp_path: Path, args: tuple[str, ...], message: str) -> None:
    target = tmp_path / "out.csv"
    code, out, err = invoke(_station_csv(tmp_path), *FALLON, *args, "-o", target)
    assert code == 2
    assert out == ""
    assert err.startswith("evapo eto: error: ") and err.count("\n") == 1
    assert message in err
    assert not target.exists()


BAD_TABLES = [
    (
        "unit on a canonical column",
        "date,tmax_c,tmin_c\n2015-07-01,102.8,66.65\n",
        ("--temperature-unit", "degF"),
        "column 'tmax_c' is in degC by its name; name it 'tmax' to give it in degF",
    ),
    (
        "both spellings",
        "date,tmax,tmax_c,tmin_c\n2015-07-01,39,39,19\n",
        (),
        "column 'tmax' duplicates column 'tmax_c'",
    ),
    ("q without pressure", "date,tmax,tmin,q\n2015-07-01,39,19,0.008\n", (), "needs a 'pressure'"),
    (
        "negative ea",
        "date,tmax,tmin,ea\n2015-07-01,39,19,1.1\n2015-07-02,39,19,-1\n",
        (),
        "vapour pressure -1 kPa at row 2 is not positive",
    ),
    ("not a number", "date,tmax,tmin\n2015-07-01,39,x\n", (), "column 'tmin' row 1"),
]


@pytest.mark.parametrize(
    ("text", "args", "message"), [b[1:] for b in BAD_TABLES], ids=[b[0] for b in BAD_TABLES]
)
def test_bad_station_tables_exit_2(
    tmp_path: Path, text: str, args: tuple[str, ...], message: str
) -> None:
    path = tmp_path / "in.csv"
    path.write_text(text, encoding="utf-8")
    code, out, err = invoke(path, *FALLON, *args)
    assert code == 2
    assert out == ""
    assert message in err, err
