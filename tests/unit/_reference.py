"""Small reference folders cut from the shared Brazilian data, for fast calibration tests."""

from __future__ import annotations

import shutil
from collections.abc import Sequence
from pathlib import Path

import pandas as pd

FOLDERS = ("nasa_power", "open_meteo", "xavier", "open_meteo_eto")
SMALL_CITIES = ["Barreiras_BA", "Sao_Desiderio_BA", "Formosa_do_Rio_Preto_BA"]
"""Three neighbouring cities (24-130 km apart) of the small reference fixture."""


def make_reference(
    shared: Path, target: Path, cities: Sequence[str], *, start: str, end: str
) -> Path:
    """Copy ``cities`` of the shared data, restricted to ``start``..``end``, into ``target``."""
    target.mkdir(parents=True, exist_ok=True)
    listing = pd.read_csv(shared / "cities.csv")
    listing[listing["city"].isin(cities)].to_csv(target / "cities.csv", index=False)
    for folder in FOLDERS:
        (target / folder).mkdir(exist_ok=True)
        for city in cities:
            frame = pd.read_csv(shared / folder / f"{city}.csv")
            keep = (frame["date"] >= start) & (frame["date"] <= end)
            frame[keep].to_csv(target / folder / f"{city}.csv", index=False)
    return target


def copy_city(source: Path, target: Path, city: str) -> None:
    """Copy one city's files between reference folders (cities.csv row appended)."""
    for folder in FOLDERS:
        (target / folder).mkdir(parents=True, exist_ok=True)
        shutil.copy(source / folder / f"{city}.csv", target / folder / f"{city}.csv")
