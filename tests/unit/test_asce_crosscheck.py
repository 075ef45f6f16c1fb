"""ASCE daily ET against the independent refet library on 12 cities x 30 years of real weather.

Inputs: the NASA POWER daily series of ``brazil-eto-validation`` (Tmax, Tmin, RH mean, wind at 2 m,
Rs), 1991-2020, 131 496 days. Both sides get identical inputs: ea from RH mean (ASCE Eq. 14,
FAO-56 Eq. 19) and the same 2 m wind (refet always applies Eq. 33, whose factor at 2 m is
1.00023, so its ``uz`` is divided by that factor). refet (0.5) is a test-only dependency.
"""

from __future__ import annotations

from dataclasses import replace
from pathlib import Path

import numpy as np
import pandas as pd
import pytest
import refet

from evapo.schema import DailySeries
from evapo.science import asce, fao56
from evapo.science.daily import STRICT, day_of_year

TOLERANCE_MM = 1e-6


def _cities(shared_data: Path) -> list[tuple[DailySeries, float, float]]:
    sites = pd.read_csv(shared_data / "cities.csv")
    out = []
    lats = sites["lat"].to_numpy(np.float64)
    alts = sites["alt"].to_numpy(np.float64)
    for city, lat, alt in zip(sites["city"], lats, alts, strict=True):
        df = pd.read_csv(shared_data / "nasa_power" / f"{city}.csv")
        series = DailySeries(
            dates=df["date"].to_numpy(dtype="datetime64[D]"),
            values={
                "tmax_c": df["T2M_MAX"].to_numpy(np.float64),
                "tmin_c": df["T2M_MIN"].to_numpy(np.float64),
                "rh_mean_pct": df["RH2M"].to_numpy(np.float64),
                "wind2m_ms": df["WS2M"].to_numpy(np.float64),
                "rs_mj_m2": df["ALLSKY_SFC_SW_DWN"].to_numpy(np.float64),
            },
            flags=np.zeros(len(df), np.uint32),
            source="nasa_power",
        )
        out.append((series, float(lat), float(alt)))
    return out


@pytest.fixture(scope="module")
def cities(shared_data: Path) -> list[tuple[DailySeries, float, float]]:
    data = _cities(shared_data)
    assert len(data) == 12
    assert sum(len(s) for s, _, _ in data) == 12 * 10958
    return data


@pytest.mark.parametrize("constants", ["asce", "refet"])
@pytest.mark.parametrize("rso", ["simple", "full"])
@pytest.mark.parametrize("reference", ["short", "tall"])
def test_matches_refet_daily(
    cities: list[tuple[DailySeries, float, float]], reference: str, rso: str, constants: str
) -> None:
    worst = 0.0
    for series, lat, elev in cities:
        ours = asce.eto_asce_daily(
            series,
            lat_deg=lat,
            elevation_m=elev,
            reference=reference,  # type: ignore[arg-type]
            rso=rso,  # type: ignore[arg-type]
            constants=constants,
            missing=STRICT,
        )
        v = series.values
        ea = fao56.actual_vapour_pressure_from_rhmean(v["tmax_c"], v["tmin_c"], v["rh_mean_pct"])
        theirs = _refet(
            series, ea, lat=lat, elev=elev, reference=reference, rso=rso, constants=constants
        )
        assert np.isfinite(ours.eto).all()
        assert (ours.flags == 0).all()
        np.testing.assert_allclose(ours.details["ea"], ea, rtol=0, atol=0)
        diff = np.abs(ours.eto - theirs)
        worst = max(worst, float(diff.max()))
    print(f"max |evapo - refet| {reference} {rso} {constants}: {worst:.2e} mm/day")
    assert worst <= TOLERANCE_MM, worst


def _refet(
    series: DailySeries,
    ea: np.ndarray,
    *,
    lat: float,
    elev: float,
    reference: str,
    rso: str,
    constants: str,
) -> np.ndarray:
    """refet's daily ETsz with the same inputs; its Eq. 33 at zw = 2 m is undone on uz."""
    v = series.values
    identity = float(fao56.wind_speed_2m(1.0, 2.0))  # 4.87 / ln(130.18) = 1.00023, not 1
    return np.asarray(
        refet.Daily(
            tmin=v["tmin_c"],
            tmax=v["tmax_c"],
            ea=ea,
            rs=v["rs_mj_m2"],
            uz=v["wind2m_ms"] / identity,
            zw=2.0,
            elev=elev,
            lat=lat,
            doy=day_of_year(series.dates),
            method=constants,
            rso_type=rso,
        ).etsz(reference)
    )


@pytest.mark.parametrize("reference", ["short", "tall"])
@pytest.mark.parametrize(("constants", "rso"), [("asce", "simple"), ("refet", "full")])
def test_matches_refet_hourly_over_a_year(reference: str, constants: str, rso: str) -> None:
    """A synthetic year of hours at Fallon, NV (every sun angle, day and night) against refet.

    refet, like Ref-ET, tests daytime at the start of the hour and uses Rs/Rso = 1 at night, so
    the ASCE constants are compared with those two hourly rules switched to Ref-ET's.
    """
    hours = np.arange(365 * 24)
    times = np.datetime64("2015-01-01T00:00", "s") + hours * np.timedelta64(1, "h")
    rng = np.random.default_rng(9)
    local = (hours - 8) % 24
    sun = np.clip(np.sin(np.pi * (local - 6.0) / 12.0), 0.0, None)
    season = np.sin(2.0 * np.pi * (hours / 24.0 - 100.0) / 365.0)
    tmean = 12.0 + 12.0 * season + 8.0 * sun + rng.normal(0.0, 1.5, hours.size)
    tdew = tmean - rng.uniform(2.0, 20.0, hours.size)
    rs = (2.0 + 1.2 * season) * sun * rng.uniform(0.2, 1.0, hours.size)
    u2 = rng.uniform(0.0, 8.0, hours.size)
    lat, lon, elev = 39.4575, -118.77388, 1208.5
    base = asce.resolve_constants(constants)
    matched = replace(base, night_cloudiness="one", daytime_test_at="start")
    ours = asce.eto_asce_hourly(
        times,
        tmean_c=tmean,
        rs_mj_m2=rs,
        wind2m_ms=u2,
        tdew_c=tdew,
        lat_deg=lat,
        lon_deg=lon,
        elevation_m=elev,
        reference=reference,  # type: ignore[arg-type]
        rso=rso,  # type: ignore[arg-type]
        constants=matched,
    )
    identity = float(fao56.wind_speed_2m(1.0, 2.0))
    theirs = refet.Hourly(
        tmean=tmean,
        ea=fao56.actual_vapour_pressure_from_tdew(tdew),
        rs=rs,
        uz=u2 / identity,
        zw=2.0,
        elev=elev,
        lat=lat,
        lon=lon,
        doy=ours.details["doy"],
        time=(times - times.astype("datetime64[D]")).astype(np.float64) / 3600.0,
        method=constants,
    ).etsz(reference)
    diff = np.abs(ours.eto - np.asarray(theirs))
    print(f"hourly max |evapo - refet| {reference} {constants}: {diff.max():.2e} mm/h")
    assert diff.max() <= TOLERANCE_MM
