"""The Rayleigh (Gaussian) interference channel of the learning-to-optimize literature.

Sun et al., "Learning to optimize" (2018), sec. IV-A, and the GNN power
control papers that reuse it: K transmitter-receiver pairs, every channel
coefficient ``h_kj ~ CN(0, 1)`` i.i.d. (direct and cross links alike), unit
noise, one power budget for all links. The power gains are therefore
``gains[k, j] = |h_kj|^2 ~ Exp(1)`` and the budget sets the SNR:
``pmax_w = 10^(snr_db / 10)`` with ``noise_w = 1``.

Unlike the d2d scenario, a cross link is as strong as a direct link on
average: no geometry separates a receiver from the other transmitters. A
model trained on d2d layouts has never seen this regime; the shift guard's
tests and figures use it as the family where the model is poor
(docs/gfm.md, "Shift guard").
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np

from rrm.core.errors import ConfigError, InvalidInput

NOISE_W = 1.0  # unit noise (Sun et al. 2018, sec. IV-A)


@dataclass(frozen=True)
class RayleighICConfig:
    """Parameters of the Gaussian interference channel.

    Attributes:
        num_links: K pairs (Sun et al. use K = 10 and 20; default 20).
        snr_db: ``10 log10(pmax / noise)`` of an average link, dB (high SNR
            regime by default; Sun et al. use 0 dB with ``Pmax = 1``).
    """

    num_links: int = 20
    snr_db: float = 30.0

    def __post_init__(self) -> None:
        if self.num_links < 1:
            raise ConfigError(f"num_links must be at least 1, got {self.num_links}")
        if not np.isfinite(self.snr_db):
            raise ConfigError(f"snr_db must be finite, got {self.snr_db}")

    @property
    def noise_w(self) -> float:
        """Noise power, W (unit noise)."""
        return NOISE_W

    @property
    def pmax_w(self) -> float:
        """Per-link budget, W: the average link's SNR at full power is ``snr_db``."""
        return NOISE_W * 10.0 ** (self.snr_db / 10.0)


def generate_rayleigh_ic(config: RayleighICConfig, n: int,
                         rng: np.random.Generator) -> np.ndarray:
    """``n`` snapshots of power gains.

    Args:
        config: K and SNR.
        n: snapshots, >= 1.
        rng: the only source of randomness.

    Returns:
        ``gains [n, K, K]`` float64, ``gains[k, j] = |h_kj|^2 ~ Exp(1)``.
    """
    if n < 1:
        raise InvalidInput(f"number of snapshots must be at least 1, got {n}")
    k = config.num_links
    return rng.exponential(1.0, size=(n, k, k))
