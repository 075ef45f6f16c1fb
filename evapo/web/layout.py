"""The dashboard's component tree (Dash, dash-bootstrap-components, dash-leaflet)."""

from __future__ import annotations

from typing import Any

import dash_ag_grid as dag
import dash_bootstrap_components as dbc
import dash_leaflet as dl
from dash import dcc, html

from evapo.web.form import MAX_FORECAST_DAYS, METHOD_OPTIONS
from evapo.web.i18n import TEXT, t

#: Where the map opens [deg]: central Brazil, where the validation data lives.
MAP_CENTER = (-12.0, -47.0)
MAP_ZOOM = 4


def T(key: str, **kwargs: Any) -> html.Span:
    """A piece of text re-rendered in the chosen language (see the ``translate`` callback)."""
    return html.Span(t("en", key), id={"type": "i18n", "key": key}, **kwargs)


def _map(tile_url: str) -> dl.Map:
    layers: list[Any] = []
    if tile_url:
        layers.append(dl.TileLayer(url=tile_url, attribution="", maxZoom=18))
    layers.append(dl.LayerGroup(id="marker-layer"))
    return dl.Map(
        layers,
        id="map",
        center=list(MAP_CENTER),
        zoom=MAP_ZOOM,
        style={"height": "320px"},
        className="evapo-map",
    )


def _coord_input(name: str, placeholder: str) -> dbc.Col:
    return dbc.Col(
        [
            dbc.Label(T(name), html_for=name),
            dbc.Input(id=name, type="text", placeholder=placeholder, debounce=True),
            dbc.FormFeedback(id=f"{name}-feedback", type="invalid"),
        ],
        md=4,
    )


def _location_card(tile_url: str) -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H2(T("location"), className="h5 mb-0")),
            dbc.CardBody(
                [
                    html.P(T("map_hint"), className="text-muted small mb-2"),
                    _map(tile_url),
                    dbc.Row(
                        [
                            _coord_input("lat", "-15.78"),
                            _coord_input("lon", "-47.93"),
                            dbc.Col(
                                [
                                    dbc.Label(T("elevation"), html_for="elevation"),
                                    dbc.Input(id="elevation", type="text", debounce=True),
                                    dbc.FormFeedback(id="elevation-feedback", type="invalid"),
                                ],
                                md=4,
                            ),
                        ],
                        className="g-2 mt-2",
                    ),
                    html.Div(T("coord_hint"), className="form-text"),
                    html.Div(
                        [
                            dbc.Button(
                                T("my_location"),
                                id="locate-btn",
                                color="secondary",
                                outline=True,
                                size="sm",
                            ),
                            html.Span(id="locate-msg", className="small text-muted ms-2"),
                        ],
                        className="mt-2",
                    ),
                ]
            ),
        ],
        className="mb-3",
    )


def _dates_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(html.H2(T("dates"), className="h5 mb-0")),
            dbc.CardBody(
                [
                    dbc.RadioItems(
                        id="date-mode",
                        options=[
                            {"label": T("mode_recent"), "value": "recent"},
                            {"label": T("mode_range"), "value": "range"},
                            {"label": T("mode_forecast"), "value": "forecast"},
                        ],
                        value="recent",
                        inline=True,
                        className="mb-2",
                    ),
                    html.Div(
                        [
                            dbc.Label(T("last_days"), html_for="recent-days"),
                            dbc.Select(
                                id="recent-days",
                                options=[{"label": str(n), "value": str(n)} for n in (7, 14, 30)],
                                value="7",
                            ),
                        ],
                        id="recent-box",
                    ),
                    html.Div(
                        [
                            dbc.Row(
                                [
                                    dbc.Col(
                                        [
                                            dbc.Label(T("start"), html_for="start-date"),
                                            dbc.Input(id="start-date", type="date"),
                                        ]
                                    ),
                                    dbc.Col(
                                        [
                                            dbc.Label(T("end"), html_for="end-date"),
                                            dbc.Input(id="end-date", type="date"),
                                        ]
                                    ),
                                ],
                                className="g-2",
                            )
                        ],
                        id="range-box",
                        style={"display": "none"},
                    ),
                    html.Div(
                        [
                            dbc.Label(T("forecast_days"), html_for="forecast-days"),
                            dbc.Input(
                                id="forecast-days",
                                type="number",
                                min=1,
                                max=MAX_FORECAST_DAYS,
                                step=1,
                                value=7,
                            ),
                        ],
                        id="forecast-box",
                        style={"display": "none"},
                    ),
                    html.Div(id="dates-feedback", className="text-danger small mt-1"),
                    html.H3(T("method"), className="h6 mt-3"),
                    dbc.RadioItems(
                        id="eto-method",
                        options=[
                            {"label": T(key), "value": value}
                            for value, (key, _fields) in METHOD_OPTIONS.items()
                        ],
                        value="fao56",
                    ),
                    html.Div(
                        T("method_tall_hint"),
                        id="method-hint",
                        className="form-text",
                        style={"display": "none"},
                    ),
                    html.H3(T("sources"), className="h6 mt-3"),
                    html.Div(
                        T("sources_wait"), id="sources-list", className="small", role="status"
                    ),
                ]
            ),
        ],
        className="mb-3",
    )


