"""The objective registry: one definition of each network utility.

Used by training losses, guards and evaluation alike. Every utility maps
per-link rates ``[..., K]`` (bit/s/Hz) to a per-sample utility ``[...]`` and
works on numpy arrays and torch tensors (differentiable in torch).

==========  ==========================================================
name        utility
==========  ==========================================================
``sum``     ``sum_k r_k``
``pf``      ``sum_k log(max(r_k, pf_floor))``; ``pf_floor = 1e-6``
            bit/s/Hz, so a link with rate 0 costs log(1e-6) ~ -13.8
            instead of -inf
``qos``     ``sum_k [r_k - alpha * max(0, r_min - r_k)]``;
            ``r_min = 0.3`` bit/s/Hz, ``alpha = 15`` (GFM-RA, sec. IV-A)
``wsr``     ``sum_k w_k r_k``; weights default to 1 (= ``sum``)
==========  ==========================================================
"""

from __future__ import annotations

from collections.abc import Callable
from dataclasses import dataclass, field, replace
from typing import Any

import numpy as np

from rrm.core.errors import UnknownName

PF_FLOOR = 1e-6  # bit/s/Hz: the floor of log(rate) in "pf"
QOS_R_MIN = 0.3  # bit/s/Hz, GFM-RA sec. IV-A "Fine-tuning Details"
QOS_ALPHA = 15.0  # penalty factor, GFM-RA sec. IV-A


def _is_torch(x: Any) -> bool:
    return type(x).__module__.startswith("torch")


def _log(x: Any) -> Any:
    if _is_torch(x):
        import torch

        return torch.log(x)
    return np.log(x)


def _clamp_min(x: Any, lo: float) -> Any:
    if _is_torch(x):
        return x.clamp(min=lo)
    return np.maximum(x, lo)


@dataclass(frozen=True)
class Objective:
    """A network utility with its parameters.

    Attributes:
        name: one of :data:`OBJECTIVE_NAMES`.
        r_min: QoS minimum rate in bit/s/Hz (``qos`` only).
        alpha: QoS penalty factor (``qos`` only).
        pf_floor: floor of the rate inside the log (``pf`` only), bit/s/Hz.
        weights: per-link weights ``[K]`` or ``[..., K]`` (``wsr`` only; None = 1).
    """

    name: str = "sum"
    r_min: float = QOS_R_MIN
    alpha: float = QOS_ALPHA
    pf_floor: float = PF_FLOOR
    weights: Any = field(default=None, compare=False)

    def __post_init__(self) -> None:
        if self.name not in _UTILITIES:
            raise UnknownName(
                f"unknown objective {self.name!r}; choose one of {', '.join(OBJECTIVE_NAMES)}"
            )

    def utility(self, rates: Any) -> Any:
        """Per-sample utility ``[...]`` from per-link rates ``[..., K]`` bit/s/Hz."""
        return _UTILITIES[self.name](self, rates)

    def with_weights(self, weights: Any) -> Objective:
        """A copy of this objective with other ``wsr`` weights."""
        return replace(self, weights=weights)


def _sum(obj: Objective, r: Any) -> Any:
    return r.sum(-1)


def _pf(obj: Objective, r: Any) -> Any:
    return _log(_clamp_min(r, obj.pf_floor)).sum(-1)


def _qos(obj: Objective, r: Any) -> Any:
    shortfall = _clamp_min(obj.r_min - r, 0.0)
    return (r - obj.alpha * shortfall).sum(-1)


def _wsr(obj: Objective, r: Any) -> Any:
    if obj.weights is None:
        return r.sum(-1)
    w = obj.weights
    if _is_torch(r) and not _is_torch(w):
        import torch

        w = torch.as_tensor(np.asarray(w), dtype=r.dtype, device=r.device)
    return (w * r).sum(-1)


_UTILITIES: dict[str, Callable[[Objective, Any], Any]] = {
    "sum": _sum,
    "pf": _pf,
    "qos": _qos,
    "wsr": _wsr,
}
OBJECTIVE_NAMES: tuple[str, ...] = tuple(_UTILITIES)


def get_objective(name: str | Objective, **params: Any) -> Objective:
    """Look up an objective by name, with optional parameter overrides."""
    if isinstance(name, Objective):
        return replace(name, **params) if params else name
    return Objective(name=name, **params)
