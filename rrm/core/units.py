"""Unit conversions (dB, dBm, watts) and thermal noise."""

from __future__ import annotations

import numpy as np
from numpy.typing import ArrayLike, NDArray


def db_to_linear(db: ArrayLike) -> NDArray[np.float64]:
    """10^(db/10)."""
    return np.power(10.0, np.asarray(db, dtype=np.float64) / 10.0)


def linear_to_db(x: ArrayLike) -> NDArray[np.float64]:
    """10 log10(x)."""
    return 10.0 * np.log10(np.asarray(x, dtype=np.float64))


def dbm_to_watt(dbm: float) -> float:
    """Power in dBm to watts: 10 dBm -> 0.01 W."""
    return float(10.0 ** ((dbm - 30.0) / 10.0))


def watt_to_dbm(watt: float) -> float:
    """Power in watts to dBm."""
    return float(10.0 * np.log10(watt) + 30.0)


def thermal_noise_w(psd_dbm_per_hz: float, bandwidth_hz: float) -> float:
    """Noise power in watts of a flat PSD over a band: PSD(dBm/Hz) + 10log10(W)."""
    return dbm_to_watt(psd_dbm_per_hz + 10.0 * np.log10(bandwidth_hz))
