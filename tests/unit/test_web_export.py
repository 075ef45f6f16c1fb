"""Result downloads: English/Portuguese CSV, Excel and JSON built from the API's result rows."""

from __future__ import annotations

import csv
import io
import json
import math

import pytest
from openpyxl import load_workbook

from evapo.web.export import export_result, to_csv

ROWS = [
    {
        "date": "2024-01-01",
        "eto_mm": 4.25,
        "eto_lo_mm": 3.9,
        "eto_hi_mm": 4.6,
        "precip_mm": 0.0,
        "eto_nasa_power_mm": 4.5,
        "flags": ["tmean:minmax", "forecast"],
    },
    {
        "date": "2024-01-02",
        "eto_mm": 5.125,
        "eto_lo_mm": None,
        "eto_hi_mm": math.nan,
        "precip_mm": 12.5,
        "eto_nasa_power_mm": 5.0,
        "flags": [],
    },
]
RESULT = {
    "job_id": "abc123",
    "spec": {"lat": -15.78, "lon": -47.93, "start": "2024-01-01", "end": "2024-01-02"},
    "summary": {"eto_total_mm": 9.375, "sources": ["nasa_power"]},
    "rows": ROWS,
}


def test_english_csv_uses_commas_and_decimal_points() -> None:
    text = to_csv(ROWS, "en").decode("utf-8")
    table = list(csv.reader(io.StringIO(text)))
    assert table[0] == list(ROWS[0])
    assert table[1] == ["2024-01-01", "4.25", "3.9", "4.6", "0.0", "4.5", "tmean:minmax;forecast"]
    assert table[2] == ["2024-01-02", "5.125", "", "", "12.5", "5.0", ""]


def test_portuguese_csv_uses_semicolons_and_decimal_commas() -> None:
    raw = to_csv(ROWS, "pt")
    assert raw.startswith(b"\xef\xbb\xbf")
    table = list(csv.reader(io.StringIO(raw.decode("utf-8-sig")), delimiter=";"))
    assert table[1][:6] == ["2024-01-01", "4,25", "3,9", "4,6", "0,0", "4,5"]
    assert table[2][1] == "5,125"
    assert len(table) == 3


def test_excel_holds_daily_rows_and_summary() -> None:
    name, payload = export_result(RESULT, "xlsx", "en")
    assert name == "evapo-abc123.xlsx"
    book = load_workbook(io.BytesIO(payload))
    daily = book["daily"]
    values = list(daily.values)
    assert values[0] == tuple(ROWS[0])
    assert values[1][1] == 4.25
    assert values[2][2] is None and values[2][3] is None
    summary = {row[0]: row[1] for row in book["summary"].values}
    assert summary["lat"] == -15.78
    assert summary["eto_total_mm"] == 9.375
    assert json.loads(str(summary["sources"])) == ["nasa_power"]


def test_json_and_file_names() -> None:
    name, payload = export_result(RESULT, "json", "pt")
    assert name == "evapo-abc123.json"
    body = json.loads(payload)
    assert body["rows"][1]["precip_mm"] == 12.5
    assert body["spec"]["lat"] == -15.78
    assert export_result(RESULT, "csv", "pt")[0] == "evapo-abc123-pt.csv"
    assert export_result(RESULT, "csv", "en")[0] == "evapo-abc123.csv"


def test_unknown_format_is_refused_by_name() -> None:
    with pytest.raises(ValueError, match="kind: unknown export format 'pdf'"):
        export_result(RESULT, "pdf", "en")
