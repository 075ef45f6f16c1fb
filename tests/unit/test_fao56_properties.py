"""Property tests (hypothesis) of the FAO-56 daily chain and the fused kernel."""

from __future__ import annotations

import numpy as np
from hypothesis import assume, given, settings
from hypothesis import strategies as st
from hypothesis.extra.numpy import arrays

from evapo.schema import DailySeries
from evapo.science import fao56
from evapo.science.daily import eto_daily
from evapo.science.kernel import eto_daily_fast

FAST = settings(max_examples=60, deadline=None)


@st.composite
def days(draw: st.DrawFn, n: int | None = None) -> tuple[DailySeries, float, float]:
    """Physically valid complete daily inputs at one site (Rs between 0 and Ra)."""
    size = draw(st.integers(1, 40)) if n is None else n
    lat = draw(st.floats(-90.0, 90.0))
    elev = draw(st.floats(-400.0, 6000.0))
    start = draw(st.integers(0, 20000))
    dates = np.datetime64("1970-01-01") + np.arange(start, start + size)
    tmin = draw(arrays(np.float64, size, elements=st.floats(-60.0, 40.0)))
    dtr = draw(arrays(np.float64, size, elements=st.floats(0.0, 25.0)))
    rh = draw(arrays(np.float64, size, elements=st.floats(0.0, 100.0)))
    wind = draw(arrays(np.float64, size, elements=st.floats(0.0, 20.0)))
    frac = draw(arrays(np.float64, size, elements=st.floats(0.0, 1.0)))
    doy = (dates - dates.astype("datetime64[Y]")).astype(int) + 1
    ra = fao56.extraterrestrial_radiation_daily(np.deg2rad(lat), doy)
    series = DailySeries(
        dates=dates,
        values={
            "tmax_c": tmin + dtr,
            "tmin_c": tmin,
            "rh_mean_pct": rh,
            "wind2m_ms": wind,
            "rs_mj_m2": frac * ra,
        },
        flags=np.zeros(size, np.uint32),
    )
    return series, lat, elev


@FAST
@given(days())
def test_finite_for_every_valid_input(case: tuple[DailySeries, float, float]) -> None:
    series, lat, elev = case
    result = eto_daily(series, lat_deg=lat, elevation_m=elev)
    assert np.all(np.isfinite(result.eto))
    assert np.all(result.flags == 0)
    for name, values in result.details.items():
        assert np.all(np.isfinite(values)), name


@FAST
@given(days())
def test_vectorised_equals_row_by_row(case: tuple[DailySeries, float, float]) -> None:
    series, lat, elev = case
    whole = eto_daily(series, lat_deg=lat, elevation_m=elev).eto
    for i in range(len(series)):
        one = DailySeries(
            dates=series.dates[i : i + 1],
            values={k: v[i : i + 1] for k, v in series.values.items()},
            flags=series.flags[i : i + 1],
        )
        assert eto_daily(one, lat_deg=lat, elevation_m=elev).eto[0] == whole[i]


@FAST
@given(days(), st.data())
def test_a_nan_stays_local(case: tuple[DailySeries, float, float], data: st.DataObject) -> None:
    series, lat, elev = case
    before = eto_daily(series, lat_deg=lat, elevation_m=elev)
    row = data.draw(st.integers(0, len(series) - 1))
    column = data.draw(st.sampled_from(sorted(series.values)))
    series.values[column] = series.values[column].copy()
    series.values[column][row] = np.nan
    after = eto_daily(series, lat_deg=lat, elevation_m=elev)
    others = np.arange(len(series)) != row
    np.testing.assert_array_equal(after.eto[others], before.eto[others])
    np.testing.assert_array_equal(after.flags[others], before.flags[others])


