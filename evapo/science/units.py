"""Unit conversions at the edge: station units named explicitly, converted once to Evapo's units.

Science functions work only in the canonical units below; anything else is converted here, from a
unit the caller names (``degF``, ``W/m2``, ``Langley/day``, ``mph``, ...). A unit is never guessed
from the magnitude of the values: an unknown unit is an error naming the accepted ones.

Conversion factors (FAO-56 Annex 1; NIST SP 811):

- 1 Langley (cal cm-2) = 0.041868 MJ m-2 (International Table calorie, 4.1868 J, as FAO-56 Annex 1
  and the Ref-ET software use).
- A mean flux of 1 W m-2 over a day = 0.0864 MJ m-2 day-1; over an hour = 0.0036 MJ m-2 h-1.
- 1 mph = 0.44704 m s-1 (exact), 1 knot = 1852/3600 m s-1, 1 km h-1 = 1/3.6 m s-1.
- 1 ft = 0.3048 m, 1 in = 25.4 mm (exact); 1 inHg (0 degC) = 3.386389 kPa.
"""

from __future__ import annotations

from dataclasses import dataclass
from typing import Final, Literal

import numpy as np

from evapo.schema import FloatArray

Quantity = Literal[
    "temperature",
    "radiation_daily",
    "radiation_hourly",
    "wind",
    "vapour_pressure",
    "pressure",
    "specific_humidity",
    "length",
    "precipitation",
]


class UnitError(ValueError):
    """A unit name that Evapo does not accept for a quantity."""


@dataclass(frozen=True)
class _Linear:
    """``canonical = (value + offset) * scale``."""

    scale: float
    offset: float = 0.0


#: The unit every science function expects, per quantity.
CANONICAL: Final[dict[str, str]] = {
    "temperature": "degC",
    "radiation_daily": "MJ m-2 day-1",
    "radiation_hourly": "MJ m-2 h-1",
    "wind": "m s-1",
    "vapour_pressure": "kPa",
    "pressure": "kPa",
    "specific_humidity": "kg kg-1",
    "length": "m",
    "precipitation": "mm",
}

LANGLEY_MJ_M2: Final = 0.041868
"""One Langley (cal cm-2) in MJ m-2 (FAO-56 Annex 1)."""

_UNITS: Final[dict[str, dict[str, _Linear]]] = {
    "temperature": {
        "degC": _Linear(1.0),
        "degF": _Linear(5.0 / 9.0, -32.0),
        "K": _Linear(1.0, -273.15),
    },
    "radiation_daily": {
        "MJ m-2 day-1": _Linear(1.0),
        "W m-2": _Linear(0.0864),
        "Langley day-1": _Linear(LANGLEY_MJ_M2),
        "kWh m-2 day-1": _Linear(3.6),
    },
    "radiation_hourly": {
        "MJ m-2 h-1": _Linear(1.0),
        "W m-2": _Linear(0.0036),
        "Langley h-1": _Linear(LANGLEY_MJ_M2),
    },
    "wind": {
        "m s-1": _Linear(1.0),
        "mph": _Linear(0.44704),
        "km h-1": _Linear(1.0 / 3.6),
        "knot": _Linear(1852.0 / 3600.0),
    },
    "vapour_pressure": {
        "kPa": _Linear(1.0),
        "hPa": _Linear(0.1),
        "Pa": _Linear(0.001),
    },
    "pressure": {
        "kPa": _Linear(1.0),
        "hPa": _Linear(0.1),
        "Pa": _Linear(0.001),
        "inHg": _Linear(3.386389),
    },
    "specific_humidity": {
        "kg kg-1": _Linear(1.0),
        "g kg-1": _Linear(0.001),
    },
    "length": {
        "m": _Linear(1.0),
        "ft": _Linear(0.3048),
    },
    "precipitation": {
        "mm": _Linear(1.0),
        "in": _Linear(25.4),
    },
}

