"""Shadow, promotion and rollback in one process: the pieces behind issue #17 item 3."""

from __future__ import annotations

import time

import numpy as np
import pytest

from rrm.core.errors import ConfigError
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.messages import AckMsg, ControlMsg, Header, IndicationMsg, Outcome
from rrm.models.checkpoint import WEIGHTS, sha256_of
from rrm.models.gfm.policy import CHECKPOINTS
from rrm.models.policy import make_policy
from rrm.xapp.config import XAppConfig
from rrm.xapp.decision import Decider, Decision
from rrm.xapp.guards import GuardConfig
from rrm.xapp.metrics import XAppMetrics
from rrm.xapp.promotion import Promotion
from rrm.xapp.recorder import Recorder
from rrm.xapp.shadow import ShadowObserver, read_shadow
from rrm.xapp.transport.base import Acked, Received

SHIPPED = str(CHECKPOINTS / "gfm-small-sum")


def header(seq: int = 1) -> Header:
    return Header("n0", seq, seq, 0, 0)


def ack(utility: float) -> Acked:
    return Acked(AckMsg(header(), Outcome.ACCEPTED, utility=utility, realised=True), b"", b"")


def promotion(window: int = 4, margin: float = 0.0) -> tuple[Promotion, Decider]:
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse"), GuardConfig(), "sum")
    return Promotion(decider, XAppMetrics(), lambda _: make_policy("wmmse"), "", window,
                     margin), decider


def feed(p: Promotion, utilities: list[float]) -> None:
    control = ControlMsg(header(), PowerAllocation(np.ones(2)), "x", "", "", 0)
    for u in utilities:
        p.on_ack(None, control, ack(u))  # type: ignore[arg-type]


def test_a_promotion_whose_sha256_differs_is_refused_and_the_old_policy_stays():
    p, decider = promotion()
    old = decider.policy
    assert not p.promote(SHIPPED, "0" * 64)
    assert decider.policy is old
    assert p.metrics.promotions.labels("refused")._value.get() == 1


def test_a_promotion_worse_than_the_previous_window_is_rolled_back():
    p, decider = promotion(window=4)
    old = decider.policy
    feed(p, [5.0] * 4)
    assert p.promote(SHIPPED, sha256_of(CHECKPOINTS / "gfm-small-sum" / WEIGHTS))
    assert decider.policy.name == "wmmse"
    feed(p, [3.0] * 3)
    assert decider.policy.name == "wmmse"  # judged only once the window is full
    feed(p, [3.0])
    assert decider.policy is old and p.metrics.rollbacks._value.get() == 1


def test_a_promotion_within_the_margin_is_kept():
    p, decider = promotion(window=4, margin=0.1)
    feed(p, [5.0] * 4)
    assert p.promote(SHIPPED, sha256_of(CHECKPOINTS / "gfm-small-sum" / WEIGHTS))
    feed(p, [4.6] * 8)  # 8 % below: inside the 10 % margin
    assert decider.policy.name == "wmmse" and p.metrics.rollbacks._value.get() == 0


def test_the_shadow_scores_a_candidate_on_the_same_csi_and_records_it(tmp_path):
    rng = np.random.default_rng(0)
    k = 6
    gains = rng.exponential(size=(k, k)) + np.diag(np.full(k, 20.0))
    state = InterferenceState(gains, np.full(k, 0.01), np.ones(k))
    ind = IndicationMsg(header(7), "d2d", state)
    metrics = XAppMetrics()
    recorder = Recorder(tmp_path / "t.rrmtrace", {}, metrics)
    decider = Decider(make_policy("full-reuse"), make_policy("wmmse"), GuardConfig(), "sum")
    shadow = ShadowObserver(decider.objective_for, lambda: "v1", metrics, recorder)
    shadow.set_candidate(make_policy("wmmse"))
    received = Received(ind.header, pb.Indication(), ind, None, 0, 0.0)
    shadow.on_decision(received, Decision(PowerAllocation(np.ones(k)), "full-reuse"))
    end = time.monotonic() + 10
    while shadow.scored < 1 and time.monotonic() < end:
        time.sleep(0.01)
    shadow.close()
    recorder.close()
    means = shadow.means()
    assert means["shadow"] is not None and means["active"] is not None
    assert means["shadow"] > means["active"]  # WMMSE beats full reuse under this interference
    [record] = read_shadow(tmp_path / "t.rrmtrace")
    assert record["seq"] == 7 and record["active_policy"] == "full-reuse"
    assert record["shadow_utility"] == pytest.approx(means["shadow"])


@pytest.mark.parametrize("values", [{"checkpoint_sha256": "abc"}, {"rollback_margin": 1.5},
                                    {"rollback_window": -1}])
def test_promotion_settings_out_of_range_are_config_errors(values):
    with pytest.raises(ConfigError):
        XAppConfig(**values)