def _progress_modal() -> dbc.Modal:
    return dbc.Modal(
        [
            dbc.ModalHeader(dbc.ModalTitle(T("progress_title")), close_button=False),
            dbc.ModalBody(
                [
                    html.Div(
                        [
                            dbc.Badge("", id="job-badge", color="secondary", className="me-2"),
                            html.Code(id="job-id-text", className="small"),
                        ],
                        className="mb-2",
                    ),
                    dbc.Progress(id="job-progress", value=0, label="0 %", className="mb-2"),
                    html.Div(id="job-step", className="mb-1", role="status"),
                    html.Div(id="job-elapsed", className="small text-muted"),
                    html.Div(id="job-transport", className="small text-muted"),
                    dbc.Alert(id="job-error", color="danger", is_open=False, className="mt-2"),
                    html.P(T("close_hint"), className="small text-muted mt-2 mb-0"),
                ]
            ),
            dbc.ModalFooter(dbc.Button(T("close"), id="modal-close", color="secondary")),
        ],
        id="progress-modal",
        is_open=False,
        backdrop="static",
        keyboard=False,
    )


def _jobs_card() -> dbc.Card:
    return dbc.Card(
        [
            dbc.CardHeader(
                [
                    html.H2(T("recent_jobs"), className="h5 mb-0 d-inline"),
                    dbc.Button(
                        T("refresh"),
                        id="jobs-refresh",
                        size="sm",
                        color="link",
                        className="float-end p-0",
                    ),
                ]
            ),
            dbc.CardBody(html.Div(T("no_jobs"), id="jobs-list"), className="p-2"),
        ],
        className="mb-3",
    )


def _results() -> html.Div:
    return html.Div(
        [
            html.H2(T("results"), className="h4"),
            html.Div(T("no_results"), id="results-title", className="text-muted mb-2"),
            html.Div(id="summary-cards"),
            html.Div(
                [
                    html.Span(T("downloads"), className="me-2"),
                    dbc.Button(T("download_csv"), id="dl-csv", size="sm", className="me-1"),
                    dbc.Button(T("download_xlsx"), id="dl-xlsx", size="sm", className="me-1"),
                    dbc.Button(T("download_json"), id="dl-json", size="sm"),
                    dcc.Download(id="download"),
                ],
                id="downloads",
                className="my-2",
                style={"display": "none"},
            ),
            html.Div(id="charts"),
            html.H3(T("table"), className="h6 mt-3", id="table-title", style={"display": "none"}),
            html.Div(id="table-box"),
        ],
        id="results",
    )


