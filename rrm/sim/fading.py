"""Small-scale Rayleigh fading across slots: block (i.i.d.) or first-order Gauss-Markov.

A topology's large-scale gains live for an episode; the small-scale fading of
every link evolves slot by slot. The complex amplitude follows

    h_0 ~ CN(0, 1),    h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t,    w_t ~ CN(0, 1) i.i.d.

so every slot's power gain ``|h_t|^2`` is Exp(1) (Rayleigh) and the lag-1
correlation of the amplitude is ``E[h_t conj(h_{t-1})] = rho``. ``rho = 0``
is block fading (independent slots), ``rho = 1`` freezes the channel.
Jakes' model gives rho from the Doppler shift (:func:`jakes_rho`):
``rho = J0(2 pi f_d T)`` with ``f_d = v f_c / c``. J0 dips below zero
(first zero at 2 pi f_d T = 2.405), so rho in [-1, 1] is allowed; the AR(1)
matches Jakes' autocorrelation at lag 1 only (Baddour and Beaulieu 2005).

The graph-diffusion paper's ergodic network (sec. 3) redraws fading every
50 ms slot; its authors' code uses 2.4 GHz and 1 m/s receivers, i.e.
f_d = 8 Hz and rho = J0(2 pi 8 0.05) = -0.056: nearly independent slots.

:class:`SlotChannel` combines large-scale gains with a fading process into
per-slot gains ``gains_t = large_scale * |h_t|^2``.

:class:`BlockFading` is the simulator node's block fading (issue #18 item 5):
the same law as ``FadingProcess(0.0)`` (``|h_t|^2`` i.i.d. Exp(1)) drawn as
power gains directly, K^2 exponentials per slot instead of 2 K^2 normals plus
``|.|^2``. Its seeded stream differs from ``FadingProcess(0.0)``'s (a documented
contract change of the node's stream, not of datasets): everything that needs
the amplitude ``h`` (Gauss-Markov fading, cell-free) or reproduces recorded
data keeps :class:`FadingProcess`.
"""

from __future__ import annotations

from typing import Protocol

import numpy as np
from numpy.typing import NDArray
from scipy.special import j0

from rrm.core.errors import ConfigError, InvalidInput

ComplexArray = NDArray[np.complex128]
FloatArray = NDArray[np.float64]
SPEED_OF_LIGHT_MPS = 299_792_458.0
_CN_SCALE = 1.0 / np.sqrt(2.0)  # what a complex division by sqrt(2) multiplies each part by


def jakes_rho(doppler_hz: float, slot_s: float) -> float:
    """Lag-one amplitude correlation ``J0(2 pi f_d T)`` of Jakes' Doppler spectrum."""
    return float(j0(2.0 * np.pi * doppler_hz * slot_s))


def doppler_hz(speed_mps: float, carrier_hz: float) -> float:
    """Maximum Doppler shift ``f_d = v f_c / c`` in Hz."""
    return speed_mps * carrier_hz / SPEED_OF_LIGHT_MPS


def complex_normal(rng: np.random.Generator, shape: tuple[int, ...],
                   normals: FloatArray | None = None) -> ComplexArray:
    """CN(0, 1) samples of ``shape`` (E|h|^2 = 1): real parts drawn first, then imaginary.

    The same draws and the same bytes as ``(normal + 1j normal) / sqrt(2)``,
    at a fraction of its cost (the simulator draws K^2 of them per node and
    slot): all ``2 prod(shape)`` normals in one call, scaled as real floats
    (numpy's complex division by a real ``s`` multiplies both parts by
    ``1 / s``: the same bytes) instead of a complex division.

    Args:
        rng: the generator drawn from.
        shape: the samples' shape.
        normals: optional float64 ``[2, *shape]`` scratch to draw into (reused
            between slots; overwritten, never returned).

    Returns:
        complex128 ``shape``, a new array.
    """
    if normals is None or normals.shape != (2, *shape):
        normals = np.empty((2, *shape))
    rng.standard_normal(out=normals)  # normal(0, 1): the same stream, without loc/scale work
    normals *= _CN_SCALE
    out = np.empty(shape, dtype=np.complex128)
    out.real = normals[0]
    out.imag = normals[1]
    return out


