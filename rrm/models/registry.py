"""Policies by name: a static map name -> ``"module:factory"``, imported on first use.

Creating ``wmmse`` imports the WMMSE module only (numpy and scipy, no torch);
a learned policy's module, and torch with it, loads when that policy is made.
Adding a built-in policy is one line in :data:`POLICIES`; a plug-in registers
its own with :func:`register_policy`.
"""

from __future__ import annotations

import importlib
from collections.abc import Callable
from typing import TYPE_CHECKING, Any

from rrm.core.errors import UnknownName

if TYPE_CHECKING:
    from rrm.models.policy import Policy

PolicyFactory = Callable[..., "Policy"]

POLICIES: dict[str, str] = {
    "wmmse": "rrm.models.wmmse_policy:WmmsePolicy",
    "wmmse-best": "rrm.models.wmmse_policy:WmmseBestPolicy",
    "full-reuse": "rrm.models.classical:FullReusePolicy",
    "oracle": "rrm.models.classical:OraclePolicy",
    "gfm": "rrm.models.gfm.policy:GFMPolicy",
    "gfm-wmmse": "rrm.models.gfm.policy:gfm_wmmse",
    "gfm-ensemble": "rrm.models.gfm.policy:gfm_ensemble",
    "gfm-polish": "rrm.models.gfm.polish:gfm_polish",
    "pcgnn": "rrm.models.gfm.policy:pcgnn",
    "diffusion": "rrm.models.diffusion.policy:DiffusionPolicy",
    "primal-dual": "rrm.models.diffusion.policy:PrimalDualPolicy",
    "egat": "rrm.models.cellfree.egat_policy:EgatPolicy",
    "pc-wmmse": "rrm.models.cellfree.pcwmmse:PartialConnectionWmmse",
    "fc-zf": "rrm.models.cellfree.fczf:FullConnectionZF",
    "ao-sca": "rrm.models.cellfree.aosca:AoScaPolicy",
}

_PLUGINS: dict[str, PolicyFactory] = {}


def register_policy(name: str) -> Callable[[PolicyFactory], PolicyFactory]:
    """Decorator registering a plug-in policy factory under ``name`` (a new name only)."""

    def wrap(factory: PolicyFactory) -> PolicyFactory:
        if name in POLICIES:
            raise ValueError(f"policy name {name!r} is built in ({POLICIES[name]})")
        _PLUGINS[name] = factory
        return factory

    return wrap


def policy_names() -> list[str]:
    """Names of every policy, built-in and registered, sorted (imports nothing)."""
    return sorted({*POLICIES, *_PLUGINS})


def policy_factory(name: str) -> PolicyFactory:
    """The factory of ``name``, importing its module on first use."""
    if name in _PLUGINS:
        return _PLUGINS[name]
    if name not in POLICIES:
        raise UnknownName(f"unknown policy {name!r}; available: {', '.join(policy_names())}")
    module, attr = POLICIES[name].split(":")
    factory: PolicyFactory = getattr(importlib.import_module(module), attr)
    return factory


def make_policy(name: str, **kwargs: Any) -> Policy:
    """Create the policy named ``name`` (kwargs go to its factory, with ``name=name``:
    the policy reports the name it was created under)."""
    return policy_factory(name)(name=name, **kwargs)