#: AG Grid's own words (pager, filters) in Portuguese.
GRID_TEXT_PT: dict[str, str] = {
    "page": "Página",
    "of": "de",
    "to": "a",
    "more": "mais",
    "firstPage": "Primeira página",
    "previousPage": "Página anterior",
    "nextPage": "Próxima página",
    "lastPage": "Última página",
    "pageSizeSelectorLabel": "Linhas por página:",
    "filterOoo": "Filtrar…",
    "equals": "Igual a",
    "notEqual": "Diferente de",
    "lessThan": "Menor que",
    "greaterThan": "Maior que",
    "lessThanOrEqual": "Menor ou igual a",
    "greaterThanOrEqual": "Maior ou igual a",
    "inRange": "Entre",
    "contains": "Contém",
    "notContains": "Não contém",
    "startsWith": "Começa com",
    "endsWith": "Termina com",
    "blank": "Vazio",
    "notBlank": "Não vazio",
    "andCondition": "E",
    "orCondition": "OU",
    "noRowsToShow": "Sem linhas",
}


def daily_grid(columns: list[dict[str, Any]], rows: list[dict[str, Any]], lang: str) -> dag.AgGrid:
    """The daily table (AG Grid); rebuilt for each result and language."""
    return dag.AgGrid(
        id="daily-table",
        columnDefs=columns,
        rowData=rows,
        defaultColDef={"sortable": True, "resizable": True, "minWidth": 90},
        columnSize="autoSize",
        dashGridOptions={
            "pagination": True,
            "paginationPageSize": 31,
            "paginationPageSizeSelector": [31, 92, 366],
            "domLayout": "autoHeight",
            "suppressCellFocus": True,
            "rowHeight": 30,
            "headerHeight": 34,
            "localeText": GRID_TEXT_PT if lang == "pt" else {},
        },
        className="ag-theme-alpine",
        style={"height": None},
    )


def build_layout(tile_url: str) -> html.Div:
    """The whole page."""
    return html.Div(
        [
            dcc.Store(id="i18n", data=TEXT),
            dcc.Store(id="submit-req"),
            dcc.Store(id="job-state"),
            dcc.Store(id="result-store"),
            dcc.Store(id="sources-store"),
            dcc.Store(id="jobs-store"),
            dcc.Store(id="net-state"),
            dcc.Store(id="form-store"),
            dcc.Interval(id="elapsed-tick", interval=1000, disabled=True),
            dbc.Navbar(
                dbc.Container(
                    [
                        html.Span(
                            [html.Strong("Evapo", className="me-2"), T("subtitle")],
                            className="navbar-brand text-wrap small text-body",
                        ),
                        html.Div(
                            [
                                html.A(
                                    T("regional_map"),
                                    href="/regional",
                                    className="me-4 small",
                                    id="regional-link",
                                ),
                                html.Span(T("language"), className="me-2 small", id="lang-label"),
                                dbc.RadioItems(
                                    id="lang",
                                    options=[
                                        {"label": "EN", "value": "en"},
                                        {"label": "PT", "value": "pt"},
                                    ],
                                    value="en",
                                    inline=True,
                                    persistence=True,
                                    persistence_type="local",
                                ),
                            ],
                            className="d-flex align-items-center",
                        ),
                    ],
                    fluid=True,
                ),
                color="light",
                className="mb-3 border-bottom",
            ),
            dbc.Container(
                [
                    html.H1(T("title"), className="visually-hidden"),
                    dbc.Alert(
                        [
                            html.Span(id="net-msg"),
                            dbc.Button(
                                T("retry"),
                                id="net-retry",
                                size="sm",
                                color="light",
                                className="ms-3",
                            ),
                        ],
                        id="net-alert",
                        color="warning",
                        is_open=False,
                    ),
                    dbc.Row(
                        [
                            dbc.Col(
                                [
                                    _location_card(tile_url),
                                    _dates_card(),
                                    dbc.Button(
                                        T("calculate"),
                                        id="calc-btn",
                                        color="primary",
                                        size="lg",
                                        className="w-100 mb-2",
                                    ),
                                    html.Div(id="form-msg", className="text-danger small mb-3"),
                                    _jobs_card(),
                                ],
                                lg=5,
                            ),
                            dbc.Col(_results(), lg=7),
                        ]
                    ),
                    _progress_modal(),
                ],
                fluid=True,
            ),
        ]
    )
