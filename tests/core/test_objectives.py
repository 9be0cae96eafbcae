"""The objective registry: closed forms, numpy/torch agreement, bad names."""

import numpy as np
import pytest
import torch

from rrm.core.errors import UnknownName
from rrm.core.objectives import OBJECTIVE_NAMES, PF_FLOOR, get_objective

RATES = np.array([[0.1, 1.0, 2.0], [0.0, 0.5, 0.3]])


def test_registry_holds_the_four_documented_objectives():
    assert set(OBJECTIVE_NAMES) == {"sum", "pf", "qos", "wsr"}


def test_sum_rate():
    np.testing.assert_allclose(get_objective("sum").utility(RATES), [3.1, 0.8])


def test_pf_uses_log_with_documented_floor_for_zero_rate():
    u = get_objective("pf").utility(RATES)
    np.testing.assert_allclose(u[0], np.log(0.1) + np.log(1.0) + np.log(2.0))
    np.testing.assert_allclose(u[1], np.log(PF_FLOOR) + np.log(0.5) + np.log(0.3))


def test_qos_penalises_shortfall_below_r_min_with_alpha():
    u = get_objective("qos").utility(RATES)  # r_min 0.3, alpha 15
    np.testing.assert_allclose(u[0], 3.1 - 15 * 0.2)
    np.testing.assert_allclose(u[1], 0.8 - 15 * 0.3)
    custom = get_objective("qos", r_min=1.0, alpha=2.0).utility(RATES[:1])
    np.testing.assert_allclose(custom, [3.1 - 2 * 0.9])


def test_wsr_defaults_to_sum_and_uses_weights():
    np.testing.assert_allclose(get_objective("wsr").utility(RATES), [3.1, 0.8])
    w = np.array([2.0, 0.0, 1.0])
    np.testing.assert_allclose(get_objective("wsr", weights=w).utility(RATES), [2.2, 0.3])


@pytest.mark.parametrize("name", OBJECTIVE_NAMES)
def test_torch_utility_matches_numpy_and_is_differentiable(name):
    kw = {"weights": np.array([1.0, 2.0, 3.0])} if name == "wsr" else {}
    obj = get_objective(name, **kw)
    r = torch.tensor(RATES + 0.05, requires_grad=True)
    u = obj.utility(r)
    np.testing.assert_allclose(u.detach().numpy(), obj.utility(RATES + 0.05), rtol=1e-12)
    u.sum().backward()
    assert r.grad is not None and torch.isfinite(r.grad).all()


def test_unknown_objective_names_the_choices():
    with pytest.raises(UnknownName, match="choose one of sum, pf, qos, wsr"):
        get_objective("max-min")
