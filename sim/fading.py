"""Small-scale Rayleigh fading across slots: block (i.i.d.) or first-order Gauss-Markov.

The complex amplitude of every link follows

    h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t,    h_0, w_t ~ CN(0, 1) i.i.d.

so each slot's power gain |h_t|^2 is Exp(1) (Rayleigh) and the lag-1
correlation of the amplitude is rho: rho = 0 is block fading (independent
slots), rho = 1 freezes the channel. Jakes' model gives rho from the
Doppler shift: rho = J0(2 pi f_d T) (:func:`jakes_rho`).
"""

from __future__ import annotations

import numpy as np
from numpy.typing import NDArray
from scipy.special import j0

ComplexArray = NDArray[np.complex128]


def jakes_rho(doppler_hz: float, slot_s: float) -> float:
    """Lag-one correlation ``J0(2 pi f_d T)`` of Jakes' Doppler spectrum."""
    return float(j0(2.0 * np.pi * doppler_hz * slot_s))


def complex_normal(rng: np.random.Generator, shape: tuple[int, ...]) -> ComplexArray:
    """CN(0, 1) samples: E|h|^2 = 1."""
    return (rng.normal(size=shape) + 1j * rng.normal(size=shape)) / np.sqrt(2.0)


class FadingProcess:
    """Rayleigh fading of a set of links over slots (model-free; config = rho).

    Args:
        rho: lag-one amplitude correlation in [0, 1]; 0 = block fading.
    """

    def __init__(self, rho: float = 0.0) -> None:
        if not 0.0 <= rho <= 1.0:
            raise ValueError(f"rho must be in [0, 1], got {rho}")
        self.rho = rho
        self._rng: np.random.Generator | None = None
        self.amplitude: ComplexArray | None = None

    def reset(self, rng: np.random.Generator, shape: tuple[int, ...]) -> NDArray[np.float64]:
        """Start a new process of ``shape`` links; returns the first slot's |h|^2."""
        self._rng = rng
        self.amplitude = complex_normal(rng, shape)
        return np.abs(self.amplitude) ** 2

    def step(self) -> NDArray[np.float64]:
        """Advance one slot; returns the new |h|^2 (marginally Exp(1))."""
        if self._rng is None or self.amplitude is None:
            raise RuntimeError("call reset() before step()")
        innovation = complex_normal(self._rng, self.amplitude.shape)
        self.amplitude = self.rho * self.amplitude + np.sqrt(1.0 - self.rho**2) * innovation
        return np.abs(self.amplitude) ** 2