class FadingProcess:
    """Rayleigh fading of a set of links over slots (model-free; its config is ``rho``).

    Args:
        rho: lag-one amplitude correlation in [-1, 1]; 0 = block fading,
            1 = frozen channel.

    Attributes:
        amplitude: complex ``shape`` array, the current slot's ``h_t`` (after reset).
    """

    def __init__(self, rho: float = 0.0) -> None:
        if not -1.0 <= rho <= 1.0:  # also refuses NaN
            raise ConfigError(f"fading correlation rho must be in [-1, 1], got {rho}")
        self.rho = float(rho)
        self._innovation_scale = float(np.sqrt(1.0 - self.rho**2))
        self._rng: np.random.Generator | None = None
        self._normals: FloatArray | None = None  # [2, *shape] scratch the draws land in
        self.amplitude: ComplexArray | None = None

    @classmethod
    def from_doppler(cls, doppler_hz: float, slot_s: float) -> FadingProcess:
        """A process whose rho is Jakes' ``J0(2 pi f_d T)``."""
        return cls(jakes_rho(doppler_hz, slot_s))

    def reset(self, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
        """Start a new process over ``shape`` links; returns the first slot's ``|h_0|^2``."""
        power = np.abs(self.reset_amplitude(rng, shape))
        return np.square(power, out=power)

    def step(self) -> FloatArray:
        """Advance one slot; returns ``|h_t|^2`` (marginally Exp(1)), shape as at reset."""
        power = np.abs(self.step_amplitude())
        return np.square(power, out=power)  # what ``** 2`` computes, without a second array

    def reset_amplitude(self, rng: np.random.Generator, shape: tuple[int, ...]) -> ComplexArray:
        """Start a new process over ``shape`` entries; returns ``h_0 ~ CN(0, 1)``, complex."""
        self._rng = rng
        self._normals = np.empty((2, *shape))
        self.amplitude = complex_normal(rng, shape, self._normals)
        return self.amplitude

    def step_amplitude(self) -> ComplexArray:
        """Advance one slot; returns ``h_t = rho h_{t-1} + sqrt(1 - rho^2) w_t``, complex."""
        if self._rng is None or self.amplitude is None:
            raise RuntimeError("call reset() before step()")
        innovation = complex_normal(self._rng, self.amplitude.shape, self._normals)
        if self.rho == 0.0:  # block fading: h_t = w_t (the same bytes, no K^2 arithmetic)
            self.amplitude = innovation
        else:
            self.amplitude = self.rho * self.amplitude + self._innovation_scale * innovation
        return self.amplitude


class PowerFading(Protocol):
    """What an interference environment needs of its fading: per-slot power gains."""

    @property
    def rho(self) -> float:
        """Lag-one amplitude correlation between slots (0 = block fading)."""
        ...

    def reset(self, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
        """Start over ``shape`` links; returns slot 0's ``|h_0|^2``, a new array."""
        ...

    def step(self) -> FloatArray:
        """Advance one slot; returns ``|h_t|^2``, a new array of the reset's shape."""
        ...


class BlockFading:
    """Block Rayleigh fading drawn as power gains: ``|h_t|^2 ~ Exp(1)`` i.i.d. per slot and link.

    The law of ``FadingProcess(0.0).step()`` (``|h|^2`` of a CN(0, 1) sample is
    Exp(1)) at half the draws and none of the complex arithmetic; a different
    seeded stream (same seed -> same stream, but not ``FadingProcess(0.0)``'s).
    Used by the simulator node for ``rho = 0`` (:func:`rrm.sim.nodes.build_node`).
    Each slot is a new array: the environment turns it into that slot's gains
    in place and keeps them with the observation, so a buffer reused between
    slots would overwrite the previous slot's gains.
    """

    rho = 0.0

    def __init__(self) -> None:
        self._rng: np.random.Generator | None = None
        self._shape: tuple[int, ...] = ()

    def reset(self, rng: np.random.Generator, shape: tuple[int, ...]) -> FloatArray:
        """Start over ``shape`` links; returns slot 0's ``|h_0|^2`` (float64 ``shape``)."""
        self._rng, self._shape = rng, tuple(shape)
        return self._draw(rng)

    def step(self) -> FloatArray:
        """Next slot's ``|h_t|^2``: float64, the reset's shape, independent of the last."""
        if self._rng is None:
            raise RuntimeError("call reset() before step()")
        return self._draw(self._rng)

    def _draw(self, rng: np.random.Generator) -> FloatArray:
        gain = np.empty(self._shape)
        rng.standard_exponential(out=gain)  # ziggurat Exp(1), drawn in place
        return gain


class SlotChannel:
    """One topology's per-slot gains: ``gains_t = large_scale * |h_t|^2``.

    Args:
        large_scale: ``[..., K, K]`` linear power gain (path loss x shadowing),
            receiver k from transmitter j; fixed for the episode.
        fading: the small-scale process (one amplitude per entry of ``large_scale``).
    """

    def __init__(self, large_scale: FloatArray, fading: FadingProcess) -> None:
        ls = np.asarray(large_scale, dtype=np.float64)
        if ls.ndim < 2 or ls.shape[-1] != ls.shape[-2] or np.any(~np.isfinite(ls) | (ls < 0)):
            raise InvalidInput(f"large_scale must be finite, non-negative [..., K, K], "
                               f"got shape {ls.shape}")
        self.large_scale = ls
        self.fading = fading

    def reset(self, rng: np.random.Generator) -> FloatArray:
        """Start the episode; returns slot 0's gains ``[..., K, K]``."""
        return self.large_scale * self.fading.reset(rng, self.large_scale.shape)

    def step(self) -> FloatArray:
        """Next slot's gains ``[..., K, K]``."""
        return self.large_scale * self.fading.step()


def slot_gains(large_scale: FloatArray, rng: np.random.Generator, num_slots: int,
               rho: float = 0.0) -> FloatArray:
    """A whole episode at once: ``[T, ..., K, K]`` gains for ``T = num_slots`` slots.

    Equivalent to :meth:`SlotChannel.reset` then ``T - 1`` :meth:`SlotChannel.step`
    calls with ``FadingProcess(rho)`` (same draws, same bytes).
    """
    if num_slots < 1:
        raise InvalidInput(f"num_slots must be at least 1, got {num_slots}")
    channel = SlotChannel(large_scale, FadingProcess(rho))
    out = np.empty((num_slots, *channel.large_scale.shape))
    out[0] = channel.reset(rng)
    for t in range(1, num_slots):  # AR(1): slot t needs slot t-1
        out[t] = channel.step()
    return out
