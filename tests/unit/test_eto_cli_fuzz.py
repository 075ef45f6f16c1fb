"""Hypothesis on the CSV input of `evapo eto`: no traceback; exit 0, or 2 with a message."""

from __future__ import annotations

import math
import tempfile
from pathlib import Path

from hypothesis import HealthCheck, given, settings
from hypothesis import strategies as st
from typer.testing import CliRunner

from evapo.cli import app

runner = CliRunner()

KNOWN = [
    "date",
    "tmax_c",
    "tmin_c",
    "tmean_c",
    "rh_max_pct",
    "rh_min_pct",
    "rh_mean_pct",
    "tdew_c",
    "wind_ms",
    "rs_mj_m2",
    "precip_mm",
    "tmax",
    "tmin",
    "rs",
    "wind",
    "ea",
]
SETTINGS = settings(
    max_examples=120,
    deadline=None,
    derandomize=True,
    suppress_health_check=[HealthCheck.too_slow, HealthCheck.filter_too_much],
)

numbers = st.one_of(
    st.floats(allow_nan=True, allow_infinity=True, width=32).map(repr),
    st.floats(-60, 60).map(lambda v: f"{v:.2f}"),
    st.integers(-(10**12), 10**12).map(str),
    st.sampled_from(["", "NA", "nan", "-999", "1e400", "abc", '"5"', "1,5", " 3 ", "--"]),
)
dates = st.one_of(
    st.dates().map(str),
    st.sampled_from(["2021-02-30", "not-a-date", "", "2021/01/01", "20210101", "1-1-1"]),
)


@st.composite
def station_csv(draw: st.DrawFn) -> str:
    """A CSV with a plausible or broken header and rows of plausible or broken values."""
    columns = draw(
        st.lists(
            st.one_of(st.sampled_from(KNOWN), st.text(min_size=0, max_size=8)),
            min_size=1,
            max_size=9,
        )
    )
    n_rows = draw(st.integers(0, 6))
    lines = [",".join(columns)]
    for _ in range(n_rows):
        cells = [draw(dates) if name == "date" else draw(numbers) for name in columns]
        if draw(st.booleans()) and cells:
            cells = cells[: draw(st.integers(0, len(cells)))]  # ragged row
        lines.append(",".join(cells))
    return "\n".join(lines) + draw(st.sampled_from(["\n", "", "\r\n"]))


def run(content: bytes, *options: str) -> tuple[int, str, str, BaseException | None]:
    with tempfile.TemporaryDirectory() as tmp:
        path = Path(tmp) / "in.csv"
        path.write_bytes(content)
        result = runner.invoke(app, ["eto", str(path), *options])
    return result.exit_code, result.stdout, result.stderr, result.exception


def assert_clean(code: int, out: str, err: str, exc: BaseException | None) -> None:
    """Exit 0 with a CSV, or exit 2 with one 'evapo eto: error' message; never a traceback."""
    assert "Traceback" not in out + err, err[-2000:]
    assert exc is None or isinstance(exc, SystemExit), repr(exc)
    assert code in (0, 2), (code, err[-2000:])
    if code == 0:
        assert out.startswith("date,eto_mm,flags"), out[:200]
    else:
        assert err.startswith("evapo eto: error:") or "Error" in err, err
        assert err.strip(), "exit 2 needs a message"


@SETTINGS
@given(text=station_csv(), lat=st.floats(-90, 90), elevation=st.floats(-400, 8000))
def test_structured_garbage_never_crashes(text: str, lat: float, elevation: float) -> None:
    assert_clean(*run(text.encode(), "--lat", repr(lat), "--elevation", repr(elevation)))


@settings(SETTINGS, max_examples=60)
@given(content=st.binary(max_size=300))
def test_arbitrary_bytes_never_crash(content: bytes) -> None:
    assert_clean(*run(content, "--lat", "-7.2", "--elevation", "300"))


@settings(SETTINGS, max_examples=60)
@given(
    lat=st.floats(allow_nan=True, allow_infinity=True),
    elevation=st.floats(allow_nan=True, allow_infinity=True),
)
def test_bad_site_options_are_refused_cleanly(lat: float, elevation: float) -> None:
    csv = b"date,tmax_c,tmin_c\n2021-01-01,30,20\n"
    code, out, err, exc = run(csv, "--lat", repr(lat), "--elevation", repr(elevation))
    assert_clean(code, out, err, exc)
    valid = math.isfinite(lat) and -90 <= lat <= 90 and math.isfinite(elevation)
    if not valid:
        assert code == 2
