"""Optional dependencies: a missing one is a one-line error naming the extra."""

import sys

import pytest

from rrm.core.errors import RrmError
from rrm.core.optional import MissingDependency, pyplot, require


def test_a_missing_plotting_library_names_the_plots_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "matplotlib", None)  # import fails as if not installed
    with pytest.raises(MissingDependency, match=r"install rrm\[plots\]") as err:
        pyplot()
    assert isinstance(err.value, RrmError) and "\n" not in str(err.value)


def test_a_missing_solver_names_the_cellfree_extra(monkeypatch):
    monkeypatch.setitem(sys.modules, "cvxpy", None)
    with pytest.raises(MissingDependency, match=r"install rrm\[cellfree\]"):
        require("cvxpy")


def test_an_installed_library_is_returned():
    assert pyplot().get_backend().lower() == "agg"
