"""``evapo eto``: happy paths and every bad-input case (exit code 2, one message, no file)."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pandas as pd
import pytest
from typer.testing import CliRunner

from evapo.cli import app
from evapo.schema import parse_flag_labels
from evapo.science.daily import DETAIL_UNITS

runner = CliRunner()

UCCLE = (
    "date,tmax_c,tmin_c,rh_max_pct,rh_min_pct,wind_ms,rs_mj_m2\n"
    "2001-07-06,21.5,12.3,84,63,2.777778,22.07\n"
)
LYON = "date,tmax_c,tmin_c\n2001-07-15,26.6,14.8\n"


def write(tmp_path: Path, text: str, name: str = "in.csv") -> Path:
    path = tmp_path / name
    path.write_text(text, encoding="utf-8")
    return path


def invoke(*args: str | Path) -> tuple[int, str, str]:
    result = runner.invoke(app, ["eto", *map(str, args)])
    return result.exit_code, result.stdout, result.stderr


def test_example_18_through_the_command(tmp_path: Path) -> None:
    """FAO-56 Example 18 (wind 10 km/h at 10 m converted by Eq. 47): 3.88 mm/day."""
    code, out, err = invoke(
        write(tmp_path, UCCLE), "--lat", "50.8", "--elevation", "100", "--wind-height", "10"
    )
    assert code == 0, err
    lines = out.splitlines()
    assert lines[0] == "date,eto_mm,flags"
    date, eto, flags = lines[1].split(",")
    assert date == "2001-07-06"
    assert abs(float(eto) - 3.88) <= 0.005
    assert flags == "wind:10m"


def test_output_file_and_details(tmp_path: Path) -> None:
    """Example 20 (Lyon, temperatures only) written with -o and --details."""
    target = tmp_path / "out.csv"
    code, out, err = invoke(
        write(tmp_path, LYON), "--lat", "45.7167", "--elevation", "200", "--details", "-o", target
    )
    assert code == 0, err
    assert out == ""
    df = pd.read_csv(target, keep_default_na=False)
    assert list(df.columns[:3]) == ["date", "eto_mm", "flags"]
    assert set(DETAIL_UNITS) <= set(df.columns)
    row = df.iloc[0]
    assert abs(row["eto_mm"] - 4.56) < 0.01
    assert abs(row["rs"] - 22.3) < 0.05
    assert abs(row["ra"] - 40.6) < 0.05
    assert parse_flag_labels(row["flags"]) == parse_flag_labels(
        "rs:hargreaves;ea:tmin;wind:default"
    )


def test_suspect_values_are_kept_and_flagged(tmp_path: Path) -> None:
    """Rs a little above Rso (Lyon, mid-July Rso about 30.6) is computed with and flagged."""
    text = "date,tmax_c,tmin_c,rs_mj_m2\n2001-07-15,26.6,14.8,32.5\n"
    code, out, err = invoke(write(tmp_path, text), "--lat", "45.7167", "--elevation", "200")
    assert code == 0, err
    df = pd.read_csv(pd.io.common.StringIO(out), keep_default_na=False)
    assert parse_flag_labels(df["flags"][0]) == parse_flag_labels("qc:suspect;ea:tmin;wind:default")


def test_missing_values_and_policy(tmp_path: Path) -> None:
    text = "date,tmax_c,tmin_c,wind2m_ms\n2001-07-15,26.6,14.8,\n2001-07-16,,14.0,2.0\n"
    code, out, _ = invoke(
        write(tmp_path, text), "--lat", "45.7", "--elevation", "200", "--missing", "hargreaves"
    )
    assert code == 0
    df = pd.read_csv(pd.io.common.StringIO(out), keep_default_na=False)
    assert df["flags"].tolist() == ["eto:hargreaves", "eto:missing"]
    assert abs(float(df["eto_mm"][0]) - 5.0) < 0.05
    assert df["eto_mm"][1] == ""


def test_brazil_city_matches_library(tmp_path: Path, shared_data: Path) -> None:
    """A real NASA POWER year through the command equals eto_daily on the same data."""
    from evapo.schema import DailySeries
    from evapo.science.daily import eto_daily

    src = pd.read_csv(shared_data / "nasa_power" / "Balsas_MA.csv").iloc[:365]
    df = pd.DataFrame(
        {
            "date": src["date"],
            "tmax_c": src["T2M_MAX"],
            "tmin_c": src["T2M_MIN"],
            "rh_mean_pct": src["RH2M"],
            "wind2m_ms": src["WS2M"],
            "rs_mj_m2": src["ALLSKY_SFC_SW_DWN"],
        }
    )
    path = tmp_path / "balsas.csv"
    df.to_csv(path, index=False)
    code, out, err = invoke(path, "--lat", "-7.5312", "--elevation", "255.9")
    assert code == 0, err
    got = pd.read_csv(pd.io.common.StringIO(out))
    series = DailySeries(
        dates=pd.to_datetime(df["date"]).to_numpy().astype("datetime64[D]"),
        values={c: df[c].to_numpy(float) for c in df.columns if c != "date"},
        flags=np.zeros(len(df), np.uint32),
    )
    expected = eto_daily(series, lat_deg=-7.5312, elevation_m=255.9).eto
    np.testing.assert_allclose(got["eto_mm"].to_numpy(), expected, rtol=1e-5)
    assert got["flags"].isna().all()


SITE = ("--lat", "45.7", "--elevation", "200")
BAD_INPUTS = [
    ("empty file", "", SITE, "the file is empty"),
    ("header only", "date,tmax_c,tmin_c\n", SITE, "no data rows"),
    ("no date column", "day,tmax_c,tmin_c\n1,2,1\n", SITE, "unknown column 'day'"),
    ("missing date", "tmax_c,tmin_c\n20,10\n", SITE, "required column 'date' is missing"),
    ("missing tmax", "date,tmin_c\n2001-07-15,10\n", SITE, "required column 'tmax_c'"),
    ("unknown column", LYON.replace("tmin_c", "tmin_f"), SITE, "unknown column 'tmin_f'"),
    (
        "two wind columns",
        "date,tmax_c,tmin_c,wind_ms,wind2m_ms\n2001-07-15,26,14,2,2\n",
        SITE,
        "not both",
    ),
    (
        "wind2m with height",
        "date,tmax_c,tmin_c,wind2m_ms\n2001-07-15,26,14,2\n",
        (*SITE, "--wind-height", "10"),
        "use 'wind_ms'",
    ),
    ("bad date", "date,tmax_c,tmin_c\n2001-07-15,26,14\n15/07/2001,26,14\n", SITE, "row 2"),
    ("impossible date", "date,tmax_c,tmin_c\n2001-02-30,26,14\n", SITE, "'2001-02-30'"),
    ("repeated date", "date,tmax_c,tmin_c\n2001-07-15,26,14\n2001-07-15,25,13\n", SITE, "repeated"),
    ("not a number", "date,tmax_c,tmin_c\n2001-07-15,26,abc\n", SITE, "'abc' is not a number"),
    ("lat above 90", LYON, ("--lat", "95", "--elevation", "200"), "--lat 95.0"),
    ("lat below -90", LYON, ("--lat", "-90.5", "--elevation", "200"), "--lat -90.5"),
    ("elevation", LYON, ("--lat", "45", "--elevation", "12000"), "--elevation 12000.0"),
    ("wind height", LYON, (*SITE, "--wind-height", "0"), "--wind-height 0.0"),
    ("krs", LYON, (*SITE, "--krs", "2"), "--krs 2.0"),
    ("policy", LYON, (*SITE, "--missing", "guess"), "--missing 'guess'"),
    (
        "negative wind at height",
        "date,tmax_c,tmin_c,wind_ms\n2001-07-15,26,14,2\n2001-07-16,26,14,-1\n",
        (*SITE, "--wind-height", "10"),
        "column 'wind_ms' row 2 (line 3, date 2001-07-16): -1 m/s is negative",
    ),
    (
        "negative wind at 2 m",
        "date,tmax_c,tmin_c,wind2m_ms\n2001-07-15,26,14,-0.5\n",
        SITE,
        "column 'wind2m_ms' row 1 (line 2, date 2001-07-15): -0.5 is rejected",
    ),
    ("tmax below tmin", "date,tmax_c,tmin_c\n2001-07-15,10,14\n", SITE, "tmax_c below tmin_c"),
    (
        "humidity above 100",
        "date,tmax_c,tmin_c,rh_mean_pct\n2001-07-15,26,14,120\n",
        SITE,
        "column 'rh_mean_pct' row 1",
    ),
    ("infinite", "date,tmax_c,tmin_c\n2001-07-15,inf,14\n", SITE, "infinite"),
]


@pytest.mark.parametrize(
    ("text", "args", "message"),
    [case[1:] for case in BAD_INPUTS],
    ids=[case[0] for case in BAD_INPUTS],
)
def test_bad_input_exits_2_and_writes_nothing(
    tmp_path: Path, text: str, args: tuple[str, ...], message: str
) -> None:
    target = tmp_path / "out.csv"
    code, out, err = invoke(write(tmp_path, text), *args, "-o", target)
    assert code == 2
    assert out == ""
    assert err.count("\n") == 1 and err.startswith("evapo eto: error: ")
    assert message in err
    assert not target.exists()
    assert [p.name for p in tmp_path.iterdir()] == ["in.csv"]


def test_error_keeps_an_existing_output(tmp_path: Path) -> None:
    target = write(tmp_path, "previous result\n", "out.csv")
    code, _, _ = invoke(write(tmp_path, "date,tmax_c\n2001-07-15,26\n"), *SITE, "-o", target)
    assert code == 2
    assert target.read_text() == "previous result\n"


def test_missing_input_file_and_output_directory(tmp_path: Path) -> None:
    code, _, err = invoke(tmp_path / "nope.csv", *SITE)
    assert code == 2 and "nope.csv: file not found" in err
    code, _, err = invoke(write(tmp_path, LYON), *SITE, "-o", tmp_path / "no" / "out.csv")
    assert code == 2 and "directory does not exist" in err
