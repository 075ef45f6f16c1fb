"""Server-side rendering of results: summary cards, charts, daily table, sources and job lists."""

from __future__ import annotations

import math
from dataclasses import dataclass
from typing import Any

import dash_bootstrap_components as dbc
import plotly.graph_objects as go
from dash import html

from evapo.web.form import method_text
from evapo.web.i18n import fmt_number, t

#: Table columns in display order: (row key, i18n key of the header, decimals).
BASE_COLUMNS: tuple[tuple[str, str, int], ...] = (
    ("date", "col_date", 0),
    ("eto_mm", "col_eto", 2),
    ("eto_lo_mm", "col_eto_lo", 2),
    ("eto_hi_mm", "col_eto_hi", 2),
    ("tmax_c", "col_tmax", 1),
    ("tmin_c", "col_tmin", 1),
    ("rh_mean_pct", "col_rh", 0),
    ("wind2m_ms", "col_wind", 1),
    ("rs_mj_m2", "col_rs", 1),
    ("precip_mm", "col_precip", 1),
)
#: Display names of the sources (API names are kept in files and the API).
SOURCE_LABELS: dict[str, str] = {
    "nasa_power": "NASA POWER",
    "openmeteo_archive": "Open-Meteo archive",
    "openmeteo_forecast": "Open-Meteo forecast",
    "met_norway": "MET Norway",
    "nws": "NWS",
}
SOURCE_COLOURS = ("#6c757d", "#fd7e14", "#20c997", "#6f42c1", "#d63384", "#0dcaf0")

#: Summary keys the API may use for each card, first match wins.
SUMMARY_KEYS: dict[str, tuple[str, ...]] = {
    "total": ("eto_total_mm", "total_mm", "eto_sum_mm", "total"),
    "mean": ("eto_mean_mm", "mean_mm", "mean"),
    "max": ("eto_max_mm", "max_mm", "max"),
    "min": ("eto_min_mm", "min_mm", "min"),
    "precip": ("precip_total_mm", "precip_mm", "precip_sum_mm", "precip"),
    "balance": ("water_balance_mm", "p_minus_eto_mm", "balance_mm", "p_minus_et0", "balance"),
}


def source_label(name: str) -> str:
    """Display name of a source (its API name when unknown)."""
    return SOURCE_LABELS.get(name, name)


def source_columns(rows: list[dict[str, Any]]) -> list[str]:
    """The per-source ET0 columns (``eto_<source>_mm``) present in the rows, in order."""
    base = {key for key, _, _ in BASE_COLUMNS}
    keys = dict.fromkeys(k for row in rows[:1] for k in row)
    return [k for k in keys if k.startswith("eto_") and k.endswith("_mm") and k not in base]


def _num(value: Any) -> float | None:
    if value is None or isinstance(value, bool):
        return None
    try:
        number = float(value)
    except (TypeError, ValueError):
        return None
    return None if math.isnan(number) else number


def summarise(rows: list[dict[str, Any]], summary: dict[str, Any]) -> dict[str, float | None]:
    """Total, mean, max, min ET0, precipitation and P - ET0 [mm]: the API's, else from rows."""
    eto = [v for v in (_num(r.get("eto_mm")) for r in rows) if v is not None]
    rain = [v for v in (_num(r.get("precip_mm")) for r in rows) if v is not None]
    computed: dict[str, float | None] = {
        "total": sum(eto) if eto else None,
        "mean": sum(eto) / len(eto) if eto else None,
        "max": max(eto) if eto else None,
        "min": min(eto) if eto else None,
        "precip": sum(rain) if rain else None,
    }
    total, precip = computed["total"], computed["precip"]
    computed["balance"] = precip - total if total is not None and precip is not None else None
    out: dict[str, float | None] = {}
    for card, keys in SUMMARY_KEYS.items():
        given = next((_num(summary[k]) for k in keys if k in summary), None)
        out[card] = given if given is not None else computed[card]
    return out


@dataclass
class ResultView:
    """Everything the results area shows for one job."""

    title: str
    cards: Any
    eto_figure: dict[str, Any]
    cumulative_figure: dict[str, Any]
    columns: list[dict[str, Any]]
    table: list[dict[str, Any]]


def _cards(values: dict[str, float | None], summary: dict[str, Any], lang: str) -> Any:
    units = {"mean": "per_day", "max": "per_day", "min": "per_day"}
    cols = []
    for card in ("total", "mean", "max", "min", "precip", "balance"):
        unit = t(lang, units.get(card, "mm"))
        cols.append(
            dbc.Col(
                dbc.Card(
                    dbc.CardBody(
                        [
                            html.Div(t(lang, card), className="small text-muted"),
                            html.Div(
                                f"{fmt_number(values[card], lang)} {unit}",
                                className="fs-5 fw-semibold",
                                id={"type": "summary", "key": card},
                            ),
                        ],
                        className="p-2",
                    )
                ),
                xs=6,
                md=4,
                className="mb-2",
            )
        )
    notes = []
    if str(summary.get("eto_method", "")).startswith("asce-tall"):
        notes.append(t(lang, "method_tall_hint"))
    elif "calibrated" in summary:
        notes.append(t(lang, "calibrated" if summary["calibrated"] else "uncalibrated"))
        if summary["calibrated"] and str(summary.get("method", "")).endswith("+anchors"):
            notes.append(t(lang, "anchored"))
    sources = summary.get("sources")
    if isinstance(sources, list | tuple) and sources:
        names = ", ".join(source_label(str(s)) for s in sources)
        notes.append(f"{t(lang, 'sources_used')}: {names}")
    return [dbc.Row(cols, className="g-2"), html.Div(" · ".join(notes), className="small mb-2")]


