"""Planner: which sources serve which days, and what cannot be served, decided before any fetch."""

from __future__ import annotations

from datetime import date, timedelta

import pytest

from evapo.sources import SOURCE_NAMES, in_usa, plan_sources

TODAY = date(2026, 11, 28)
BRAZIL = (-8.44, -43.86)
KANSAS = (39.0, -95.0)


def test_thirty_year_history_uses_both_historical_sources() -> None:
    plan = plan_sources(*BRAZIL, date(1991, 1, 1), date(2020, 12, 31), today=TODAY)
    assert plan.ok
    assert plan.per_source["nasa_power"] == (date(1991, 1, 1), date(2020, 12, 31))
    assert plan.per_source["openmeteo_archive"] == (date(1991, 1, 1), date(2020, 12, 31))
    for name in ("openmeteo_forecast", "met_norway", "nws"):
        assert plan.per_source[name] is None
        assert name in plan.reasons
    assert plan.reasons["nws"] == "serves only the USA"
    assert plan.sources_for(date(2000, 6, 1)) == ["nasa_power", "openmeteo_archive"]


def test_days_before_1990_are_unservable_with_reason() -> None:
    plan = plan_sources(*BRAZIL, date(1985, 1, 1), date(1990, 1, 10), today=TODAY)
    assert not plan.ok
    assert plan.unservable == [
        (date(1985, 1, 1), date(1989, 12, 31), "before 1990-01-01, the first day Evapo serves")
    ]
    assert plan.per_source["nasa_power"] == (date(1990, 1, 1), date(1990, 1, 10))
    assert "1985-01-01..1989-12-31" in plan.describe()


def test_beyond_forecast_horizon_is_unservable() -> None:
    end = TODAY + timedelta(days=30)
    plan = plan_sources(*BRAZIL, TODAY, end, today=TODAY)
    assert not plan.ok
    (first, last, why) = plan.unservable[-1]
    assert first == TODAY + timedelta(days=16)
    assert last == end
    assert "forecast horizon" in why
    assert plan.per_source["openmeteo_forecast"] == (TODAY, TODAY + timedelta(days=15))
    assert plan.per_source["met_norway"] == (TODAY, TODAY + timedelta(days=8))


def test_nws_only_outside_usa_serves_nothing() -> None:
    plan = plan_sources(*BRAZIL, TODAY, TODAY + timedelta(days=2), sources=["nws"], today=TODAY)
    assert not plan.ok
    assert plan.per_source == {"nws": None}
    assert plan.reasons == {"nws": "serves only the USA"}
    assert plan.unservable[0][:2] == (TODAY, TODAY + timedelta(days=2))
    assert "serves only the USA" in plan.unservable[0][2]


def test_nws_inside_usa_serves_the_week() -> None:
    plan = plan_sources(*KANSAS, TODAY, TODAY + timedelta(days=6), sources=["nws"], today=TODAY)
    assert plan.ok
    assert plan.per_source["nws"] == (TODAY, TODAY + timedelta(days=6))


def test_gap_between_archive_lag_and_forecast_sources() -> None:
    # Only the archive (5-day lag) and MET Norway (from today): the days in between are a gap.
    start, end = TODAY - timedelta(days=10), TODAY + timedelta(days=1)
    plan = plan_sources(
        *BRAZIL, start, end, sources=["openmeteo_archive", "met_norway"], today=TODAY
    )
    assert plan.unservable == [
        (
            TODAY - timedelta(days=4),
            TODAY - timedelta(days=1),
            plan.unservable[0][2],
        )
    ]
    assert "no selected source" in plan.unservable[0][2]


def test_recent_days_served_by_forecast_api_past_days() -> None:
    plan = plan_sources(*BRAZIL, TODAY - timedelta(days=3), TODAY, today=TODAY)
    assert plan.ok
    assert plan.per_source["openmeteo_forecast"] == (TODAY - timedelta(days=3), TODAY)
    assert plan.per_source["openmeteo_archive"] is None
    assert plan.per_source["nasa_power"] == (TODAY - timedelta(days=3), TODAY - timedelta(days=2))


@pytest.mark.parametrize(
    ("lat", "lon", "start", "end", "field"),
    [
        (91.0, 0.0, date(2000, 1, 1), date(2000, 1, 2), "lat"),
        (0.0, -181.0, date(2000, 1, 1), date(2000, 1, 2), "lon"),
        (float("nan"), 0.0, date(2000, 1, 1), date(2000, 1, 2), "lat"),
        (0.0, 0.0, date(2000, 1, 2), date(2000, 1, 1), "end"),
    ],
)
def test_bad_input_names_the_field(
    lat: float, lon: float, start: date, end: date, field: str
) -> None:
    with pytest.raises(ValueError, match=f"^{field}:"):
        plan_sources(lat, lon, start, end, today=TODAY)


def test_unknown_source_is_refused() -> None:
    with pytest.raises(ValueError, match="sources: unknown"):
        plan_sources(*BRAZIL, TODAY, TODAY, sources=["weather_channel"], today=TODAY)


def test_source_names_and_usa_boxes() -> None:
    assert SOURCE_NAMES == (
        "nasa_power",
        "openmeteo_archive",
        "openmeteo_forecast",
        "met_norway",
        "nws",
    )
    assert in_usa(*KANSAS)
    assert in_usa(61.2, -149.9)  # Anchorage
    assert in_usa(21.3, -157.8)  # Honolulu
    assert not in_usa(*BRAZIL)
    assert not in_usa(45.5, -73.6)  # Montreal
