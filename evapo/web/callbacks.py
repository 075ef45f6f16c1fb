"""Dash callbacks. Server-side ones call library functions only; the browser talks to the API."""

from __future__ import annotations

import asyncio
import base64
from datetime import UTC, datetime
from typing import Any

import dash_leaflet as dl
from dash import ALL, ClientsideFunction, Dash, Input, Output, State, ctx, dcc, html, no_update

from evapo.web import export, figures
from evapo.web.form import parse_angle, read_form
from evapo.web.i18n import t
from evapo.web.layout import daily_grid

_HIDDEN = {"display": "none"}
_SHOWN: dict[str, str] = {}
_GRAPH_CONFIG: Any = {"displaylogo": False, "responsive": True}


def register_callbacks(app: Dash) -> None:
    """Attach every callback of the dashboard to ``app``."""
    _form_callbacks(app)
    _clientside_callbacks(app)
    _list_callbacks(app)
    _result_callbacks(app)


def _form_callbacks(app: Dash) -> None:
    @app.callback(
        Output("lat", "invalid"),
        Output("lat-feedback", "children"),
        Output("lon", "invalid"),
        Output("lon-feedback", "children"),
        Output("elevation", "invalid"),
        Output("elevation-feedback", "children"),
        Output("dates-feedback", "children"),
        Output("form-store", "data"),
        Output("marker-layer", "children"),
        Output("recent-box", "style"),
        Output("range-box", "style"),
        Output("forecast-box", "style"),
        Input("lat", "value"),
        Input("lon", "value"),
        Input("elevation", "value"),
        Input("date-mode", "value"),
        Input("recent-days", "value"),
        Input("start-date", "value"),
        Input("end-date", "value"),
        Input("forecast-days", "value"),
        Input("lang", "value"),
        Input("eto-method", "value"),
    )
    def validate(  # noqa: PLR0917 (Dash passes callback inputs positionally)
        lat: str | None,
        lon: str | None,
        elevation: str | None,
        mode: str,
        recent_days: str | None,
        start: str | None,
        end: str | None,
        forecast_days: int | None,
        lang: str,
        method: str | None,
    ) -> tuple[Any, ...]:
        """Check every field as it changes; keep the request (or the errors) in ``form-store``."""
        result = read_form(
            lat=lat,
            lon=lon,
            elevation=elevation,
            mode=mode,
            start=start,
            end=end,
            recent_days=recent_days,
            forecast_days=forecast_days,
            lang=lang,
            today=datetime.now(UTC).date(),
            method=method,
        )
        errors = result.errors
        # Fields still empty are not flagged until the user presses Calculate.
        shown = {
            name: msg
            for name, msg in errors.items()
            if not (name in ("lat", "lon") and not (lat if name == "lat" else lon))
        }
        marker: list[Any] = []
        if "lat" not in errors and "lon" not in errors and lat and lon:
            point = [parse_angle(lat, "lat"), parse_angle(lon, "lon")]
            marker = [dl.Marker(position=point, id="marker")]
        return (
            "lat" in shown,
            shown.get("lat", ""),
            "lon" in shown,
            shown.get("lon", ""),
            "elevation" in shown,
            shown.get("elevation", ""),
            shown.get("dates", ""),
            {"request": result.request, "errors": errors},
            marker,
            _SHOWN if mode == "recent" else _HIDDEN,
            _SHOWN if mode == "range" else _HIDDEN,
            _SHOWN if mode == "forecast" else _HIDDEN,
        )

    @app.callback(Output("method-hint", "style"), Input("eto-method", "value"))
    def method_hint(method: str | None) -> dict[str, str]:
        """Say that the tall reference is not bias-corrected while it is chosen."""
        return _SHOWN if method == "asce-tall" else _HIDDEN


