"""Physical-range quality checks of daily weather: reject impossible values, flag suspect ones.

:func:`check_daily` never alters a value silently: a rejected value becomes NaN in the cleaned
copy, its row is flagged ``QC_REJECTED`` and the raw value is listed in the report; a suspect
value is kept, flagged ``QC_SUSPECT`` and listed. The thresholds form one named, documented
:class:`QCRules` object.
"""

from __future__ import annotations

from dataclasses import dataclass, field
from typing import Final, Literal

import numpy as np
from numpy.typing import NDArray

from evapo.schema import DailySeries, Flag, FloatArray
from evapo.science import fao56
from evapo.science.daily import check_site, day_of_year

Action = Literal["rejected", "suspect"]
Mask = NDArray[np.bool_]


@dataclass(frozen=True)
class QCRules:
    """Thresholds of the daily checks (defaults from world records and FAO-56/ASCE practice).

    Attributes:
        t_min_c, t_max_c: plausible air and dew point temperature range [degC] (world records
            -89.2 and 56.7 degC).
        dtr_suspect_c: a daily temperature range above this is suspect [degC].
        tmean_tolerance_c: Tmean outside [Tmin - tol, Tmax + tol] is suspect [degC].
        tdew_above_tmax_c: Tdew above Tmax by more than this is rejected [degC].
        wind_max_ms: a daily mean wind above this is rejected [m s-1].
        wind_suspect_ms: a daily mean wind above this is suspect [m s-1].
        rs_over_rso_suspect: Rs above this multiple of Rso (Eq. 37) is suspect [-].
        rs_above_ra_mj: Rs above the extraterrestrial radiation Ra (Eq. 21) by more than this is
            impossible and rejected [MJ m-2 day-1]; the margin allows for day windows that differ
            from the solar day near polar night.
        precip_max_mm: a daily precipitation above this is rejected [mm] (record 1825 mm).
    """

    t_min_c: float = -90.0
    t_max_c: float = 60.0
    dtr_suspect_c: float = 40.0
    tmean_tolerance_c: float = 0.5
    tdew_above_tmax_c: float = 0.5
    wind_max_ms: float = 40.0
    wind_suspect_ms: float = 20.0
    rs_over_rso_suspect: float = 1.05
    rs_above_ra_mj: float = 0.5
    precip_max_mm: float = 2000.0


DEFAULT_RULES: Final = QCRules()


@dataclass(frozen=True)
class QCIssue:
    """One finding: which column, which day, the raw value, the rule it broke and the action."""

    column: str
    date: str
    value: float
    rule: str
    action: Action

    def __str__(self) -> str:
        return f"{self.date} {self.column}={self.value:g}: {self.rule} ({self.action})"


@dataclass
class QCReport:
    """Result of :func:`check_daily`."""

    series: DailySeries
    """Cleaned copy: rejected values are NaN; rows flagged QC_REJECTED / QC_SUSPECT."""
    raw: DailySeries
    """The series as given (unchanged)."""
    issues: list[QCIssue] = field(default_factory=list)

    @property
    def rejected(self) -> list[QCIssue]:
        """Findings whose value was set to missing."""
        return [i for i in self.issues if i.action == "rejected"]

    @property
    def suspect(self) -> list[QCIssue]:
        """Findings whose value was kept but flagged."""
        return [i for i in self.issues if i.action == "suspect"]


class _Checker:
    """Collects findings against the raw values; applies rejections to a copy at the end."""

    def __init__(self, series: DailySeries) -> None:
        self.raw = series
        self.dates = np.datetime_as_string(series.dates, unit="D")
        self.reject: dict[str, Mask] = {c: np.zeros(len(series), bool) for c in series.values}
        self.suspect_rows = np.zeros(len(series), bool)
        self.issues: list[tuple[int, int, QCIssue]] = []

    def add(self, column: str, mask: Mask, rule: str, action: Action) -> None:
        values = self.raw.values[column]
        for i in np.flatnonzero(mask):
            issue = QCIssue(column, str(self.dates[i]), float(values[i]), rule, action)
            self.issues.append((int(i), len(self.issues), issue))
        if action == "rejected":
            self.reject[column] |= mask
        else:
            self.suspect_rows |= mask

    def report(self) -> QCReport:
        values = {c: v.copy() for c, v in self.raw.values.items()}
        flags = self.raw.flags.copy()
        rejected_rows = np.zeros(len(self.raw), bool)
        for column, mask in self.reject.items():
            values[column][mask] = np.nan
            rejected_rows |= mask
        flags[rejected_rows] |= np.uint32(Flag.QC_REJECTED)
        flags[self.suspect_rows] |= np.uint32(Flag.QC_SUSPECT)
        cleaned = DailySeries(
            dates=self.raw.dates.copy(),
            values=values,
            flags=flags,
            source=self.raw.source,
            lat=self.raw.lat,
            lon=self.raw.lon,
            elevation_m=self.raw.elevation_m,
            extra={k: v.copy() for k, v in self.raw.extra.items()},
        )
        ordered = [issue for _, _, issue in sorted(self.issues, key=lambda t: (t[0], t[1]))]
        return QCReport(series=cleaned, raw=self.raw, issues=ordered)