def _layout(title: str, y_title: str, lang: str) -> dict[str, Any]:
    return {
        "xaxis": {"tickformat": "%d/%m/%Y" if lang == "pt" else "%b %d, %Y"},
        "title": {"text": title, "font": {"size": 14}},
        "margin": {"l": 50, "r": 10, "t": 40, "b": 40},
        "height": 320,
        "yaxis": {"title": {"text": y_title}},
        "legend": {"orientation": "h", "y": -0.2},
        "template": "plotly_white",
        "hovermode": "x unified",
    }


def eto_figure(rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """Fused daily ET0 with its 90 % band and one line per source."""
    dates = [r["date"] for r in rows]
    fig = go.Figure()
    lo = [_num(r.get("eto_lo_mm")) for r in rows]
    hi = [_num(r.get("eto_hi_mm")) for r in rows]
    if any(v is not None for v in hi):
        fig.add_trace(go.Scatter(x=dates, y=hi, mode="lines", line={"width": 0}, showlegend=False))
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=lo,
                mode="lines",
                line={"width": 0},
                fill="tonexty",
                fillcolor="rgba(13,110,253,0.18)",
                name=t(lang, "band"),
            )
        )
    for i, col in enumerate(source_columns(rows)):
        fig.add_trace(
            go.Scatter(
                x=dates,
                y=[_num(r.get(col)) for r in rows],
                mode="lines",
                line={"width": 1, "dash": "dot", "color": SOURCE_COLOURS[i % len(SOURCE_COLOURS)]},
                name=source_label(col.removeprefix("eto_").removesuffix("_mm")),
            )
        )
    fig.add_trace(
        go.Scatter(
            x=dates,
            y=[_num(r.get("eto_mm")) for r in rows],
            mode="lines+markers" if len(rows) <= 62 else "lines",
            line={"width": 2, "color": "#0d6efd"},
            name=t(lang, "fused"),
        )
    )
    fig.update_layout(_layout(t(lang, "chart_eto"), t(lang, "per_day"), lang))
    return dict(fig.to_plotly_json())


def cumulative_figure(rows: list[dict[str, Any]], lang: str) -> dict[str, Any]:
    """Cumulative fused ET0 against cumulative precipitation [mm]."""
    dates = [r["date"] for r in rows]
    cum_eto: list[float] = []
    cum_rain: list[float] = []
    eto_acc = rain_acc = 0.0
    for row in rows:
        eto_acc += _num(row.get("eto_mm")) or 0.0
        rain_acc += _num(row.get("precip_mm")) or 0.0
        cum_eto.append(round(eto_acc, 2))
        cum_rain.append(round(rain_acc, 2))
    fig = go.Figure(
        [
            go.Scatter(
                x=dates, y=cum_eto, name=t(lang, "cum_eto"), line={"color": "#dc3545", "width": 2}
            ),
            go.Scatter(
                x=dates,
                y=cum_rain,
                name=t(lang, "cum_precip"),
                line={"color": "#0d6efd", "width": 2},
                fill="tozeroy",
                fillcolor="rgba(13,110,253,0.10)",
            ),
        ]
    )
    fig.update_layout(_layout(t(lang, "chart_cum"), "mm", lang))
    return dict(fig.to_plotly_json())


def _number_column(key: str, header: str, digits: int, lang: str) -> dict[str, Any]:
    fmt = f"evapoNumber(params.value, {digits}, '{lang}')"
    return {
        "field": key,
        "headerName": header,
        "type": "rightAligned",
        "valueFormatter": {"function": fmt},
        "filter": "agNumberColumnFilter",
    }


def table_columns(rows: list[dict[str, Any]], lang: str) -> list[dict[str, Any]]:
    """AG Grid column definitions for the rows' keys (base, per-source ET0, flags)."""
    present = set(rows[0]) if rows else set()
    cols: list[dict[str, Any]] = []
    for key, label, digits in BASE_COLUMNS:
        if key == "date" and key in present:
            cols.append({"field": key, "headerName": t(lang, label), "pinned": "left"})
        elif key in present:
            cols.append(_number_column(key, t(lang, label), digits, lang))
    for key in source_columns(rows):
        source = source_label(key.removeprefix("eto_").removesuffix("_mm"))
        cols.append(_number_column(key, t(lang, "col_source_eto", source=source), 2, lang))
    if "flags" in present:
        cols.append({"field": "flags", "headerName": t(lang, "col_flags"), "minWidth": 160})
    return cols


