"""The one policy interface, and the registry of policies by name.

Every policy, classical or learned, single or batched, answers
``decide(state, objective) -> allocation``. Policies are created by name with
:func:`make_policy`, from the static map of :mod:`rrm.models.registry`.
"""

from __future__ import annotations

from typing import Protocol, runtime_checkable

from rrm.core.errors import RrmError
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, State

# The registry is a static map imported on first use; its functions stay importable here.
from rrm.models.registry import PolicyFactory, make_policy, policy_names, register_policy

__all__ = ["Policy", "PolicyFactory", "PolicyUnavailable", "make_policy", "policy_names",
           "register_policy"]


class PolicyUnavailable(RrmError):
    """The policy has no answer this slot (e.g. its sample buffer is empty); the xApp falls back."""


@runtime_checkable
class Policy(Protocol):
    """A resource-allocation policy."""

    name: str

    def decide(self, state: State, objective: Objective) -> Allocation:
        """Allocation for ``state`` that maximises ``objective``."""
        ...

