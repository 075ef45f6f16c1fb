"""Fused FAO-56 Penman-Monteith kernel for many points x days (numba), for regional batches.

Computes exactly the chain of :func:`evapo.science.daily.eto_daily` for complete inputs
(Tmax, Tmin, humidity, Rs, u2; Eq. 6-13, 19, 21-25, 37-40) in one pass over memory. Ra and
Rso are tabulated per (point, day of year) and pressure/gamma once per point. The result equals
the numpy formula to within rounding (tested to 1e-9 mm/day).
"""

from __future__ import annotations

import math
from collections.abc import Callable
from typing import Literal

import numpy as np
from numba import njit, prange
from numpy.typing import ArrayLike, NDArray

from evapo.schema import FloatArray
from evapo.science import fao56

Humidity = Literal["rh_mean", "ea"]


#: Taylor coefficients 1/k! of exp, k = 0..13 (:func:`_exp_small`).
_C = tuple(1.0 / math.factorial(k) for k in range(14))
_C0, _C1, _C2, _C3, _C4, _C5, _C6, _C7, _C8, _C9, _C10, _C11, _C12, _C13 = _C
#: |x| bound of :func:`_exp_small`; Eq. 11 exponents stay inside it for -75 < T < 200 degC.
EXP_BOUND = 8.0


@njit(inline="always", fastmath=False, error_model="numpy", cache=True)
def _exp_small(x: float) -> float:  # pragma: no cover - compiled
    """exp(x) for |x| <= 8 as (Taylor_13(x / 16)) ** 16; relative error below 3e-14.

    Pure arithmetic, so the day loop vectorises (libm's exp does not); rows outside the bound
    are recomputed with ``math.exp``.
    """
    y = x * 0.0625
    p = _C13
    p = p * y + _C12
    p = p * y + _C11
    p = p * y + _C10
    p = p * y + _C9
    p = p * y + _C8
    p = p * y + _C7
    p = p * y + _C6
    p = p * y + _C5
    p = p * y + _C4
    p = p * y + _C3
    p = p * y + _C2
    p = p * y + _C1
    p = p * y + _C0
    p = p * p
    p = p * p
    p = p * p
    return p * p


@njit(inline="always", fastmath=False, error_model="numpy", cache=True)
def _pm_row(  # noqa: PLR0917 - numba kernels take positional arguments only
    tx: float,
    tn: float,
    h: float,
    hum_is_ea: bool,
    r: float,
    inv_rso: float,
    w: float,
    gm: float,
    exact: bool,
) -> tuple[float, float]:  # pragma: no cover - compiled
    """ET0 of one row [mm day-1] and the largest |Eq. 11 exponent| (for the bound check)."""
    # Eq. 9, 11-13 (one reciprocal for the two Eq. 11 fractions, one for Tmean).
    tm = (tx + tn) / 2.0
    dx = tx + 237.3
    dn = tn + 237.3
    inv = 1.0 / (dx * dn)
    x_max = 17.27 * tx * dn * inv
    x_min = 17.27 * tn * dx * inv
    dm = tm + 237.3
    dk = tm + 273.0
    inv_m = 1.0 / (dm * dk)
    x_mid = 17.27 * tm * dk * inv_m
    if exact:
        e_max = math.exp(x_max)
        e_min = math.exp(x_min)
        e_mid = math.exp(x_mid)
    else:
        e_max = _exp_small(x_max)
        e_min = _exp_small(x_min)
        e_mid = _exp_small(x_mid)
    es = 0.6108 * (e_max + e_min) / 2.0
    delta = 4098.0 * 0.6108 * e_mid * (dk * inv_m) * (dk * inv_m)
    # Eq. 19, or ea given.
    ea = h if hum_is_ea else h / 100.0 * es
    # Eq. 38-40 with Rs/Rso limited to 1.
    # Rs/Rso limited to 1; Rso = 0 (inv_rso = inf) gives 1 as in fao56 (NaN Rs stays NaN).
    ratio = r * inv_rso
    ratio = 1.0 if ratio > 1.0 or (r == 0.0 and inv_rso == math.inf) else ratio
    kx = tx + 273.16
    kn = tn + 273.16
    kx2 = kx * kx
    kn2 = kn * kn
    rnl_clear = 4.903e-9 * (kx2 * kx2 + kn2 * kn2) / 2.0 * (0.34 - 0.14 * math.sqrt(ea))
    rn = 0.77 * r - rnl_clear * (1.35 * ratio - 0.35)
    # Eq. 6 with G = 0; 900 / (T + 273) from the shared reciprocal.
    num = 0.408 * delta * rn + gm * 900.0 * (dm * inv_m) * w * (es - ea)
    eto = num / (delta + gm * (1.0 + 0.34 * w))
    big = max(abs(x_max), abs(x_min))
    return eto, big


