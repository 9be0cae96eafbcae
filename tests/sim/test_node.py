"""A simulated node: defaults, control delay, and typed rejections of bad controls."""

import numpy as np
import pytest

from rrm.core import physics
from rrm.core.types import PowerAllocation
from rrm.core.wire.messages import AppliedSource, Cause, ControlMsg, Outcome, Refusal
from rrm.sim.nodes import NodeSpec, build_node

K = 5


def node(**kw):
    # deadlines far: no test here races the clock (a loaded machine made a bad power late)
    return build_node(NodeSpec(num_links=K, **kw), "n0", seed=3, slot_period_s=2.0)


def control(ind, power, **kw):
    return ControlMsg(ind.header, PowerAllocation(np.asarray(power, float)), "test", **kw)


def test_default_is_full_power_then_the_previous_allocation():
    n = node()
    pmax = n.env.topology.pmax_w
    n.open_slot()
    obs = n.env.observe().true_state
    first = n.close_slot()  # nobody answered: full power
    np.testing.assert_allclose(first.rates, physics.rates(obs.gains, pmax, obs.noise_w))
    assert n.counters["missing"] == 1
    ind = n.open_slot()
    half = pmax / 2
    assert n.control(control(ind, half)).outcome == Outcome.ACCEPTED
    n.close_slot()
    ind = n.open_slot()
    ack = n.control(ControlMsg(ind.header, Refusal(Cause.UNSUPPORTED_INPUT, "no"), "test"))
    assert ack.outcome == Outcome.REFUSAL_NOTED and ack.applied_source == AppliedSource.PREVIOUS
    obs = n.env.observe().true_state
    result = n.close_slot()
    np.testing.assert_allclose(result.rates, physics.rates(obs.gains, half, obs.noise_w))


def test_control_delay_applies_the_decision_d_slots_later():
    n = node(control_delay_slots=2)
    ind = n.open_slot()
    power = np.linspace(0.001, 0.01, K)
    ack = n.control(control(ind, power))
    assert ack.outcome == Outcome.ACCEPTED and not ack.realised and ack.applied_slot == 2
    n.close_slot()
    n.open_slot()
    n.close_slot()
    n.open_slot()
    obs = n.env.observe().true_state
    result = n.close_slot()
    np.testing.assert_allclose(result.rates, physics.rates(obs.gains, power, obs.noise_w))



def test_an_accepted_control_is_applied_once_and_its_outcome_is_the_slots():
    n = node()
    calls = []
    apply = n.env.apply
    n.env.apply = lambda alloc: calls.append(alloc) or apply(alloc)  # type: ignore[method-assign]
    ind = n.open_slot()
    ack = n.control(control(ind, n.env.topology.pmax_w / 3))
    result = n.close_slot()
    assert len(calls) == 1  # closing the slot reuses the outcome the ack reported
    np.testing.assert_array_equal(result.rates, ack.rates)
    assert result.utility == ack.utility and result.slot == ack.applied_slot


@pytest.mark.parametrize("power, cause", [
    (np.full(K, np.nan), Cause.INVALID_MESSAGE),
    (np.full(K, 1.0), Cause.INVALID_MESSAGE),  # over the 10 mW budget
    (np.full(K - 1, 0.001), Cause.INVALID_MESSAGE),  # K mismatch
    (-np.ones(K) * 0.001, Cause.INVALID_MESSAGE),
])
def test_bad_controls_are_rejected_with_a_typed_cause_and_counted(power, cause):
    n = node()
    ind = n.open_slot()
    ack = n.control(control(ind, power))
    assert ack.outcome == Outcome.REJECTED and ack.cause == cause and ack.detail
    assert n.counters["invalid_message"] == 1
    assert n.control(control(ind, np.full(K, 0.001))).outcome == Outcome.ACCEPTED


def test_duplicate_late_and_unknown_controls():
    n = node()
    ind = n.open_slot()
    assert n.control(control(ind, np.full(K, 0.001))).outcome == Outcome.ACCEPTED
    assert n.control(control(ind, np.full(K, 0.001))).cause == Cause.DUPLICATE
    n.close_slot()
    n.open_slot()
    late = n.control(control(ind, np.full(K, 0.001)))
    assert late.cause == Cause.DUPLICATE  # already answered stays a duplicate
    stale_header = ind.header.__class__(**{**ind.header.__dict__, "sequence_number": 99})
    ack = n.control(ControlMsg(stale_header, PowerAllocation(np.full(K, 0.001)), "t"))
    assert ack.cause == Cause.STALE
    other = ind.header.__class__(**{**ind.header.__dict__, "node_id": "elsewhere"})
    assert n.control(ControlMsg(other, PowerAllocation(np.full(K, 0.001)), "t")).cause == \
        Cause.UNKNOWN_SUBSCRIPTION


def test_control_after_the_slot_closed_is_timer_expired():
    n = node()
    ind = n.open_slot()
    n.close_slot()
    n.open_slot()
    ack = n.control(control(ind, np.full(K, 0.001)))
    assert ack.cause == Cause.TIMER_EXPIRED and n.counters["timer_expired"] == 1


def test_control_past_the_deadline_is_timer_expired():
    n = node()
    ind = n.open_slot(now_ns=0)
    ack = n.control(control(ind, np.full(K, 0.001)), now_ns=ind.header.deadline_ns + 1)
    assert ack.cause == Cause.TIMER_EXPIRED


def test_csi_loss_masks_reported_cross_links_only():
    n = node(csi_loss=0.5)
    obs = n.env.observe()
    mask = obs.reported.csi_mask
    assert mask is not None and mask[np.eye(K, dtype=bool)].all()
    assert np.all(obs.reported.gains[~mask] == 0)
    assert np.all(obs.true_state.gains > 0)
