"""Reading the dashboard form: coordinates (decimal or DMS), elevation and the date choice."""

from __future__ import annotations

import re
from dataclasses import dataclass, field
from datetime import date, timedelta
from typing import Any, Literal

from evapo.web.i18n import t

DateMode = Literal["recent", "range", "forecast"]

#: Limits of the date choices offered by the form.
MAX_FORECAST_DAYS = 16
MAX_RECENT_DAYS = 366
ELEVATION_RANGE_M = (-500.0, 9000.0)

#: Methods offered by the selector: value -> (i18n key, API fields; FAO-56 is the API default).
METHOD_OPTIONS: dict[str, tuple[str, dict[str, str]]] = {
    "fao56": ("method_fao56", {}),
    "asce-short": ("method_asce_short", {"method": "asce", "reference": "short"}),
    "asce-tall": ("method_asce_tall", {"method": "asce", "reference": "tall"}),
}


def method_text(label: str, lang: str) -> str:
    """How the results header names a method label (``fao56``, ``asce-tall-full``, ...)."""
    if label.startswith("asce-tall"):
        key = "method_asce_tall"
    elif label.startswith("asce-short"):
        key = "method_asce_short"
    else:
        key = "method_fao56"
    return f"{t(lang, key)} [{label}]"


_HEMI_SIGN = {"N": 1, "S": -1, "E": 1, "W": -1, "L": 1, "O": -1}
"""Hemisphere letters (English and Portuguese: L = leste, O = oeste) and their sign."""
_DMS_NUMBERS = re.compile(r"\d+(?:[.,]\d+)?")


class FieldError(ValueError):
    """A form value cannot be used; ``key`` names the message in :mod:`evapo.web.i18n`."""

    def __init__(self, key: str, **params: object) -> None:
        super().__init__(key)
        self.key = key
        self.params = params


def parse_angle(text: str, axis: Literal["lat", "lon"]) -> float:
    """Parse a decimal or degrees-minutes-seconds angle [deg] and check its range.

    Accepts ``-15.78``, ``-15,78``, ``15°47'S``, ``15 47 12.5 S``, ``S 15d47m12s`` and the
    Portuguese ``47°55'O``. A hemisphere letter must fit the axis (N/S for latitude).
    """
    raw = text.strip().upper().replace("−", "-").replace(" ", " ")
    if not raw:
        raise FieldError("err_required")
    allowed = "NS" if axis == "lat" else "EWLO"
    hemi = ""
    # A trailing S after "<n>M<n>" is a seconds marker (15d47m12s), not "south".
    seconds_marker = re.search(r"M\s*\d+(?:[.,]\d+)?\s*S$", raw) is not None
    if raw[-1] in _HEMI_SIGN and not (raw[-1] == "S" and seconds_marker):
        hemi, raw = raw[-1], raw[:-1].strip()
    elif raw[0] in _HEMI_SIGN and raw[0] not in "DM":
        hemi, raw = raw[0], raw[1:].strip()
    if hemi and hemi not in allowed:
        raise FieldError("err_number")
    sign = 1.0
    if raw.startswith("-"):
        if hemi:
            raise FieldError("err_number")
        sign, raw = -1.0, raw[1:].strip()
    elif raw.startswith("+"):
        raw = raw[1:].strip()
    numbers = _DMS_NUMBERS.findall(raw)
    leftover = re.sub(r"[DMS°º'\"′″:\s]", "", _DMS_NUMBERS.sub("", raw))
    if not numbers or len(numbers) > 3 or leftover:
        raise FieldError("err_number")
    if len(numbers) == 1 and not re.fullmatch(r"\d+(?:[.,]\d+)?\s*[D°º]?", raw):
        raise FieldError("err_number")
    parts = [float(n.replace(",", ".")) for n in numbers]
    if any(p >= 60 for p in parts[1:]):
        raise FieldError("err_number")
    value = parts[0] + sum(p / 60.0**i for i, p in enumerate(parts[1:], start=1))
    if hemi:
        sign = float(_HEMI_SIGN[hemi])
    value *= sign
    limit = 90.0 if axis == "lat" else 180.0
    if not -limit <= value <= limit:
        raise FieldError("err_lat_range" if axis == "lat" else "err_lon_range")
    return round(value, 6)