@FAST
@given(days(n=1), st.floats(0.01, 0.99))
def test_monotone_in_solar_radiation(case: tuple[DailySeries, float, float], step: float) -> None:
    """More Rs gives more ET0 where Eq. 38-39 make Rn grow with Rs.

    dRn/dRs = 0.77 - 1.35 sigma (Tmax^4 + Tmin^4) / 2 (0.34 - 0.14 sqrt(ea)) / Rso while
    Rs < Rso: at small Rso (winter, high latitude) extra Rs means clearer skies and more
    longwave loss, so FAO-56 itself is not monotone there.
    """
    series, lat, elev = case
    base = eto_daily(series, lat_deg=lat, elevation_m=elev)
    d = base.details
    tx = series["tmax_c"] + fao56.KELVIN_RNL
    tn = series["tmin_c"] + fao56.KELVIN_RNL
    lw = fao56.STEFAN_BOLTZMANN_DAY * (tx**4 + tn**4) / 2 * (0.34 - 0.14 * np.sqrt(d["ea"]))
    assume(d["rso"][0] > 0 and 0.77 - 1.35 * lw[0] / d["rso"][0] > 1e-6)
    rs = series["rs_mj_m2"]
    series.values["rs_mj_m2"] = rs + step * (d["ra"] - rs)
    assume(series["rs_mj_m2"][0] > rs[0])
    more = eto_daily(series, lat_deg=lat, elevation_m=elev)
    assert more.eto[0] > base.eto[0]


@FAST
@given(
    t=st.floats(-30.0, 45.0),
    u2=st.one_of(st.just(0.0), st.floats(0.1, 20.0)),
    es=st.floats(0.0, 8.0),
    rn=st.floats(-5.0, 30.0),
    d_vpd=st.floats(0.001, 3.0),
    d_rn=st.floats(0.001, 3.0),
)
def test_monotone_in_vpd_and_net_radiation(
    *, t: float, u2: float, es: float, rn: float, d_vpd: float, d_rn: float
) -> None:
    """Eq. 6 grows with the vapour pressure deficit (when there is wind) and with Rn."""
    gamma = float(fao56.psychrometric_constant(fao56.atmospheric_pressure(300.0)))
    delta = float(fao56.slope_vapour_pressure_curve(t))
    common = {"t_c": t, "es": es, "delta": delta, "gamma": gamma}
    ea = es / 2.0
    base = fao56.penman_monteith_daily(u2=u2, ea=ea, rn=rn, **common)
    drier = fao56.penman_monteith_daily(u2=u2, ea=ea - d_vpd, rn=rn, **common)
    sunnier = fao56.penman_monteith_daily(u2=u2, ea=ea, rn=rn + d_rn, **common)
    assert sunnier > base, (sunnier, base)
    if u2 > 0:
        assert drier > base, (drier, base)
    else:
        assert drier == base


@FAST
@given(days(), st.floats(-89.0, 60.0))
def test_kernel_equals_numpy_chain(case: tuple[DailySeries, float, float], cold: float) -> None:
    """eto_daily_fast == eto_daily to 1e-9 mm/day, including the exact path for extreme cold."""
    series, lat, elev = case
    series.values["tmin_c"] = series["tmin_c"].copy()
    series.values["tmin_c"][0] = min(cold, series["tmax_c"][0])
    ref = eto_daily(series, lat_deg=lat, elevation_m=elev)
    v = series.values
    fast = eto_daily_fast(
        v["tmax_c"],
        v["tmin_c"],
        v["rh_mean_pct"],
        v["rs_mj_m2"],
        v["wind2m_ms"],
        doy=ref.details["doy"],
        lat_deg=lat,
        elevation_m=elev,
    )
    np.testing.assert_allclose(fast, ref.eto, rtol=0, atol=1e-9)
    fast_ea = eto_daily_fast(
        v["tmax_c"],
        v["tmin_c"],
        ref.details["ea"],
        v["rs_mj_m2"],
        v["wind2m_ms"],
        doy=ref.details["doy"],
        lat_deg=lat,
        elevation_m=elev,
        humidity_kind="ea",
    )
    np.testing.assert_allclose(fast_ea, ref.eto, rtol=0, atol=1e-9)
