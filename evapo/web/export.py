"""Result downloads: CSV (``;`` and decimal comma in Portuguese), Excel and JSON."""

from __future__ import annotations

import csv
import io
import json
import math
from typing import Any, Literal

from openpyxl import Workbook
from openpyxl.styles import Font

ExportKind = Literal["csv", "xlsx", "json"]


def row_columns(rows: list[dict[str, Any]]) -> list[str]:
    """Every key of the rows, in first-seen order."""
    return list(dict.fromkeys(key for row in rows for key in row))


def _cell(value: Any) -> Any:
    if isinstance(value, list):
        return ";".join(map(str, value))
    if isinstance(value, float) and math.isnan(value):
        return None
    return value


def _csv_text(value: Any, lang: str) -> str:
    value = _cell(value)
    if value is None:
        return ""
    if isinstance(value, float) and lang == "pt":
        return repr(value).replace(".", ",")
    return str(value)


def to_csv(rows: list[dict[str, Any]], lang: str) -> bytes:
    """CSV of the rows: ``,`` and decimal point (en) or ``;`` and decimal comma (pt)."""
    columns = row_columns(rows)
    out = io.StringIO()
    writer = csv.writer(out, delimiter=";" if lang == "pt" else ",", lineterminator="\n")
    writer.writerow(columns)
    for row in rows:
        writer.writerow([_csv_text(row.get(col), lang) for col in columns])
    # A byte-order mark lets spreadsheet programs read the accents of a Portuguese file.
    return out.getvalue().encode("utf-8-sig" if lang == "pt" else "utf-8")


def to_xlsx(rows: list[dict[str, Any]], summary: dict[str, Any], spec: dict[str, Any]) -> bytes:
    """Excel workbook: one sheet of daily rows, one of the summary and the request."""
    book = Workbook()
    daily = book.active
    assert daily is not None
    daily.title = "daily"
    columns = row_columns(rows)
    daily.append(columns)
    for cell in daily[1]:
        cell.font = Font(bold=True)
    for row in rows:
        daily.append([_cell(row.get(col)) for col in columns])
    daily.freeze_panes = "B2"
    meta = book.create_sheet("summary")
    for key, value in [*spec.items(), *summary.items()]:
        meta.append([str(key), json.dumps(value) if isinstance(value, dict | list) else value])
    out = io.BytesIO()
    book.save(out)
    return out.getvalue()


def result_method(result: dict[str, Any]) -> str | None:
    """Label of the reference ET method that made ``result`` (``None`` when it does not say)."""
    summary: dict[str, Any] = result.get("summary") or {}
    label = summary.get("eto_method")
    return str(label) if label else None


def export_result(result: dict[str, Any], kind: str, lang: str) -> tuple[str, bytes]:
    """File name and bytes of ``result`` (``{job_id, spec?, summary, rows}``) as ``kind``.

    When the result names its reference ET method, the file name ends with it and the CSV and
    Excel daily rows carry it in a last ``method`` column (JSON has it in ``summary``).
    """
    rows: list[dict[str, Any]] = result.get("rows") or []
    summary: dict[str, Any] = result.get("summary") or {}
    spec: dict[str, Any] = result.get("spec") or {}
    stem = f"evapo-{result.get('job_id', 'result')}"
    method = result_method(result)
    if method is not None:
        stem = f"{stem}-{method}"
        if kind in ("csv", "xlsx"):
            rows = [row | {"method": method} for row in rows]
    if kind == "csv":
        return f"{stem}{'-pt' if lang == 'pt' else ''}.csv", to_csv(rows, lang)
    if kind == "xlsx":
        return f"{stem}.xlsx", to_xlsx(rows, summary, spec)
    if kind == "json":
        body = {"job_id": result.get("job_id"), "spec": spec, "summary": summary, "rows": rows}
        return f"{stem}.json", json.dumps(body, ensure_ascii=False, indent=1).encode("utf-8")
    raise ValueError(f"kind: unknown export format {kind!r}, expected csv, xlsx or json")
