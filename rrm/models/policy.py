"""The one policy interface, and the registry of policies by name.

Every policy, classical or learned, single or batched, answers
``decide(state, objective) -> allocation``. Policies are created by name with
:func:`make_policy`; each module that defines a policy registers a factory
with :func:`register_policy`.
"""

from __future__ import annotations

from collections.abc import Callable
from typing import Any, Protocol, runtime_checkable

from rrm.core.errors import RrmError, UnknownName
from rrm.core.objectives import Objective
from rrm.core.types import Allocation, State


class PolicyUnavailable(RrmError):
    """The policy has no answer this slot (e.g. its sample buffer is empty); the xApp falls back."""


@runtime_checkable
class Policy(Protocol):
    """A resource-allocation policy."""

    name: str

    def decide(self, state: State, objective: Objective) -> Allocation:
        """Allocation for ``state`` that maximises ``objective``."""
        ...


PolicyFactory = Callable[..., Policy]
_REGISTRY: dict[str, PolicyFactory] = {}


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Class/function decorator registering a policy factory under ``name``."""

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        _REGISTRY[name] = factory
        return factory

    return wrap


def policy_names() -> list[str]:
    """Names of every registered policy, sorted."""
    _load_builtin_policies()
    return sorted(_REGISTRY)


def make_policy(name: str, **kwargs: Any) -> Policy:
    """Create the policy registered as ``name`` (kwargs go to its factory)."""
    _load_builtin_policies()
    if name not in _REGISTRY:
        raise UnknownName(f"unknown policy {name!r}; available: {', '.join(sorted(_REGISTRY))}")
    return _REGISTRY[name](**kwargs)


def _load_builtin_policies() -> None:
    # Importing the modules runs their @register_policy decorators.
    import rrm.models.cellfree.policies  # noqa: F401
    import rrm.models.classical  # noqa: F401
    import rrm.models.diffusion.policy  # noqa: F401
    import rrm.models.gfm.policy  # noqa: F401
    import rrm.models.wmmse_policy  # noqa: F401
