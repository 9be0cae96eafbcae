"""The ``ergodic`` scenario of the graph-diffusion paper (sec. 3): an RGG with fading slots.

Paper, sec. 3: N = 400 tx-rx pairs uniform over a square of side R, 32
networks for each R in {5800, 6300, 7000, 7800} m, i.e. average densities
N / R^2 = {11.9, 10.1, 8.2, 6.6} pairs/km^2 (:data:`SIDES_M`,
:data:`DENSITIES_PER_KM2`); path loss plus log-normal shadowing as the
large-scale state, Rayleigh fading redrawn per 50 ms slot; W = 40 MHz,
N0 = -174 dBm/Hz, Pmax = 10 mW; minimum ergodic rates
f_min in {0.4, ..., 0.8} bit/s/Hz (sec. 3.1). The 4 x 5 grid of densities
and QoS levels is :func:`paper_grid`.

From the authors' public code (``deploy_tx_rx_pairs``, ``UDN_PL``), what
the paper leaves out: receivers 20-100 m from their transmitter (uniform in
area), transmitters at least 50 m apart, the d2d dual-slope path loss
(:mod:`rrm.sim.pathloss`) with 7 dB shadowing, fading for a 2.4 GHz carrier and
1 m/s receivers (:attr:`ErgodicConfig.rho`). Where we differ: a transmitter
closer than 50 m to an earlier one is redrawn alone (the authors redraw all
N until none is close, which at N = 400 practically never ends), and a
receiver outside the square is redrawn rather than clipped to the border
(clipping can break the 20 m minimum). Generation is vectorised over
networks and pairs.

The interference graph (:func:`interference_graph`) keeps each receiver's
10 strongest interferers with log-scaled weights.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from typing import Any, Literal

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import ConfigError, InvalidInput
from rrm.core.units import thermal_noise_w
from rrm.sim.fading import FadingProcess, doppler_hz, jakes_rho
from rrm.sim.pathloss import large_scale_gain, pairwise_distance

FloatArray = NDArray[np.float64]
SIDES_M = (5800.0, 6300.0, 7000.0, 7800.0)  # R, sec. 3
DENSITIES_PER_KM2 = (11.9, 10.1, 8.2, 6.6)  # N / R^2 for N = 400, sec. 3
F_MIN_LEVELS = (0.4, 0.5, 0.6, 0.7, 0.8)  # bit/s/Hz, sec. 3.1
NETWORKS_PER_SIDE = 32  # sec. 3: |T| = 4 x 32 = 128 networks
MAX_ROUNDS = 10_000
CHUNK_ELEMENTS = 2**22  # links per generation chunk: 26 networks of N = 400 (34 MB per array)


@dataclass(frozen=True)
class ErgodicConfig:
    """Parameters of the ergodic RGG network (defaults: diffusion paper sec. 3, authors' code)."""

    num_pairs: int = 400  # N = 400, sec. 3
    side_m: float = 7000.0  # R, one of SIDES_M (sec. 3); 8.2 pairs/km^2
    pair_distance_m: tuple[float, float] = (20.0, 100.0)  # authors' code
    min_tx_separation_m: float = 50.0  # authors' code
    shadowing_db: float = 7.0  # authors' code (sec. 3: "log-normal shadowing")
    bandwidth_hz: float = 40e6  # W = 40 MHz, sec. 3
    noise_psd_dbm_hz: float = -174.0  # N0 = -174 dBm/Hz, sec. 3
    pmax_w: float = 0.01  # Pmax = 10 mW, sec. 3
    f_min: float = 0.6  # bit/s/Hz, middle of F_MIN_LEVELS (sec. 3.1)
    slot_s: float = 0.05  # 50 ms slots, sec. 3
    carrier_hz: float = 2.4e9  # authors' code (f_c)
    speed_mps: float = 1.0  # authors' code (receiver speed)
    interferers_kept: int = 10  # authors' code: 10 strongest per receiver

    def __post_init__(self) -> None:
        if self.num_pairs < 1:
            raise ConfigError(f"num_pairs must be at least 1, got {self.num_pairs}")
        lo, hi = self.pair_distance_m
        if not 0 <= lo < hi < self.side_m / 2:
            raise ConfigError(f"pair_distance_m must satisfy 0 <= lo < hi < side/2, got {lo, hi}")
        area_per_tx = self.side_m**2 / self.num_pairs
        if area_per_tx < 4 * self.min_tx_separation_m**2:
            raise ConfigError(f"a {self.side_m} m square is too small for {self.num_pairs} "
                              f"transmitters {self.min_tx_separation_m} m apart")
        if self.pmax_w <= 0 or self.slot_s <= 0 or self.f_min < 0:
            raise ConfigError("pmax_w and slot_s must be positive and f_min non-negative")

    @property
    def noise_w(self) -> float:
        """Noise power over the band, W (-174 dBm/Hz over 40 MHz: 1.6e-13 W)."""
        return thermal_noise_w(self.noise_psd_dbm_hz, self.bandwidth_hz)

    @property
    def density_per_km2(self) -> float:
        """Pairs per square kilometre, N / R^2."""
        return self.num_pairs / (self.side_m / 1000.0) ** 2

    @property
    def rho(self) -> float:
        """Slot-to-slot fading correlation, Jakes: J0(2 pi f_d T) with f_d = v f_c / c."""
        return jakes_rho(doppler_hz(self.speed_mps, self.carrier_hz), self.slot_s)

    def fading(self) -> FadingProcess:
        """The per-slot Gauss-Markov fading process of this network."""
        return FadingProcess(self.rho)

    @classmethod
    def from_overrides(cls, **overrides: Any) -> ErgodicConfig:
        """Defaults with some fields replaced; unknown keys raise ConfigError."""
        known = {f.name for f in dataclasses.fields(cls)}
        bad = sorted(set(overrides) - known)
        if bad:
            raise ConfigError(f"unknown ergodic parameter {bad[0]!r}; "
                              f"known: {', '.join(sorted(known))}")
        if isinstance(overrides.get("pair_distance_m"), list):  # e.g. from JSON
            overrides["pair_distance_m"] = tuple(overrides["pair_distance_m"])
        return dataclasses.replace(cls(), **overrides)


def paper_grid() -> list[ErgodicConfig]:
    """The paper's 20 (density, f_min) settings: every R in SIDES_M x every F_MIN_LEVELS."""
    return [ErgodicConfig(side_m=r, f_min=f) for r in SIDES_M for f in F_MIN_LEVELS]


@dataclass(frozen=True)
class ErgodicNetwork:
    """One network's large-scale state: ``large_scale [N, N]``, positions ``[N, 2]`` metres."""

    large_scale: FloatArray
    tx_xy: FloatArray
    rx_xy: FloatArray
    config: ErgodicConfig


@dataclass(frozen=True)
class ErgodicBatch:
    """``n`` networks: ``large_scale [n, N, N]`` (rx k from tx j), ``tx_xy``/``rx_xy [n, N, 2]``."""

    large_scale: FloatArray
    tx_xy: FloatArray
    rx_xy: FloatArray
    config: ErgodicConfig

    def network(self, i: int) -> ErgodicNetwork:
        """Network ``i`` of the batch."""
        return ErgodicNetwork(self.large_scale[i], self.tx_xy[i], self.rx_xy[i], self.config)


def _separated_transmitters(rng: np.random.Generator, cfg: ErgodicConfig, n: int) -> FloatArray:
    """``[n, N, 2]`` transmitters; the later of each too-close pair is redrawn, per round."""
    tx = rng.uniform(0.0, cfg.side_m, size=(n, cfg.num_pairs, 2))
    for _ in range(MAX_ROUNDS):
        too_close = pairwise_distance(tx, tx) < cfg.min_tx_separation_m  # (n, N, N)
        close = np.triu(too_close, k=1).any(axis=-2)  # (n, N): near an earlier transmitter
        if not close.any():
            return tx
        tx[close] = rng.uniform(0.0, cfg.side_m, size=(int(close.sum()), 2))
    raise InvalidInput("could not separate transmitters; lower the density")


def _receivers(rng: np.random.Generator, tx: FloatArray, cfg: ErgodicConfig) -> FloatArray:
    """``[n, N, 2]`` receivers uniform in area 20-100 m from their transmitter, in the square."""
    lo, hi = cfg.pair_distance_m
    rx = np.empty_like(tx)
    todo = np.ones(tx.shape[:-1], dtype=bool)  # (n, N)
    for _ in range(MAX_ROUNDS):
        m = int(todo.sum())
        radius = np.sqrt(rng.uniform(lo**2, hi**2, size=m))
        angle = rng.uniform(0.0, 2 * np.pi, size=m)
        rx[todo] = tx[todo] + np.stack([radius * np.cos(angle), radius * np.sin(angle)], -1)
        todo = np.any((rx < 0) | (rx > cfg.side_m), axis=-1)
        if not todo.any():
            return rx
    raise InvalidInput("could not place receivers inside the square")


def chunk_rows(config: ErgodicConfig) -> int:
    """Networks generated at once: ``CHUNK_ELEMENTS // N^2``, at least 1."""
    return max(1, CHUNK_ELEMENTS // config.num_pairs**2)


def _generate_chunk(cfg: ErgodicConfig, n: int, rng: np.random.Generator) -> tuple[FloatArray, ...]:
    tx = _separated_transmitters(rng, cfg, n)
    rx = _receivers(rng, tx, cfg)
    large = large_scale_gain(pairwise_distance(rx, tx), rng, cfg.shadowing_db)  # (n, N, N)
    return large, tx, rx


def generate_ergodic(config: ErgodicConfig, n: int, rng: np.random.Generator) -> ErgodicBatch:
    """``n`` networks' large-scale states (layout + shadowing), vectorised over networks.

    Generated in chunks of :func:`chunk_rows` networks from ``rng`` (the
    data-set writer writes the same chunks, hence the same bytes). Fading is
    not part of the state: it is redrawn per slot (:meth:`ErgodicConfig.fading`,
    :class:`rrm.sim.fading.SlotChannel`).
    """
    if n < 1:
        raise InvalidInput(f"number of networks must be at least 1, got {n}")
    step = chunk_rows(config)
    parts = [_generate_chunk(config, min(step, n - lo), rng) for lo in range(0, n, step)]
    large, tx, rx = (np.concatenate(p) for p in zip(*parts, strict=True))
    return ErgodicBatch(large, tx, rx, config)


def generate_ergodic_network(config: ErgodicConfig, rng: np.random.Generator) -> ErgodicNetwork:
    """One network (:func:`generate_ergodic` with n = 1)."""
    return generate_ergodic(config, 1, rng).network(0)


def interference_graph(large_scale: FloatArray, keep: int = 10, snr: float = 1.0,
                       normalization: Literal["spectral", "frobenius", "none"] = "spectral",
                       ) -> FloatArray:
    """Graph shift operator of the interference graph, sec. 3.1 (authors' code).

    Node k is pair k; entry ``[k, j]`` weighs the link from transmitter j to
    receiver k. Each row keeps the direct link and receiver k's ``keep``
    strongest interferers (by large-scale gain); kept entries get the weight
    ``log(1 + snr * G_kj)`` (natural log, positive), the others 0. Pass
    ``snr = pmax_w / noise_w`` for the authors' scaling (``G`` then becomes
    the SNR/INR at full power). Finally the matrix is divided by its
    spectral radius (``"spectral"``: repeated shifts stay bounded) or its
    Frobenius norm.

    Args:
        large_scale: ``[..., N, N]`` linear large-scale power gains.
        keep: interferers kept per receiver (capped at N - 1).
        snr: scale applied to the gains inside the log.
        normalization: ``"spectral"``, ``"frobenius"`` or ``"none"``.

    Returns:
        ``[..., N, N]`` float64, non-negative, ``keep + 1`` non-zeros per row
        where the kept gains are positive.
    """
    g = np.asarray(large_scale, dtype=np.float64)
    n = g.shape[-1]
    keep = max(0, min(keep, n - 1))
    eye = np.eye(n, dtype=bool)
    mask = np.broadcast_to(eye, g.shape).copy()  # (..., N, N)
    if keep > 0:
        cross = np.where(eye, -np.inf, g)  # the direct link never competes
        strongest = np.argpartition(cross, n - keep, axis=-1)[..., n - keep:]  # (..., N, keep)
        np.put_along_axis(mask, strongest, True, axis=-1)
    weights = np.where(mask, np.log1p(snr * np.where(mask, g, 0.0)), 0.0)
    if normalization == "spectral":
        scale = np.abs(np.linalg.eigvals(weights)).max(axis=-1)
    elif normalization == "frobenius":
        scale = np.linalg.norm(weights, axis=(-2, -1))
    elif normalization == "none":
        return weights
    else:
        raise ConfigError(f"unknown normalization {normalization!r}; "
                          f"choose spectral, frobenius or none")
    with np.errstate(divide="ignore", invalid="ignore"):  # an all-zero graph stays zero
        return np.where(scale[..., None, None] > 0, weights / scale[..., None, None], 0.0)
