"""Domain types shared by the simulator, the policies and the xApp.

States are what a controller sees in one slot (or a batch of slots);
allocations are what it decides. All arrays follow docs/architecture.md's
conventions, SI units, sample axis first.
"""

from __future__ import annotations

from dataclasses import dataclass

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput


def _broadcast_budget(value: float | NDArray[np.float64], shape: tuple[int, ...],
                      name: str) -> NDArray[np.float64]:
    """``value`` (scalar or array) as a read-only float64 view of ``shape``; one line if not."""
    arr = np.asarray(value, dtype=np.float64)
    if arr.shape == shape:  # per-link already (the usual case): a read-only view, no broadcast
        view = arr.view()
        view.flags.writeable = False
        return view
    try:
        return np.broadcast_to(arr, shape)
    except ValueError:
        raise InvalidInput(f"{name} must be a scalar or broadcast to {list(shape)}, "
                           f"got shape {list(np.shape(value))}") from None


@dataclass(frozen=True)
class InterferenceState:
    """CSI of an interference network (d2d, ergodic), one or a batch of snapshots.

    Attributes:
        gains: ``[K, K]`` or ``[n, K, K]`` float, linear power gain, receiver k
            from transmitter j (as reported: masked entries already filled).
        noise_w: scalar or ``[..., K]``, noise power in watts.
        pmax_w: scalar or ``[..., K]``, per-link power budget in watts.
        csi_mask: optional bool like ``gains``, False where a cross link was
            not reported.
        weights: optional ``[..., K]`` per-link weights for ``wsr``.
        large_scale: optional ``[K, K]`` float, linear large-scale (path loss and
            shadowing) power gain of an ergodic network, receiver k from
            transmitter j; what time-sharing policies condition on.
        f_min: optional ``[K]`` minimum ergodic rates, bit/s/Hz.
        topology_version: changes whenever ``large_scale`` does (ergodic nodes).
        network_id: the network this state is a slot of (the E2 node id;
            time-sharing policies keep one sample buffer per network).
    """

    gains: NDArray[np.float64]
    noise_w: float | NDArray[np.float64]
    pmax_w: float | NDArray[np.float64]
    csi_mask: NDArray[np.bool_] | None = None
    weights: NDArray[np.float64] | None = None
    large_scale: NDArray[np.float64] | None = None
    f_min: NDArray[np.float64] | None = None
    topology_version: int = 0
    network_id: str = ""

    @property
    def num_links(self) -> int:
        """K, the number of transmitter-receiver pairs."""
        return int(self.gains.shape[-1])

    @property
    def batched(self) -> bool:
        """True when ``gains`` carries a sample axis."""
        return self.gains.ndim == 3

    @property
    def pmax_per_link(self) -> NDArray[np.float64]:
        """``[..., K]`` float watts: ``pmax_w`` broadcast to every link (read-only view)."""
        return _broadcast_budget(self.pmax_w, np.shape(self.gains)[:-1], "pmax_w")

    @property
    def noise_per_link(self) -> NDArray[np.float64]:
        """``[..., K]`` float watts: ``noise_w`` broadcast to every receiver (read-only view)."""
        return _broadcast_budget(self.noise_w, np.shape(self.gains)[:-1], "noise_w")


@dataclass(frozen=True)
class PowerAllocation:
    """Transmit powers decided for an interference network.

    Attributes:
        power_w: ``[..., K]`` float watts, within ``[0, pmax_w]``.
        iterations: optional ``[...]`` int, iterations an iterative solver ran.
    """

    power_w: NDArray[np.float64]
    iterations: NDArray[np.int64] | None = None


@dataclass(frozen=True)
class CellFreeState:
    """CSI of a cell-free downlink: B APs with M antennas, K single-antenna UEs.

    Attributes:
        h: complex ``[..., B, K, M]``, channel from AP b to UE k.
        noise_w: scalar, noise power at each UE in watts.
        pmax_w: scalar or ``[B]``, per-AP power budget in watts.
        fronthaul_bps: scalar or ``[B]``, fronthaul capacity of each AP, bit/s.
        bandwidth_hz: system bandwidth in Hz.
        weights: optional ``[..., K]`` per-UE weights for ``wsr``.
    """

    h: NDArray[np.complex128]
    noise_w: float
    pmax_w: float | NDArray[np.float64]
    fronthaul_bps: float | NDArray[np.float64]
    bandwidth_hz: float
    weights: NDArray[np.float64] | None = None

    @property
    def num_links(self) -> int:
        """K, the number of UEs."""
        return int(np.shape(self.h)[-2])

    @property
    def pmax_per_ap(self) -> NDArray[np.float64]:
        """``[..., B]`` float watts: ``pmax_w`` broadcast to every AP (read-only view)."""
        return _broadcast_budget(self.pmax_w, np.shape(self.h)[:-2], "pmax_w")

    @property
    def fronthaul_per_ap(self) -> NDArray[np.float64]:
        """``[..., B]`` float bit/s: ``fronthaul_bps`` broadcast to every AP (read-only view)."""
        return _broadcast_budget(self.fronthaul_bps, np.shape(self.h)[:-2], "fronthaul_bps")

    @property
    def noise_per_ue(self) -> NDArray[np.float64]:
        """``[..., K]`` float watts: ``noise_w`` broadcast to every UE (read-only view)."""
        shape = np.shape(self.h)
        return _broadcast_budget(self.noise_w, (*shape[:-3], shape[-2]), "noise_w")


@dataclass(frozen=True)
class BeamformingAllocation:
    """Beamformers and AP-UE association for a cell-free downlink.

    Attributes:
        v: complex ``[..., B, K, M]``, beamformer of AP b for UE k (sqrt-watts).
        x: ``[..., B, K]`` in {0, 1}, AP b serves UE k.
    """

    v: NDArray[np.complex128]
    x: NDArray[np.int8]


State = InterferenceState | CellFreeState
Allocation = PowerAllocation | BeamformingAllocation
