"""Unit conversions at the edge: factors, spellings, refusals, NaN, round trips."""

from __future__ import annotations

import numpy as np
import pytest
from hypothesis import given
from hypothesis import strategies as st

from evapo.science.units import (
    CANONICAL,
    LANGLEY_MJ_M2,
    StationUnits,
    UnitError,
    accepted_units,
    dew_point_from_vapour_pressure,
    from_canonical,
    normalise_unit,
    station_to_canonical,
    to_canonical,
    vapour_pressure_from_specific_humidity,
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


# --- Humidity inputs and station tables ---------------------------------------------------------


def test_dew_point_inverts_eq14() -> None:
    tdew = np.array([-20.0, 0.0, 9.91, 25.0, np.nan])
    ea = 0.6108 * np.exp(17.27 * tdew / (tdew + 237.3))
    np.testing.assert_allclose(dew_point_from_vapour_pressure(ea), tdew, rtol=0, atol=1e-10)
    assert np.isnan(dew_point_from_vapour_pressure(np.array([0.0, -1.0]))).all()


def test_specific_humidity_facts() -> None:
    # refet test facts (Fallon, 2015-07-01): q 0.008691370735727117 kg/kg at 87.8188 kPa is
    # ea 1.2206674169951346 kPa.
    ea = vapour_pressure_from_specific_humidity(0.008691370735727117, 87.81876435813037)
    assert float(ea) == pytest.approx(1.2206674169951346)


def test_station_table_in_us_units() -> None:
    columns = {
        "tmax": np.array([102.80]),
        "tmin": np.array([66.65]),
        "rs": np.array([674.07]),
        "wind": np.array([4.80]),
        "ea": np.array([12.206674169951346]),
        "precip": np.array([0.1]),
        "note": np.array([7.0]),
    }
    units = StationUnits(
        temperature="degF",
        radiation="Langleys/day",
        wind="mph",
        vapour_pressure="hPa",
        precipitation="in",
    )
    out = station_to_canonical(columns, units)
    assert out["tmax_c"][0] == pytest.approx(39.333333, abs=1e-5)
    assert out["tmin_c"][0] == pytest.approx(19.25)
    assert out["rs_mj_m2"][0] == pytest.approx(28.22196276)
    assert out["wind_ms"][0] == pytest.approx(2.145792)
    assert out["precip_mm"][0] == pytest.approx(2.54)
    assert out["tdew_c"][0] == pytest.approx(float(to_canonical(49.84, "temperature", "degF")))
    assert out["note"][0] == 7.0
    assert "ea" not in out and "tmax" not in out


def test_station_table_specific_humidity_and_dew_point_priority() -> None:
    columns = {
        "tdew": np.array([10.0, np.nan]),
        "q": np.array([8.691370735727117, 8.691370735727117]),
        "pressure": np.array([878.1876435813037, 878.1876435813037]),
    }
    out = station_to_canonical(columns, StationUnits(specific_humidity="g/kg", pressure="hPa"))
    assert out["tdew_c"][0] == 10.0  # a measured dew point wins
    ea = 0.6108 * np.exp(17.27 * out["tdew_c"][1] / (out["tdew_c"][1] + 237.3))
    assert ea == pytest.approx(1.2206674169951346)


@pytest.mark.parametrize(
    ("columns", "message"),
    [
        ({"tmax": np.array([1.0]), "tmax_c": np.array([1.0])}, "duplicates column 'tmax_c'"),
        ({"q": np.array([0.01])}, "needs a 'pressure' column"),
        ({"pressure": np.array([90.0])}, "only used with 'q'"),
        ({"ea": np.array([1.0, -0.2])}, "at row 2 is not positive"),
    ],
)
def test_station_table_refusals(columns: dict[str, np.ndarray], message: str) -> None:
    with pytest.raises(UnitError, match=message):
        station_to_canonical(columns, StationUnits())


def test_station_units_are_normalised_and_checked() -> None:
    assert StationUnits(temperature="F").temperature == "degF"
    with pytest.raises(UnitError, match="radiation_daily"):
        StationUnits(radiation="degF")