#: Spellings accepted for each unit (compared after lower-casing and removing spaces).
_ALIASES: Final[dict[str, tuple[str, ...]]] = {
    "degC": ("degc", "c", "°c", "celsius"),
    "degF": ("degf", "f", "°f", "fahrenheit"),
    "K": ("k", "kelvin"),
    "MJ m-2 day-1": ("mjm-2day-1", "mjm-2d-1", "mj/m2/day", "mj/m2/d", "mj/m2"),
    "MJ m-2 h-1": ("mjm-2h-1", "mjm-2hr-1", "mj/m2/h", "mj/m2/hr", "mj/m2"),
    "W m-2": ("wm-2", "w/m2", "w/m^2"),
    "Langley day-1": ("langleyday-1", "langley/day", "langleys/day", "ly/day", "cal/cm2/day"),
    "Langley h-1": ("langleyh-1", "langley/h", "langleys/h", "langley/hr", "langleys/hr", "ly/h"),
    "kWh m-2 day-1": ("kwhm-2day-1", "kwh/m2/day", "kwh/m2/d"),
    "m s-1": ("ms-1", "m/s"),
    "mph": ("mph", "mi/h"),
    "km h-1": ("kmh-1", "km/h", "kph"),
    "knot": ("knot", "knots", "kn", "kt"),
    "kPa": ("kpa",),
    "hPa": ("hpa", "mbar", "mb"),
    "Pa": ("pa",),
    "inHg": ("inhg",),
    "kg kg-1": ("kgkg-1", "kg/kg"),
    "g kg-1": ("gkg-1", "g/kg"),
    "m": ("m", "metre", "meter", "metres", "meters"),
    "ft": ("ft", "feet", "foot"),
    "mm": ("mm",),
    "in": ("in", "inch", "inches"),
}


def accepted_units(quantity: Quantity) -> tuple[str, ...]:
    """Canonical names of the units accepted for ``quantity``."""
    if quantity not in _UNITS:
        raise UnitError(f"unknown quantity {quantity!r}; known: {', '.join(_UNITS)}")
    return tuple(_UNITS[quantity])


def normalise_unit(quantity: Quantity, unit: str) -> str:
    """The canonical spelling of ``unit`` for ``quantity`` (raises :class:`UnitError`)."""
    allowed = accepted_units(quantity)
    if unit in allowed:
        return unit
    key = unit.strip().lower().replace(" ", "")
    for name in allowed:
        if key == name.lower().replace(" ", "") or key in _ALIASES.get(name, ()):
            return name
    raise UnitError(
        f"unit {unit!r} is not accepted for {quantity}; use one of: {', '.join(allowed)}"
    )


def to_canonical(values: float | FloatArray, quantity: Quantity, unit: str) -> FloatArray:
    """Convert ``values`` in ``unit`` to the canonical unit of ``quantity`` (NaN stays NaN)."""
    rule = _UNITS[quantity][normalise_unit(quantity, unit)]
    arr = np.asarray(values, dtype=np.float64)
    if rule.scale == 1.0 and rule.offset == 0.0:
        return arr.copy()
    return (arr + rule.offset) * rule.scale


def from_canonical(values: float | FloatArray, quantity: Quantity, unit: str) -> FloatArray:
    """Inverse of :func:`to_canonical`: canonical values expressed in ``unit``."""
    rule = _UNITS[quantity][normalise_unit(quantity, unit)]
    arr = np.asarray(values, dtype=np.float64)
    return arr / rule.scale - rule.offset


# --- Humidity inputs at the edge --------------------------------------------------------------


def dew_point_from_vapour_pressure(ea_kpa: float | FloatArray) -> FloatArray:
    """Dew point temperature from actual vapour pressure [degC] (inverse of FAO-56 Eq. 14).

    ``Tdew = 237.3 x / (17.27 - x)`` with ``x = ln(ea / 0.6108)`` and ``ea_kpa`` [kPa] > 0, so
    that ``e0(Tdew) = ea`` exactly (ASCE-EWRI 2005 Eq. 8). Non-positive ``ea`` gives NaN.
    """
    ea = np.asarray(ea_kpa, dtype=np.float64)
    with np.errstate(divide="ignore", invalid="ignore"):
        x = np.log(np.where(ea > 0.0, ea, np.nan) / 0.6108)
    return np.asarray(237.3 * x / (17.27 - x), dtype=np.float64)


def vapour_pressure_from_specific_humidity(
    q_kgkg: float | FloatArray, pressure_kpa: float | FloatArray
) -> FloatArray:
    """Actual vapour pressure from specific humidity and air pressure [kPa].

    ``ea = q P / (0.622 + 0.378 q)`` with ``q_kgkg`` q [kg kg-1] and ``pressure_kpa`` P [kPa],
    the inverse of the definition ``q = 0.622 ea / (P - 0.378 ea)`` (0.622: ratio of the molar
    masses of water vapour and dry air).
    """
    q = np.asarray(q_kgkg, dtype=np.float64)
    return np.asarray(q * np.asarray(pressure_kpa, dtype=np.float64) / (0.622 + 0.378 * q))


