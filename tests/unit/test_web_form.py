"""The dashboard form: coordinates in decimal or DMS, elevation, date choices, field errors."""

from __future__ import annotations

from datetime import date

import pytest

from evapo.web.form import FieldError, parse_angle, parse_elevation, read_form, resolve_dates

TODAY = date(2026, 11, 28)


@pytest.mark.parametrize(
    ("text", "axis", "expected"),
    [
        ("-15.78", "lat", -15.78),
        ("-15,78", "lat", -15.78),
        ("+12", "lat", 12.0),
        ("15°47'S", "lat", -(15 + 47 / 60)),
        ("15 47 12.5 S", "lat", -(15 + 47 / 60 + 12.5 / 3600)),
        ("S 15d47m12s", "lat", -(15 + 47 / 60 + 12 / 3600)),
        ("15d47m12s", "lat", 15 + 47 / 60 + 12 / 3600),
        ("12°30'00\"N", "lat", 12.5),
        ("47°55'W", "lon", -(47 + 55 / 60)),
        ("47°55'O", "lon", -(47 + 55 / 60)),
        ("47°55′L", "lon", 47 + 55 / 60),
        ("−47.9", "lon", -47.9),
        ("180", "lon", 180.0),
    ],
)
def test_parse_angle_accepts_decimal_and_dms(text: str, axis: str, expected: float) -> None:
    assert parse_angle(text, axis) == pytest.approx(expected, abs=1e-6)  # type: ignore[arg-type]


@pytest.mark.parametrize(
    ("text", "axis", "key"),
    [
        ("", "lat", "err_required"),
        ("150", "lat", "err_lat_range"),
        ("-90.5", "lat", "err_lat_range"),
        ("181", "lon", "err_lon_range"),
        ("abc", "lat", "err_number"),
        ("1.2.3", "lat", "err_number"),
        ("15N", "lon", "err_number"),
        ("47W", "lat", "err_number"),
        ("-15 S", "lat", "err_number"),
        ("15 75 0 S", "lat", "err_number"),
        ("1 2 3 4", "lat", "err_number"),
    ],
)
def test_parse_angle_rejects_with_a_reason(text: str, axis: str, key: str) -> None:
    with pytest.raises(FieldError) as info:
        parse_angle(text, axis)  # type: ignore[arg-type]
    assert info.value.key == key


def test_parse_elevation() -> None:
    assert parse_elevation("") is None
    assert parse_elevation(None) is None
    assert parse_elevation("1 171,5".replace(" ", "")) == 1171.5
    with pytest.raises(FieldError, match="err_elev_range"):
        parse_elevation("12000")
    with pytest.raises(FieldError, match="err_elev_number"):
        parse_elevation("high")


def test_resolve_dates_for_each_mode() -> None:
    assert resolve_dates(
        "recent", start=None, end=None, recent_days="7", forecast_days=None, today=TODAY
    ) == (date(2026, 11, 21), date(2026, 11, 27))
    assert resolve_dates(
        "forecast", start=None, end=None, recent_days=None, forecast_days=16, today=TODAY
    ) == (TODAY, date(2026, 12, 13))
    assert resolve_dates(
        "range",
        start="2020-01-01",
        end="2020-12-31",
        recent_days=None,
        forecast_days=None,
        today=TODAY,
    ) == (date(2020, 1, 1), date(2020, 12, 31))


@pytest.mark.parametrize(
    ("mode", "start", "end", "forecast", "key"),
    [
        ("range", "2020-02-01", "2020-01-01", None, "err_dates_order"),
        ("range", None, "2020-01-01", None, "err_dates_missing"),
        ("forecast", None, None, 17, "err_days_range"),
        ("forecast", None, None, "x", "err_days_range"),
    ],
)
def test_resolve_dates_errors(
    mode: str, start: str | None, end: str | None, forecast: object, key: str
) -> None:
    with pytest.raises(FieldError) as info:
        resolve_dates(
            mode,
            start=start,
            end=end,
            recent_days=None,
            forecast_days=forecast,  # type: ignore[arg-type]
            today=TODAY,
        )
    assert info.value.key == key


def test_read_form_builds_the_api_request() -> None:
    result = read_form(
        lat="15°47'S",
        lon="-47.93",
        elevation="1171",
        mode="recent",
        start=None,
        end=None,
        recent_days="14",
        forecast_days=None,
        lang="en",
        today=TODAY,
    )
    assert result.errors == {}
    assert result.request == {
        "lat": pytest.approx(-15.783333),
        "lon": -47.93,
        "start": "2026-11-14",
        "end": "2026-11-27",
        "elevation": 1171.0,
    }


def test_read_form_names_every_bad_field_in_the_chosen_language() -> None:
    result = read_form(
        lat="150",
        lon="",
        elevation="x",
        mode="range",
        start="2021-01-02",
        end="2021-01-01",
        recent_days=None,
        forecast_days=None,
        lang="pt",
        today=TODAY,
    )
    assert result.request is None
    assert result.errors == {
        "lat": "A latitude deve estar entre -90 e 90.",
        "lon": "Obrigatório.",
        "elevation": "A altitude deve ser um número de metros.",
        "dates": "A data de início é posterior à data de fim.",
    }
