from __future__ import annotations

import numpy as np
import pytest

from evapo.schema import COLUMNS, DailySeries, Flag, flag_labels, parse_flag_labels


def test_empty_series_has_every_column_missing() -> None:
    dates = np.arange("2020-01-01", "2020-01-04", dtype="datetime64[D]")
    s = DailySeries.empty(dates, source="x")
    assert len(s) == 3
    assert set(s.values) == set(COLUMNS)
    assert all(np.isnan(s[c]).all() for c in COLUMNS)


def test_wrong_length_column_is_refused() -> None:
    dates = np.arange("2020-01-01", "2020-01-04", dtype="datetime64[D]")
    with pytest.raises(ValueError, match="tmax_c"):
        DailySeries(dates=dates, values={"tmax_c": np.ones(2)}, flags=np.zeros(3, np.uint32))


def test_unknown_column_is_refused() -> None:
    dates = np.arange("2020-01-01", "2020-01-02", dtype="datetime64[D]")
    with pytest.raises(ValueError, match="unknown"):
        DailySeries(dates=dates, values={"tmax": np.ones(1)}, flags=np.zeros(1, np.uint32))


def test_flag_labels_round_trip() -> None:
    value = int(Flag.RS_FROM_TEMPERATURE | Flag.WIND_DEFAULT)
    text = flag_labels(value)
    assert text == "rs:hargreaves;wind:default"
    assert parse_flag_labels(text) == value
    assert flag_labels(0) == ""
