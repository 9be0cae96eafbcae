"""The one policy interface, and the registry of policies by name.

Every policy, classical or learned, single or batched, answers
``decide(state, objective) -> allocation`` and declares what else it can do
as plain attributes of :class:`Policy` (read as they are, never probed).
Policies are created by name with :func:`make_policy`, from the static map
of :mod:`rrm.models.registry`, which passes that name to the policy.
"""

from __future__ import annotations

from abc import ABC, abstractmethod
from collections.abc import Sequence

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import RrmError
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, State

# The registry is a static map imported on first use; its functions stay importable here.
from rrm.models.registry import PolicyFactory, make_policy, policy_names, register_policy

__all__ = ["Policy", "PolicyFactory", "PolicyUnavailable", "make_policy", "policy_names",
           "register_policy"]


# Mahalanobis distance above which a state counts as outside a model's training
# distribution (rrm.models.gfm.shift; docs/gfm.md, "Shift guard": no D16-D20 test
# snapshot of the shipped heads above it, every Rayleigh-channel snapshot above it).
SHIFT_THRESHOLD = 8.0


class PolicyUnavailable(RrmError):
    """The policy has no answer this slot (e.g. its sample buffer is empty); the xApp falls back."""


class Policy(ABC):
    """A resource-allocation policy and its declared capabilities.

    Attributes:
        name: the name the policy was created under (:func:`make_policy` passes
            the registered name; it is what controls and summaries report).
        version: model or solver version sent with every control (``model_version``).
        supports_warm_start: :meth:`decide_warm` starts from the powers it is
            given (the WMMSE fallback starts from a node's previous decision);
            without it, :meth:`decide_warm` is :meth:`decide`.
        time_sharing: the answers of successive slots time-share to meet ergodic
            constraints on average, so one slot's utility may be poor (the xApp
            skips its per-slot utility guard). Such a policy decides each slot
            from the per-slot state alone: the large-scale state, ``f_min``,
            topology version and network id travel in :class:`InterferenceState`.
        batches_slots: :meth:`decide_batch` over the states of several nodes in
            one slot is faster than one call per state (one batched forward
            pass), so the xApp hands it each slot's queued indications together.
        inline: :meth:`decide` is bounded and cheap (no iterations, no model:
            microseconds), so the xApp calls it on the loop thread, without the
            worker-thread hop and its deadline wait (~0.2 ms per slot);
            :meth:`answers_inline` says it per state.

    A learned policy may also score how far a state lies from its training
    data (:meth:`shift_score`); the xApp's ``distribution_shift`` guard and
    ``rrm solve`` fall back to WMMSE above a threshold
    (:data:`SHIFT_THRESHOLD` by default).
    """

    name: str
    version: str = ""
    supports_warm_start: bool = False
    time_sharing: bool = False
    batches_slots: bool = False
    inline: bool = False

    def __init__(self, name: str) -> None:
        self.name = name

    @abstractmethod
    def decide(self, state: State, objective: Objective) -> Allocation:
        """Allocation for ``state`` (one snapshot or a batch) that maximises ``objective``."""

    def decide_warm(self, state: State, objective: Objective,
                    warm_start: NDArray[np.float64]) -> Allocation:
        """:meth:`decide` from ``warm_start`` ``[..., K]`` W (ignored unless
        ``supports_warm_start``)."""
        return self.decide(state, objective)

    def decide_batch(self, states: Sequence[State],
                     objectives: Sequence[Objective]) -> list[Allocation]:
        """One allocation per state, ``objectives[i]`` for ``states[i]`` (one slot's
        nodes); one by one unless the policy overrides it (``batches_slots``)."""
        return [self.decide(s, o) for s, o in zip(states, objectives, strict=True)]

    def answers_inline(self, state: State) -> bool:
        """:meth:`decide` on ``state`` is bounded and cheap (``inline`` unless a policy
        knows better per state, e.g. a buffered slot vs a synchronous draw)."""
        return self.inline

    def shift_score(self, state: State) -> NDArray[np.float64] | None:
        """Distance of ``state`` from the training data, ``[]`` or ``[n]`` for ``[n, K, K]``
        states (0: typical; see docs/gfm.md, "Shift guard"); None: not scored."""
        return None

    def close(self) -> None:
        """Release what the policy holds beyond memory (threads); nothing by default."""
        return None

