"""Dashboard method selector: the job request it sends, its labels, and method-aware downloads."""

from __future__ import annotations

import csv
import io
from datetime import date
from typing import Any

import pytest
from dash import Dash
from openpyxl import load_workbook

from evapo.store.jobs import JobSpec
from evapo.web.callbacks import register_callbacks
from evapo.web.export import export_result, result_method
from evapo.web.figures import jobs_list, result_view
from evapo.web.form import METHOD_OPTIONS, method_text, read_form
from evapo.web.i18n import TEXT, t
from evapo.web.layout import build_layout

TODAY = date(2026, 11, 28)


def _form(method: str | None, lang: str = "en") -> dict[str, object] | None:
    return read_form(
        lat="-12.15",
        lon="-45.0",
        elevation="",
        mode="range",
        start="2020-01-01",
        end="2020-01-31",
        recent_days=None,
        forecast_days=None,
        lang=lang,
        today=TODAY,
        method=method,
    ).request


@pytest.mark.parametrize(
    ("choice", "fields", "label"),
    [
        (None, {}, "fao56"),
        ("fao56", {}, "fao56"),
        ("asce-short", {"method": "asce", "reference": "short"}, "asce-short-full"),
        ("asce-tall", {"method": "asce", "reference": "tall"}, "asce-tall-full"),
    ],
)
def test_selector_payload_is_a_valid_job_with_that_method(
    choice: str | None, fields: dict[str, str], label: str
) -> None:
    request = _form(choice)
    assert request is not None
    base = {"lat": -12.15, "lon": -45.0, "start": "2020-01-01", "end": "2020-01-31"}
    assert request == base | fields
    assert JobSpec.model_validate(request).choice.label == label


def test_unknown_selector_value_is_a_named_error_in_each_language() -> None:
    for lang, text in (("en", "Choose one of the offered methods."), ("pt", "Escolha um")):
        result = read_form(
            lat="-12.15",
            lon="-45.0",
            elevation="",
            mode="range",
            start="2020-01-01",
            end="2020-01-31",
            recent_days=None,
            forecast_days=None,
            lang=lang,
            today=TODAY,
            method="penman",
        )
        assert result.request is None
        assert result.errors["method"].startswith(text)


def test_every_option_has_english_and_portuguese_labels() -> None:
    for key, _fields in METHOD_OPTIONS.values():
        assert t("en", key) != t("pt", key)
        assert "ETo" in t("en", key) or "ETr" in t("en", key)
    assert {"method", "method_tall_hint", "result_method"} <= set(TEXT["en"]) & set(TEXT["pt"])


ROWS = [{"date": "2020-01-01", "eto_mm": 5.5, "flags": ["uncalibrated"]}]
TALL = {
    "job_id": "j1",
    "spec": {"lat": -12.15, "method": "asce", "reference": "tall"},
    "summary": {"eto_method": "asce-tall-full", "calibrated": False},
    "rows": ROWS,
}


def test_downloads_say_which_method_made_them() -> None:
    assert result_method(TALL) == "asce-tall-full"
    name, payload = export_result(TALL, "csv", "en")
    assert name == "evapo-j1-asce-tall-full.csv"
    table = list(csv.DictReader(io.StringIO(payload.decode())))
    assert table == [
        {"date": "2020-01-01", "eto_mm": "5.5", "flags": "uncalibrated", "method": "asce-tall-full"}
    ]
    name, payload = export_result(TALL, "xlsx", "pt")
    assert name == "evapo-j1-asce-tall-full.xlsx"
    book = load_workbook(io.BytesIO(payload))
    header, first = list(book["daily"].values)
    assert header[-1] == "method" and first[-1] == "asce-tall-full"
    summary = {row[0]: row[1] for row in book["summary"].values}
    assert summary["eto_method"] == "asce-tall-full" and summary["reference"] == "tall"
    name, payload = export_result(TALL, "json", "en")
    assert name == "evapo-j1-asce-tall-full.json" and b'"eto_method": "asce-tall-full"' in payload
    assert b'"method": "asce-tall-full"' not in payload  # JSON rows stay as the API gave them