def _clientside_callbacks(app: Dash) -> None:
    _clientside(
        app,
        "translate",
        Output({"type": "i18n", "key": ALL}, "children"),
        Input("lang", "value"),
        State("i18n", "data"),
    )
    _clientside(
        app,
        "mapClick",
        Output("lat", "value"),
        Output("lon", "value"),
        Input("map", "clickData"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "locate",
        Output("lat", "value", allow_duplicate=True),
        Output("lon", "value", allow_duplicate=True),
        Output("locate-msg", "children"),
        Input("locate-btn", "n_clicks"),
        State("lang", "value"),
        State("i18n", "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "calculate",
        Output("form-msg", "children"),
        Input("calc-btn", "n_clicks"),
        State("form-store", "data"),
        State("lang", "value"),
        State("i18n", "data"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "fetchSources",
        Output("sources-store", "data"),
        Input("form-store", "data"),
    )
    _clientside(
        app,
        "renderNet",
        Output("net-alert", "is_open"),
        Output("net-alert", "color"),
        Output("net-msg", "children"),
        Output("net-retry", "style"),
        Input("net-state", "data"),
        Input("lang", "value"),
        State("i18n", "data"),
    )
    _clientside(
        app,
        "retry",
        Output("net-state", "data"),
        Input("net-retry", "n_clicks"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "renderJob",
        Output("progress-modal", "is_open"),
        Output("job-badge", "children"),
        Output("job-badge", "color"),
        Output("job-progress", "value"),
        Output("job-progress", "label"),
        Output("job-progress", "animated"),
        Output("job-step", "children"),
        Output("job-transport", "children"),
        Output("job-error", "is_open"),
        Output("job-error", "children"),
        Output("job-id-text", "children"),
        Output("elapsed-tick", "disabled"),
        Input("job-state", "data"),
        Input("lang", "value"),
        State("i18n", "data"),
    )
    _clientside(
        app,
        "tick",
        Output("job-elapsed", "children"),
        Input("elapsed-tick", "n_intervals"),
        Input("job-state", "data"),
        State("lang", "value"),
        State("i18n", "data"),
    )
    _clientside(
        app,
        "closeCard",
        Output("job-state", "data"),
        Input("modal-close", "n_clicks"),
        prevent_initial_call=True,
    )
    _clientside(
        app,
        "fetchJobs",
        Output("jobs-store", "data"),
        Input("jobs-refresh", "n_clicks"),
        Input("job-state", "data"),
    )
    _clientside(
        app,
        "openJob",
        Output("jobs-refresh", "n_clicks"),
        Input({"type": "job-open", "index": ALL}, "n_clicks"),
        prevent_initial_call=True,
    )


def _clientside(app: Dash, name: str, *deps: Any, **kwargs: Any) -> None:
    """Register ``window.dash_clientside.evapo[name]`` (``assets/evapo.js``) as a callback."""
    function = ClientsideFunction(namespace="evapo", function_name=name)
    app.clientside_callback(function, *deps, **kwargs)  # type: ignore[no-untyped-call]


def _list_callbacks(app: Dash) -> None:
    @app.callback(
        Output("sources-list", "children"),
        Input("sources-store", "data"),
        Input("lang", "value"),
    )
    def render_sources(store: dict[str, Any] | None, lang: str) -> Any:
        """Show which sources can serve the current choice, and why not."""
        return figures.sources_list(store, lang)

    @app.callback(
        Output("jobs-list", "children"),
        Input("jobs-store", "data"),
        Input("lang", "value"),
    )
    def render_jobs(store: dict[str, Any] | None, lang: str) -> Any:
        """The recent jobs, each with an Open button."""
        return figures.jobs_list(store, lang)


def _result_callbacks(app: Dash) -> None:
    @app.callback(
        Output("results-title", "children"),
        Output("summary-cards", "children"),
        Output("charts", "children"),
        Output("table-box", "children"),
        Output("downloads", "style"),
        Output("table-title", "style"),
        Input("result-store", "data"),
        Input("lang", "value"),
    )
    async def render_results(result: dict[str, Any] | None, lang: str) -> tuple[Any, ...]:
        """Summary cards, both charts and the daily table of the loaded result."""
        if not result or not result.get("rows"):
            return (
                t(lang, "no_results"),
                [],
                [],
                [],
                _HIDDEN,
                _HIDDEN,
            )
        view = await asyncio.to_thread(figures.result_view, result, lang)
        return (
            view.title,
            view.cards,
            [
                dcc.Graph(id="chart-eto", figure=view.eto_figure, config=_GRAPH_CONFIG),
                dcc.Graph(id="chart-cum", figure=view.cumulative_figure, config=_GRAPH_CONFIG),
            ],
            # A new key per job and language makes React mount a fresh grid (new formatters).
            html.Div(
                daily_grid(view.columns, view.table, lang),
                key=f"grid-{result.get('job_id')}-{lang}",
            ),
            _SHOWN,
            _SHOWN,
        )

    @app.callback(
        Output("download", "data"),
        Input("dl-csv", "n_clicks"),
        Input("dl-xlsx", "n_clicks"),
        Input("dl-json", "n_clicks"),
        State("result-store", "data"),
        State("lang", "value"),
        prevent_initial_call=True,
    )
    async def download(
        _csv: int | None,
        _xlsx: int | None,
        _json: int | None,
        result: dict[str, Any] | None,
        lang: str,
    ) -> Any:
        """Send the loaded result as CSV (``;`` and decimal comma in Portuguese), Excel or JSON."""
        if not result or not result.get("rows"):
            return no_update
        kind = {"dl-csv": "csv", "dl-xlsx": "xlsx", "dl-json": "json"}[str(ctx.triggered_id)]
        name, payload = await asyncio.to_thread(export.export_result, result, kind, lang)
        return {"content": base64.b64encode(payload).decode(), "filename": name, "base64": True}