def check_daily(
    series: DailySeries,
    *,
    lat_deg: float | FloatArray,
    elevation_m: float | FloatArray,
    rules: QCRules = DEFAULT_RULES,
) -> QCReport:
    """Check a daily series against physical ranges; reject impossible values, flag suspect ones.

    ``lat_deg`` [deg] and ``elevation_m`` [m] give Ra (Eq. 21) and Rso (Eq. 37) for the
    radiation checks. Comparisons between columns use the raw values, so one bad value cannot
    hide another.
    """
    lat, elev = check_site(lat_deg, elevation_m)
    v = series.values
    c = _Checker(series)
    with np.errstate(invalid="ignore"):
        # Temperatures: plausible range, Tmax >= Tmin, Tmean within the extremes, Tdew <= Tmax.
        for col in ("tmax_c", "tmin_c", "tmean_c", "tdew_c"):
            out = (v[col] < rules.t_min_c) | (v[col] > rules.t_max_c)
            c.add(col, out, f"outside [{rules.t_min_c:g}, {rules.t_max_c:g}] degC", "rejected")
        inverted = v["tmax_c"] < v["tmin_c"]
        c.add("tmax_c", inverted, "tmax_c below tmin_c", "rejected")
        c.add("tmin_c", inverted, "tmin_c above tmax_c", "rejected")
        wide = (v["tmax_c"] - v["tmin_c"]) > rules.dtr_suspect_c
        c.add("tmax_c", wide, f"daily range above {rules.dtr_suspect_c:g} degC", "suspect")
        tol = rules.tmean_tolerance_c
        outside = ~inverted & (
            (v["tmean_c"] < v["tmin_c"] - tol) | (v["tmean_c"] > v["tmax_c"] + tol)
        )
        c.add("tmean_c", outside, "tmean_c outside [tmin_c, tmax_c]", "suspect")
        wet = v["tdew_c"] > v["tmax_c"] + rules.tdew_above_tmax_c
        c.add("tdew_c", wet, "dew point above tmax_c", "rejected")

        # Relative humidity: 0-100 %, RHmin <= RHmax, RHmean between them.
        for col in ("rh_mean_pct", "rh_max_pct", "rh_min_pct"):
            c.add(col, (v[col] < 0.0) | (v[col] > 100.0), "outside [0, 100] %", "rejected")
        crossed = v["rh_min_pct"] > v["rh_max_pct"]
        c.add("rh_max_pct", crossed, "rh_max_pct below rh_min_pct", "rejected")
        c.add("rh_min_pct", crossed, "rh_min_pct above rh_max_pct", "rejected")
        between = ~crossed & (
            (v["rh_mean_pct"] < v["rh_min_pct"]) | (v["rh_mean_pct"] > v["rh_max_pct"])
        )
        c.add("rh_mean_pct", between, "rh_mean_pct outside [rh_min_pct, rh_max_pct]", "suspect")

        # Wind: non-negative, bounded.
        w = v["wind2m_ms"]
        c.add("wind2m_ms", w < 0.0, "negative wind speed", "rejected")
        c.add("wind2m_ms", w > rules.wind_max_ms, f"above {rules.wind_max_ms:g} m/s", "rejected")
        high = (w > rules.wind_suspect_ms) & (w <= rules.wind_max_ms)
        c.add("wind2m_ms", high, f"above {rules.wind_suspect_ms:g} m/s", "suspect")

        # Solar radiation: 0 <= Rs <= Ra; Rs above Rso (Eq. 37) by the tolerance is suspect.
        doy = day_of_year(series.dates)
        ra = fao56.extraterrestrial_radiation_daily(np.deg2rad(lat), doy)
        rso = fao56.clear_sky_radiation(ra, elev)
        rs = v["rs_mj_m2"]
        c.add("rs_mj_m2", rs < 0.0, "negative solar radiation", "rejected")
        beyond = rs > ra + rules.rs_above_ra_mj
        c.add("rs_mj_m2", beyond, "above extraterrestrial radiation Ra (Eq. 21)", "rejected")
        bright = (rs > rules.rs_over_rso_suspect * rso) & ~beyond
        rule = f"above {rules.rs_over_rso_suspect:g} x clear-sky Rso (Eq. 37)"
        c.add("rs_mj_m2", bright, rule, "suspect")

        # Precipitation: non-negative, bounded.
        p = v["precip_mm"]
        c.add("precip_mm", p < 0.0, "negative precipitation", "rejected")
        c.add("precip_mm", p > rules.precip_max_mm, f"above {rules.precip_max_mm:g} mm", "rejected")

    return c.report()
