"""Fixtures shared by the unit tests: a small reference folder and the calibration learned on it."""

from __future__ import annotations

from pathlib import Path

import pytest

from evapo.calibration import Calibration, fit_calibration
from evapo.validation import read_reference

from ._reference import SMALL_CITIES, make_reference


@pytest.fixture(scope="session")
def small_reference(shared_data: Path, tmp_path_factory: pytest.TempPathFactory) -> Path:
    """Three neighbouring cities of the shared data, 2015-2016."""
    target = tmp_path_factory.mktemp("small-ref")
    return make_reference(shared_data, target, SMALL_CITIES, start="2015-01-01", end="2016-12-31")


@pytest.fixture(scope="session")
def learned(small_reference: Path) -> Calibration:
    """The calibration (with anchors) learned on :func:`small_reference`."""
    return fit_calibration(read_reference(small_reference))