@njit(inline="always", fastmath=False, cache=True, error_model="numpy")
def _pm_point(  # noqa: PLR0917 - numba kernels take positional arguments only
    tmax: FloatArray,
    tmin: FloatArray,
    hum: FloatArray,
    hum_is_ea: bool,
    rs: FloatArray,
    u2: FloatArray,
    doy_index: NDArray[np.int64],
    inv_rso_tab: FloatArray,
    gamma: FloatArray,
    out: FloatArray,
    p: int,
) -> None:  # pragma: no cover - compiled; covered through eto_daily_fast
    """All days of point ``p``: a vectorisable pass, then ``math.exp`` if a row was out of range."""
    n_days = tmax.shape[1]
    gm = gamma[p]
    inv_rso = np.empty(n_days)
    for d in range(n_days):
        inv_rso[d] = inv_rso_tab[p, doy_index[d]]
    n_out = 0
    for d in range(n_days):
        eto, big = _pm_row(
            tmax[p, d], tmin[p, d], hum[p, d], hum_is_ea, rs[p, d], inv_rso[d], u2[p, d], gm, False
        )
        out[p, d] = eto
        n_out += 1 if big > EXP_BOUND else 0
    if n_out > 0:
        for d in range(n_days):
            eto, big = _pm_row(
                tmax[p, d],
                tmin[p, d],
                hum[p, d],
                hum_is_ea,
                rs[p, d],
                inv_rso[d],
                u2[p, d],
                gm,
                True,
            )
            out[p, d] = eto


def _grid_kernel(parallel: bool) -> Callable[..., None]:
    """The loop over points, compiled threaded (``prange``) or serial; both share one body.

    ``points`` is a closure variable so that numba's cache keeps the two variants apart: it keys
    a function's compiled code on its bytecode and closure, not on the ``parallel`` option.
    """
    points = prange if parallel else range

    def grid(  # noqa: PLR0917 - numba kernels take positional arguments only
        tmax: FloatArray,
        tmin: FloatArray,
        hum: FloatArray,
        hum_is_ea: bool,
        rs: FloatArray,
        u2: FloatArray,
        doy_index: NDArray[np.int64],
        inv_rso_tab: FloatArray,
        gamma: FloatArray,
        out: FloatArray,
    ) -> None:  # pragma: no cover - compiled; covered through eto_daily_fast
        for p in points(tmax.shape[0]):
            _pm_point(tmax, tmin, hum, hum_is_ea, rs, u2, doy_index, inv_rso_tab, gamma, out, p)

    compile_grid = njit(
        parallel=parallel, fastmath=False, cache=True, nogil=True, error_model="numpy"
    )
    return compile_grid(grid)


_pm_grid_parallel = _grid_kernel(parallel=True)
_pm_grid_serial = _grid_kernel(parallel=False)


#: Below this many rows (or with one point) the serial kernel runs: waking worker threads
#: costs more than it saves.
PARALLEL_MIN_ROWS = 200_000


def _grid(a: ArrayLike, shape: tuple[int, int], name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64)
    if arr.ndim == 1 and shape[0] == 1:
        arr = arr.reshape(1, -1)
    if arr.shape != shape:
        raise ValueError(f"{name}: shape {arr.shape} does not match tmax {shape}")
    return np.ascontiguousarray(arr)


def _per_point(a: ArrayLike, points: int, name: str) -> FloatArray:
    arr = np.asarray(a, dtype=np.float64).reshape(-1)
    if arr.size not in (1, points):
        raise ValueError(f"{name}: {arr.size} values for {points} points")
    return np.ascontiguousarray(np.broadcast_to(arr, (points,)))


