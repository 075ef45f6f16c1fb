"""Results rendering: summary numbers, charts, table columns and lists, in both languages."""

from __future__ import annotations

from typing import Any

import pytest

from evapo.web.figures import (
    cumulative_figure,
    eto_figure,
    jobs_list,
    result_view,
    source_columns,
    sources_list,
    summarise,
    table_columns,
    table_rows,
)
from evapo.web.i18n import TEXT, fmt_number, t

ROWS: list[dict[str, Any]] = [
    {
        "date": f"2024-01-0{d}",
        "eto_mm": eto,
        "eto_lo_mm": eto - 0.5,
        "eto_hi_mm": eto + 0.5,
        "tmax_c": 31.0,
        "tmin_c": 20.0,
        "rh_mean_pct": 70.0,
        "wind2m_ms": 2.0,
        "rs_mj_m2": 20.0,
        "precip_mm": rain,
        "eto_nasa_power_mm": eto + 0.3,
        "eto_openmeteo_archive_mm": eto - 0.2,
        "flags": ["gap:filled"] if d == 2 else [],
    }
    for d, eto, rain in [(1, 4.0, 0.0), (2, 5.0, 10.0), (3, 3.0, 2.5)]
]


def test_language_tables_have_the_same_keys_and_placeholders() -> None:
    assert set(TEXT["en"]) == set(TEXT["pt"])
    for key, text in TEXT["en"].items():
        assert text.count("{") == TEXT["pt"][key].count("{"), key


def test_fmt_number_per_language() -> None:
    assert fmt_number(1234.567, "en", 2) == "1,234.57"
    assert fmt_number(1234.567, "pt", 2) == "1.234,57"
    assert fmt_number(None, "pt") == "–"
    assert fmt_number(float("nan"), "en") == "–"


def test_summary_prefers_the_api_values_and_fills_the_rest_from_rows() -> None:
    values = summarise(ROWS, {"eto_total_mm": 12.5})
    assert values["total"] == 12.5
    assert values["mean"] == pytest.approx(4.0)
    assert values["max"] == 5.0 and values["min"] == 3.0
    assert values["precip"] == 12.5
    assert values["balance"] == pytest.approx(12.5 - 12.0)


def test_eto_chart_has_band_sources_and_fused_line() -> None:
    fig = eto_figure(ROWS, "en")
    names = [trace.get("name") for trace in fig["data"]]
    assert names == [None, "90 % band", "NASA POWER", "Open-Meteo archive", "Fused ET0"]
    assert fig["data"][1]["fill"] == "tonexty"
    assert list(fig["data"][-1]["y"]) == [4.0, 5.0, 3.0]


def test_cumulative_chart_accumulates_eto_and_rain() -> None:
    fig = cumulative_figure(ROWS, "pt")
    assert list(fig["data"][0]["y"]) == [4.0, 9.0, 12.0]
    assert list(fig["data"][1]["y"]) == [0.0, 10.0, 12.5]
    assert fig["data"][0]["name"] == "ET0 acumulada"


def test_table_has_every_issue_column_formatted_per_language() -> None:
    assert source_columns(ROWS) == ["eto_nasa_power_mm", "eto_openmeteo_archive_mm"]
    cols = table_columns(ROWS, "pt")
    fields = [c["field"] for c in cols]
    assert fields[:4] == ["date", "eto_mm", "eto_lo_mm", "eto_hi_mm"]
    assert fields[-3:] == ["eto_nasa_power_mm", "eto_openmeteo_archive_mm", "flags"]
    assert cols[0]["headerName"] == "Data"
    assert cols[1]["headerName"] == "ET0 [mm]"
    assert cols[1]["valueFormatter"] == {"function": "evapoNumber(params.value, 2, 'pt')"}
    assert cols[-2]["headerName"] == "ET0 Open-Meteo archive [mm]"
    rows = table_rows(ROWS)
    assert rows[0]["eto_mm"] == 4.0
    assert rows[1]["flags"] == "gap:filled"
    assert rows[2]["precip_mm"] == 2.5


def test_result_view_title_names_the_place_and_days() -> None:
    view = result_view({"rows": ROWS, "summary": {}, "spec": {"lat": -15.78, "lon": -47.93}}, "en")
    assert view.title == "-15.7800, -47.9300 from 2024-01-01 to 2024-01-03"
    assert len(view.table) == 3


def test_sources_list_says_who_can_serve_and_why_not() -> None:
    answer = {
        "ok": True,
        "sources": {"nasa_power": {"first": "2024-01-01", "last": "2024-01-03"}, "nws": None},
        "reasons": {"nws": "outside the USA"},
        "unservable": [],
    }
    ul = sources_list({"status": "ok", "answer": answer}, "en")
    texts = [li.children for li in ul.children]
    assert texts == [
        "NASA POWER: can serve 2024-01-01 … 2024-01-03",
        "NWS: cannot serve (outside the USA)",
    ]
    assert sources_list(None, "pt") == t("pt", "sources_wait")


def test_jobs_list_offers_open_per_job() -> None:
    store = {
        "jobs": [
            {
                "job_id": "j1",
                "status": "succeeded",
                "spec": {"lat": -5.0, "lon": -42.0, "start": "2024-01-01", "end": "2024-01-31"},
            }
        ]
    }
    ul = jobs_list(store, "pt")
    item = ul.children[0]
    badge, label, button = item.children
    assert badge.children == "concluído"
    assert button.id == {"type": "job-open", "index": "j1"}
    assert "-5,000, -42,000" in label.children
    assert jobs_list({"jobs": []}, "en") == "No jobs yet."
