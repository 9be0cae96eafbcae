"""The loop's admission rules alone: expiry and shedding on a given clock."""

from types import SimpleNamespace
from typing import NamedTuple

from rrm.xapp import admission


class _Header(NamedTuple):  # hashable, as the wire's Header
    node_id: str
    deadline_ns: int


def _r(node: str, deadline_ns: int, decodable: bool = True):
    header = _Header(node, deadline_ns)
    return SimpleNamespace(header=header, indication=object() if decodable else None)


def test_expired_are_split_off_and_a_zero_deadline_never_expires():
    batch = [_r("a", 100), _r("b", 101), _r("c", 0), _r("d", 99)]
    live, expired = admission.split_expired(batch, now_ns=100)  # type: ignore[arg-type]
    assert [r.header.node_id for r in live] == ["b", "c"] and expired == 2


def test_shedding_follows_the_predicted_finish_times():
    # 3 decided in one pass of 1 ms each, then answers of 2 ms: finish at 3+2, 3+4, 3+6 ms
    # with nobody shed; the first (deadline 4 ms) would be late -> shed, which shortens
    # the pass to 2 ms: the second finishes at 2+4 = 6 ms < 7 ms, the third at 8 < 9 ms
    ms = 1_000_000
    batch = [_r("a", 4 * ms), _r("b", 7 * ms), _r("c", 9 * ms)]
    shed = admission.to_shed(batch, 0, batch_s=1e-3, answer_s=2e-3)  # type: ignore[arg-type]
    assert shed == {batch[0].header}


def test_nothing_is_shed_before_a_cost_is_known_or_alone():
    batch = [_r("a", 1), _r("b", 1)]
    assert admission.to_shed(batch, 0, 1.0, 0.0) == set()  # type: ignore[arg-type]
    assert admission.to_shed(batch[:1], 0, 1.0, 1.0) == set()  # type: ignore[arg-type]


def test_refusals_are_never_shed():
    batch = [_r("a", 1, decodable=False), _r("b", 10**12)]
    assert admission.to_shed(batch, 0, 1.0, 1.0) == set()  # type: ignore[arg-type]