# --- Station tables ---------------------------------------------------------------------------


@dataclass(frozen=True)
class StationUnits:
    """The unit of each quantity in a station table, named by the user (never guessed)."""

    temperature: str = "degC"
    radiation: str = "MJ m-2 day-1"
    wind: str = "m s-1"
    vapour_pressure: str = "kPa"
    pressure: str = "kPa"
    specific_humidity: str = "kg kg-1"
    precipitation: str = "mm"

    def __post_init__(self) -> None:
        for name, quantity in _UNIT_FIELDS.items():
            object.__setattr__(self, name, normalise_unit(quantity, getattr(self, name)))


_UNIT_FIELDS: Final[dict[str, Quantity]] = {
    "temperature": "temperature",
    "radiation": "radiation_daily",
    "wind": "wind",
    "vapour_pressure": "vapour_pressure",
    "pressure": "pressure",
    "specific_humidity": "specific_humidity",
    "precipitation": "precipitation",
}

#: Unit-free station columns: the canonical column each becomes and the unit field it is read in.
STATION_COLUMNS: Final[dict[str, tuple[str, str]]] = {
    "tmax": ("tmax_c", "temperature"),
    "tmin": ("tmin_c", "temperature"),
    "tmean": ("tmean_c", "temperature"),
    "tdew": ("tdew_c", "temperature"),
    "rs": ("rs_mj_m2", "radiation"),
    "wind": ("wind_ms", "wind"),
    "precip": ("precip_mm", "precipitation"),
    "rh_mean": ("rh_mean_pct", ""),
    "rh_max": ("rh_max_pct", ""),
    "rh_min": ("rh_min_pct", ""),
    "ea": ("", "vapour_pressure"),
    "q": ("", "specific_humidity"),
    "pressure": ("", "pressure"),
}


def station_to_canonical(
    columns: dict[str, FloatArray], units: StationUnits
) -> dict[str, FloatArray]:
    """Convert unit-free station columns (:data:`STATION_COLUMNS`) to canonical columns.

    Canonical columns already present (``tmax_c``, ``wind_ms``, ...) are kept as they are; a
    column given both ways is an error. Humidity: ``ea`` (``units.vapour_pressure``) or ``q``
    with ``pressure`` become ``tdew_c`` (exactly, via :func:`dew_point_from_vapour_pressure`) on
    rows where no dew point is given. Returns a new dict; other columns pass through.
    """
    out = {k: v for k, v in columns.items() if k not in STATION_COLUMNS}
    for name, (target, field) in STATION_COLUMNS.items():
        if name not in columns or not target:
            continue
        if target in columns:
            raise UnitError(f"column {name!r} duplicates column {target!r}: give one of them")
        if field:
            unit = getattr(units, field)
            out[target] = to_canonical(columns[name], _UNIT_FIELDS[field], unit)
        else:
            out[target] = np.asarray(columns[name], dtype=np.float64)
    ea: FloatArray | None = None
    if "ea" in columns:
        ea = to_canonical(columns["ea"], "vapour_pressure", units.vapour_pressure)
    if "q" in columns:
        if "pressure" not in columns:
            raise UnitError("column 'q' (specific humidity) needs a 'pressure' column as well")
        q = to_canonical(columns["q"], "specific_humidity", units.specific_humidity)
        p = to_canonical(columns["pressure"], "pressure", units.pressure)
        from_q = vapour_pressure_from_specific_humidity(q, p)
        ea = from_q if ea is None else np.where(np.isfinite(ea), ea, from_q)
    elif "pressure" in columns:
        raise UnitError("column 'pressure' is only used with 'q' (specific humidity)")
    if ea is not None:
        bad = np.flatnonzero(np.isfinite(ea) & (ea <= 0.0))
        if bad.size:
            raise UnitError(
                f"humidity: vapour pressure {ea[bad[0]]:g} kPa at row {int(bad[0]) + 1} "
                "is not positive"
            )
        tdew = dew_point_from_vapour_pressure(ea)
        given = out.get("tdew_c")
        out["tdew_c"] = tdew if given is None else np.where(np.isfinite(given), given, tdew)
    return out
