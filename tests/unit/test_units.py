"""Unit conversions at the edge: factors, spellings, refusals, NaN, round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evapo.science.units import (
    CANONICAL,
    LANGLEY_MJ_M2,
    UnitError,
    accepted_units,
    from_canonical,
    normalise_unit,
    to_canonical,
)


@pytest.mark.parametrize(
    ("quantity", "unit", "value", "expected"),
    [
        ("temperature", "degF", 32.0, 0.0),
        ("temperature", "degF", 212.0, 100.0),
        ("temperature", "degF", -40.0, -40.0),
        ("temperature", "K", 273.15, 0.0),
        ("temperature", "degC", 21.5, 21.5),
        # Fallon AgriMet 2015-07-01: 674.07 Langleys = 28.2219 MJ m-2 (Ref-ET factor).
        ("radiation_daily", "Langley day-1", 674.07, 674.07 * 0.041868),
        ("radiation_daily", "W m-2", 100.0, 8.64),
        ("radiation_daily", "kWh m-2 day-1", 5.0, 18.0),
        ("radiation_hourly", "W m-2", 1000.0, 3.6),
        ("radiation_hourly", "Langley h-1", 61.16, 61.16 * 0.041868),
        ("wind", "mph", 4.80, 4.80 * 0.44704),
        ("wind", "km h-1", 36.0, 10.0),
        ("wind", "knot", 1.0, 0.514444444),
        ("vapour_pressure", "hPa", 12.2, 1.22),
        ("vapour_pressure", "Pa", 1220.0, 1.22),
        ("pressure", "inHg", 29.92, 101.3207),
        ("specific_humidity", "g kg-1", 8.69, 0.00869),
        ("length", "ft", 3965.0, 1208.532),
        ("precipitation", "in", 1.0, 25.4),
    ],
)
def test_factor(quantity: str, unit: str, value: float, expected: float) -> None:
    got = to_canonical(value, quantity, unit)  # type: ignore[arg-type]
    assert float(got) == pytest.approx(expected, rel=1e-6, abs=1e-9)


@pytest.mark.parametrize(
    ("quantity", "spelling", "canonical"),
    [
        ("temperature", "F", "degF"),
        ("temperature", "°F", "degF"),
        ("temperature", "Fahrenheit", "degF"),
        ("temperature", "celsius", "degC"),
        ("radiation_daily", "W/m2", "W m-2"),
        ("radiation_daily", "Langleys/day", "Langley day-1"),
        ("radiation_daily", "ly/day", "Langley day-1"),
        ("radiation_daily", "MJ/m2/day", "MJ m-2 day-1"),
        ("radiation_hourly", "MJ/m2/h", "MJ m-2 h-1"),
        ("wind", "MPH", "mph"),
        ("wind", "m/s", "m s-1"),
        ("wind", "km/h", "km h-1"),
        ("vapour_pressure", "mbar", "hPa"),
        ("specific_humidity", "g/kg", "g kg-1"),
        ("length", "feet", "ft"),
    ],
)
def test_spellings(quantity: str, spelling: str, canonical: str) -> None:
    assert normalise_unit(quantity, spelling) == canonical  # type: ignore[arg-type]


def test_unknown_unit_names_quantity_and_choices() -> None:
    with pytest.raises(UnitError, match=r"'furlong/fortnight' is not accepted for wind.*mph"):
        to_canonical(1.0, "wind", "furlong/fortnight")


def test_unit_of_another_quantity_is_refused() -> None:
    # W m-2 is a radiation unit: never accepted (nor guessed) for temperature.
    with pytest.raises(UnitError, match="temperature"):
        to_canonical(300.0, "temperature", "W/m2")


def test_unknown_quantity() -> None:
    with pytest.raises(UnitError, match="unknown quantity"):
        accepted_units("humidity")  # type: ignore[arg-type]


def test_every_quantity_accepts_its_canonical_unit() -> None:
    for quantity, unit in CANONICAL.items():
        assert unit in accepted_units(quantity)  # type: ignore[arg-type]
        values = np.array([1.5, -2.0, np.nan])
        np.testing.assert_array_equal(to_canonical(values, quantity, unit), values)  # type: ignore[arg-type]


def test_nan_stays_local_and_input_untouched() -> None:
    raw = np.array([50.0, np.nan, 77.0])
    out = to_canonical(raw, "temperature", "degF")
    assert np.isnan(out[1])
    assert out[0] == pytest.approx(10.0)
    assert out[2] == pytest.approx(25.0)
    assert raw[0] == 50.0  # converted into a new array


def test_langley_factor_is_the_fao56_calorie() -> None:
    assert LANGLEY_MJ_M2 == 4.1868e-2


@given(
    value=st.floats(-1e4, 1e4, allow_nan=False),
    pair=st.sampled_from(
        [
            ("temperature", "degF"),
            ("temperature", "K"),
            ("radiation_daily", "W m-2"),
            ("radiation_daily", "Langley day-1"),
            ("radiation_hourly", "W m-2"),
            ("wind", "mph"),
            ("wind", "knot"),
            ("pressure", "inHg"),
            ("vapour_pressure", "hPa"),
        ]
    ),
)
def test_round_trip(value: float, pair: tuple[str, str]) -> None:
    quantity, unit = pair
    back = from_canonical(to_canonical(value, quantity, unit), quantity, unit)  # type: ignore[arg-type]
    assert float(back) == pytest.approx(value, rel=1e-12, abs=1e-9)