def table_rows(rows: list[dict[str, Any]]) -> list[dict[str, Any]]:
    """Rows for the grid: numbers stay numbers (formatted in the browser), flags as text."""
    keys = [key for key, _, _ in BASE_COLUMNS if key != "date"] + source_columns(rows)
    out = []
    for row in rows:
        shown: dict[str, Any] = {"date": str(row.get("date", ""))}
        for key in keys:
            if key in row:
                shown[key] = _num(row[key])
        if "flags" in row:
            flags = row["flags"]
            shown["flags"] = ", ".join(flags) if isinstance(flags, list) else str(flags or "")
        out.append(shown)
    return out


def result_view(result: dict[str, Any], lang: str) -> ResultView:
    """Build the whole results area for a loaded job result."""
    rows: list[dict[str, Any]] = result.get("rows") or []
    summary: dict[str, Any] = result.get("summary") or {}
    spec: dict[str, Any] = result.get("spec") or {}
    first, last = (rows[0]["date"], rows[-1]["date"]) if rows else ("", "")
    title = t(
        lang,
        "result_for",
        lat=fmt_number(_num(spec.get("lat")), lang, 4),
        lon=fmt_number(_num(spec.get("lon")), lang, 4),
        start=spec.get("start", first),
        end=spec.get("end", last),
    )
    method = summary.get("eto_method")
    if method:
        title = f"{title} · {t(lang, 'result_method', method=method_text(str(method), lang))}"
    return ResultView(
        title=title,
        cards=_cards(summarise(rows, summary), summary, lang),
        eto_figure=eto_figure(rows, lang),
        cumulative_figure=cumulative_figure(rows, lang),
        columns=table_columns(rows, lang),
        table=table_rows(rows),
    )


def _data(name: str, value: str) -> Any:
    """A ``data-*`` attribute for an html component (not in Dash's typed signatures)."""
    return {f"data-{name}": value}


def sources_list(store: dict[str, Any] | None, lang: str) -> Any:
    """Which sources can serve the current choice (from ``/api/v1/sources``), and why not."""
    if not store:
        return t(lang, "sources_wait")
    status = store.get("status")
    if status == "loading":
        return t(lang, "sources_loading")
    if status == "error":
        return html.Span(str(store.get("message", "")), className="text-danger")
    answer: dict[str, Any] = store.get("answer") or {}
    spans: dict[str, Any] = answer.get("sources") or {}
    reasons: dict[str, str] = answer.get("reasons") or {}
    items = []
    for name, span in spans.items():
        if span:
            first, last = span.get("first"), span.get("last")
            text = f"{source_label(name)}: {t(lang, 'source_ok')} {first} … {last}"
            items.append(html.Li(text, className="text-success", **_data("source", name)))
        else:
            why = reasons.get(name, "")
            text = f"{source_label(name)}: {t(lang, 'source_no')}" + (f" ({why})" if why else "")
            items.append(html.Li(text, className="text-muted", **_data("source", name)))
    gaps = [
        html.Li(f"{g.get('first')} … {g.get('last')}: {g.get('reason')}", className="text-danger")
        for g in answer.get("unservable") or []
    ]
    if not answer.get("ok", True) and not gaps:
        gaps = [html.Li(t(lang, "sources_none"), className="text-danger")]
    return html.Ul(items + gaps, className="list-unstyled mb-0", id="sources-ul")


_STATUS_COLOURS = {
    "queued": "secondary",
    "running": "primary",
    "succeeded": "success",
    "failed": "danger",
    "timed_out": "warning",
    "cancelled": "dark",
}


def jobs_list(store: dict[str, Any] | None, lang: str) -> Any:
    """Recent jobs, newest first, each with its status and an Open button."""
    jobs: list[dict[str, Any]] = (store or {}).get("jobs") or []
    if not jobs:
        return t(lang, "no_jobs")
    items = []
    for job in jobs[:10]:
        spec = job.get("spec") or {}
        status = str(job.get("status", ""))
        label = (
            f"{fmt_number(_num(spec.get('lat')), lang, 3)}, "
            f"{fmt_number(_num(spec.get('lon')), lang, 3)} · "
            f"{spec.get('start', '')} … {spec.get('end', '')}"
        )
        if job.get("eto_method"):
            label = f"{label} · {job['eto_method']}"
        items.append(
            html.Li(
                [
                    dbc.Badge(
                        t(lang, f"status_{status}") if status in _STATUS_COLOURS else status,
                        color=_STATUS_COLOURS.get(status, "secondary"),
                        className="me-2 job-status",
                    ),
                    html.Span(label, className="small"),
                    dbc.Button(
                        t(lang, "open"),
                        id={"type": "job-open", "index": str(job.get("job_id"))},
                        size="sm",
                        color="link",
                        className="float-end py-0",
                    ),
                ],
                className="list-group-item px-2 py-1",
                **_data("job-id", str(job.get("job_id"))),
            )
        )
    return html.Ul(items, className="list-group list-group-flush", id="jobs-ul")