def eto_daily_fast(
    tmax_c: ArrayLike,
    tmin_c: ArrayLike,
    humidity: ArrayLike,
    rs_mj_m2: ArrayLike,
    wind2m_ms: ArrayLike,
    *,
    doy: ArrayLike,
    lat_deg: ArrayLike,
    elevation_m: ArrayLike,
    humidity_kind: Humidity = "rh_mean",
) -> FloatArray:
    """FAO-56 Penman-Monteith ET0 (Eq. 6) of complete inputs on a (points, days) grid [mm day-1].

    Weather arrays are (points, days) or, for one point, (days,): ``tmax_c``, ``tmin_c``
    [degC], ``humidity`` (mean RH [%] for Eq. 19, or ``ea`` [kPa] with
    ``humidity_kind="ea"``), ``rs_mj_m2`` [MJ m-2 day-1], ``wind2m_ms`` [m s-1]. ``doy`` is the
    day of year of each day [1-366]; ``lat_deg`` [deg] and ``elevation_m`` [m] give one value
    per point. No estimates are made: a missing input gives NaN on that row only.
    """
    tx = np.asarray(tmax_c, dtype=np.float64)
    one_point = tx.ndim == 1
    if one_point:
        tx = tx.reshape(1, -1)
    if tx.ndim != 2:
        raise ValueError(f"tmax_c: expected (points, days) or (days,), got shape {tx.shape}")
    shape = (int(tx.shape[0]), int(tx.shape[1]))
    tx = np.ascontiguousarray(tx)
    tn = _grid(tmin_c, shape, "tmin_c")
    hum = _grid(humidity, shape, "humidity")
    rs = _grid(rs_mj_m2, shape, "rs_mj_m2")
    u2 = _grid(wind2m_ms, shape, "wind2m_ms")
    if humidity_kind not in ("rh_mean", "ea"):
        raise ValueError(f"humidity_kind: {humidity_kind!r} is not 'rh_mean' or 'ea'")
    days = np.asarray(doy, dtype=np.float64).reshape(-1)
    if days.shape != (shape[1],):
        raise ValueError(f"doy: {days.shape[0]} values for {shape[1]} days")
    if np.any((days < 1) | (days > 366) | (days != np.round(days))):
        raise ValueError("doy: values must be whole days in [1, 366]")
    lat = _per_point(lat_deg, shape[0], "lat_deg")
    elev = _per_point(elevation_m, shape[0], "elevation_m")
    if np.any(~np.isfinite(lat) | (np.abs(lat) > 90.0)):
        raise ValueError("lat_deg: every latitude must be within [-90, 90]")
    if np.any(~np.isfinite(elev)):
        raise ValueError("elevation_m: every elevation must be finite")

    # Per point: pressure and gamma (Eq. 7, 8); per (point, doy): Ra and Rso (Eq. 21, 37).
    gamma = np.ascontiguousarray(fao56.psychrometric_constant(fao56.atmospheric_pressure(elev)))
    table_doy = np.arange(1, 367, dtype=np.float64)
    ra_tab = fao56.extraterrestrial_radiation_daily(np.deg2rad(lat)[:, None], table_doy[None, :])
    with np.errstate(divide="ignore"):
        inv_rso_tab = np.ascontiguousarray(1.0 / fao56.clear_sky_radiation(ra_tab, elev[:, None]))
    out = np.empty(shape, dtype=np.float64)
    parallel = shape[0] > 1 and shape[0] * shape[1] >= PARALLEL_MIN_ROWS
    kernel = _pm_grid_parallel if parallel else _pm_grid_serial
    kernel(
        tx,
        tn,
        hum,
        humidity_kind == "ea",
        rs,
        u2,
        days.astype(np.int64) - 1,
        inv_rso_tab,
        gamma,
        out,
    )
    return out.reshape(-1) if one_point else out


def warm_up() -> None:
    """Compile (or load from numba's cache) both kernel variants, e.g. before timing."""
    one = np.ones((2, 1))
    args = (one * 20.0, one * 10.0, one * 50.0, False, one * 10.0, one * 2.0)
    tables = (np.zeros(1, np.int64), np.ones((2, 366)), np.ones(2) * 0.066)
    for kernel in (_pm_grid_serial, _pm_grid_parallel):
        kernel(*args, *tables, np.empty((2, 1)))