def _find(component: Any, wanted: str) -> Any:
    """The component with id ``wanted`` in a Dash layout tree (None when absent)."""
    if getattr(component, "id", None) == wanted:
        return component
    children = getattr(component, "children", None)
    for child in children if isinstance(children, list) else [children]:
        if child is not None and not isinstance(child, str | int | float):
            found = _find(child, wanted)
            if found is not None:
                return found
    return None


def test_layout_offers_the_three_methods_with_fao56_selected() -> None:
    selector = _find(build_layout(""), "eto-method")
    assert selector is not None and selector.value == "fao56"
    assert [o["value"] for o in selector.options] == ["fao56", "asce-short", "asce-tall"]
    assert [o["label"].id["key"] for o in selector.options] == [
        "method_fao56",
        "method_asce_short",
        "method_asce_tall",
    ]
    hint = _find(build_layout(""), "method-hint")
    assert hint is not None and hint.style == {"display": "none"}


def test_the_form_callback_reads_the_selector_and_the_hint_follows_it() -> None:
    app = Dash(__name__)
    app.layout = build_layout("")
    register_callbacks(app)
    form = next(c for key, c in app.callback_map.items() if "form-store.data" in key)
    assert form["inputs"][-1] == {"id": "eto-method", "property": "value"}
    hint = app.callback_map["method-hint.style"]
    assert hint["inputs"] == [{"id": "eto-method", "property": "value"}]


def test_results_header_names_the_method_in_each_language() -> None:
    rows = [{"date": "2020-01-01", "eto_mm": 5.5, "flags": []}]
    view = result_view(TALL | {"rows": rows}, "en")
    assert view.title.endswith("Method: ASCE tall alfalfa (ETrs) [asce-tall-full]")
    view = result_view(TALL | {"rows": rows}, "pt")
    assert view.title.endswith("Método: ASCE cultura alta, alfafa (ETrs) [asce-tall-full]")
    fao = result_view({"summary": {"eto_method": "fao56"}, "rows": rows}, "en")
    assert fao.title.endswith("Method: FAO-56 grass (ETo) [fao56]")
    assert method_text("asce-short-simple", "en") == "ASCE short grass (ETos) [asce-short-simple]"


def test_tall_results_say_why_they_are_not_bias_corrected() -> None:
    rows = [{"date": "2020-01-01", "eto_mm": 5.5, "flags": []}]
    notes = result_view(TALL | {"rows": rows}, "en").cards[-1].children
    assert notes.startswith("Tall reference: not bias-corrected (calibrated for grass only).")
    grass = {"summary": {"eto_method": "fao56", "calibrated": False}, "rows": rows}
    assert result_view(grass, "en").cards[-1].children.startswith("Not bias-corrected")


def test_anchored_results_say_so() -> None:
    rows = [{"date": "2020-01-01", "eto_mm": 5.5, "flags": ["anchored"]}]
    method = "calibrated-stack[nasa_power+openmeteo]+priors"
    summary = {"eto_method": "fao56", "calibrated": True, "method": method + "+anchors"}
    notes = result_view({"summary": summary, "rows": rows}, "en").cards[-1].children
    assert notes.startswith("Bias-corrected · anchored to the same day's reference")
    pt = result_view({"summary": summary, "rows": rows}, "pt").cards[-1].children
    assert "ancorado" in pt
    plain = {"summary": summary | {"method": method}, "rows": rows}
    assert "anchored" not in result_view(plain, "en").cards[-1].children


def test_recent_jobs_name_their_method() -> None:
    job = {
        "job_id": "j2",
        "status": "succeeded",
        "spec": {"lat": -5.0, "lon": -42.0, "start": "2020-01-01", "end": "2020-01-31"},
        "eto_method": "asce-tall-full",
    }
    ul = jobs_list({"jobs": [job]}, "en")
    _badge, label, _button = ul.children[0].children
    assert label.children.endswith("2020-01-01 … 2020-01-31 · asce-tall-full")
