"""Optional dependencies: plotting (``rrm[plots]``) and the AO-SCA solver (``rrm[cellfree]``).

Nothing a running xApp, simulator or ``rrm solve`` needs comes from here; the
figures and the convex baseline import their library on first use, and a
missing one is a one-line :class:`MissingDependency` (exit code 2 in the CLI).
"""

from __future__ import annotations

import importlib
from types import ModuleType

from rrm.core.errors import RrmError

EXTRAS = {"matplotlib": "plots", "cvxpy": "cellfree"}  # module -> pip extra


class MissingDependency(RrmError):
    """An optional library is not installed; the message names the extra to install."""


def require(module: str) -> ModuleType:
    """Import ``module`` (a key of :data:`EXTRAS`), or say which extra installs it."""
    try:
        return importlib.import_module(module)
    except ImportError:
        extra = EXTRAS.get(module.split(".")[0], "dev")
        raise MissingDependency(f"{module} is not installed: install rrm[{extra}] "
                                f"(pip install 'rrm[{extra}]')") from None


def pyplot() -> ModuleType:
    """``matplotlib.pyplot`` on the Agg backend (files only: no display on servers)."""
    require("matplotlib").use("Agg")
    return require("matplotlib.pyplot")