def parse_elevation(text: str | float | None) -> float | None:
    """Parse the optional elevation [m]; ``None`` when left empty."""
    if text is None or (isinstance(text, str) and not text.strip()):
        return None
    try:
        value = float(str(text).strip().replace(",", "."))
    except ValueError as exc:
        raise FieldError("err_elev_number") from exc
    lo, hi = ELEVATION_RANGE_M
    if not lo <= value <= hi:
        raise FieldError("err_elev_range")
    return value


def resolve_dates(
    mode: str,
    *,
    start: str | None,
    end: str | None,
    recent_days: int | str | None,
    forecast_days: int | str | None,
    today: date,
) -> tuple[date, date]:
    """Turn the date choice into an inclusive ``(start, end)`` pair of days."""
    if mode == "range":
        if not start or not end:
            raise FieldError("err_dates_missing")
        first, last = date.fromisoformat(start[:10]), date.fromisoformat(end[:10])
        if first > last:
            raise FieldError("err_dates_order")
        return first, last
    if mode == "recent":
        n = _days(recent_days, 1, MAX_RECENT_DAYS)
        return today - timedelta(days=n), today - timedelta(days=1)
    if mode == "forecast":
        n = _days(forecast_days, 1, MAX_FORECAST_DAYS)
        return today, today + timedelta(days=n - 1)
    raise FieldError("err_dates_missing")


def _days(value: int | str | None, lo: int, hi: int) -> int:
    try:
        n = int(value) if value is not None and str(value).strip() else -1
    except ValueError as exc:
        raise FieldError("err_days_range", lo=lo, hi=hi) from exc
    if not lo <= n <= hi:
        raise FieldError("err_days_range", lo=lo, hi=hi)
    return n


@dataclass
class FormResult:
    """The request the form describes, or the message to show next to each bad field."""

    request: dict[str, Any] | None
    errors: dict[str, str] = field(default_factory=dict)


def read_form(
    *,
    lat: str | None,
    lon: str | None,
    elevation: str | float | None,
    mode: str,
    start: str | None,
    end: str | None,
    recent_days: int | str | None,
    forecast_days: int | str | None,
    lang: str,
    today: date,
    method: str | None = None,
) -> FormResult:
    """Validate every field; the job request (API body) when all are valid.

    ``method`` is a key of :data:`METHOD_OPTIONS` (``None``: FAO-56, the API default).
    """
    errors: dict[str, str] = {}
    values: dict[str, Any] = {}
    for name, text in (("lat", lat), ("lon", lon)):
        try:
            values[name] = parse_angle(text or "", name)  # type: ignore[arg-type]
        except FieldError as exc:
            errors[name] = t(lang, exc.key, **exc.params)
    try:
        values["elevation"] = parse_elevation(elevation)
    except FieldError as exc:
        errors["elevation"] = t(lang, exc.key, **exc.params)
    try:
        first, last = resolve_dates(
            mode,
            start=start,
            end=end,
            recent_days=recent_days,
            forecast_days=forecast_days,
            today=today,
        )
        values["start"], values["end"] = first.isoformat(), last.isoformat()
    except FieldError as exc:
        errors["dates"] = t(lang, exc.key, **exc.params)
    choice = METHOD_OPTIONS.get(method or "fao56")
    if choice is None:
        errors["method"] = t(lang, "err_method")
    if errors or choice is None:
        return FormResult(request=None, errors=errors)
    request = {k: values[k] for k in ("lat", "lon", "start", "end")}
    if values["elevation"] is not None:
        request["elevation"] = values["elevation"]
    request.update(choice[1])
    return FormResult(request=request)
