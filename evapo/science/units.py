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
