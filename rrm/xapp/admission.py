"""What the slot loop takes off the queue together, drops and sheds (docs/architecture.md).

Pure helpers of :class:`rrm.xapp.loop.SlotLoop`: they read the transport and the
clock they are given and change no loop state, so each rule is testable alone.

- Batching: the indications already queued when one arrives are decided
  together (:func:`queued`); with a batching window the loop also waits a
  little for the other nodes' indications of the slot (:func:`gather`).
- Expiry: an indication taken off the queue after its deadline can no longer
  be applied, so it costs nothing more: no policy, no control round trip
  (:func:`split_expired`); its node applies its default allocation.
- Replacement: a node's older indication still queued behind a newer one is
  stale CSI; only the newest per node is answered (:func:`latest`).
- Planning: from running averages of the loop's costs (:class:`Costs`) no work
  starts that cannot finish before its deadline: under overload some
  indications get their cheapest answer (their node's previous decision, else
  full reuse: ``shed``) so that the policy's pass still ends in time for the
  rest, and one not even the cheapest answer would reach in time is dropped
  (``no_time``) (:func:`plan`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection
from dataclasses import dataclass

from rrm.core.wire.messages import Header
from rrm.xapp.transport.base import E2Client, Received, TransportError

COST_WEIGHT = 0.1  # weight of the newest sample in the running cost averages
SEQ_MODULUS = 1 << 64  # sequence numbers are uint64 on the wire
NO_DEADLINE = 1 << 63  # sorts a 0 (no) deadline after every real one, ns


def queued(client: E2Client, limit: int) -> list[Received]:
    """Up to ``limit`` indications already waiting (none if the stream just broke:
    the next receive reports that, after this batch is answered)."""
    out: list[Received] = []
    while len(out) < limit:
        try:
            received = client.next_indication(0.0)
        except TransportError:
            break
        if received is None:
            break
        out.append(received)
    return out


def gather(client: E2Client, batch: list[Received], limit: int, *, window_s: float,
           clock_ns: Callable[[], int], cost_s: float, known: Collection[str]) -> list[Received]:
    """``batch`` with the indications that arrive within the batching window.

    The loop waits up to ``window_s`` for more indications to decide in the same
    pass, but not once every node in ``known`` (the subscription's, else those
    answered so far) has one in the batch, nor past the earliest deadline in the
    batch less the batch's expected cost (``cost_s`` per indication, the loop's
    running averages).
    """
    if window_s <= 0 or len(batch) >= limit:
        return batch
    end_ns = clock_ns() + int(window_s * 1e9)
    deadlines = [r.header.deadline_ns for r in batch if r.header.deadline_ns > 0]
    if deadlines:
        end_ns = min(end_ns, min(deadlines) - int(1e9 * cost_s * (len(batch) + 1)))
    nodes = {r.header.node_id for r in batch}
    while len(batch) < limit and not set(known) <= nodes:
        left_s = (end_ns - clock_ns()) / 1e9
        if left_s <= 0:
            break
        try:
            received = client.next_indication(left_s)
        except TransportError:
            break  # reported by the next receive, after this batch is answered
        if received is None:
            break
        batch.append(received)
        nodes.add(received.header.node_id)
    return batch


def split_expired(batch: list[Received], now_ns: int) -> tuple[list[Received], int]:
    """The indications of ``batch`` still before their deadline at ``now_ns``, and how
    many are already past it (0 deadline: none)."""
    live = [r for r in batch if not expired(r, now_ns)]
    return live, len(batch) - len(live)


def expired(received: Received, now_ns: int) -> bool:
    """``received`` is past its deadline at ``now_ns`` (a 0 deadline never passes)."""
    return 0 < received.header.deadline_ns <= now_ns


def latest(batch: list[Received], foreign: Callable[[Header], str]) -> tuple[list[Received], int]:
    """``batch`` without the indications a newer one from the same node replaces, and
    how many those are (``replaced``).

    A node's newer indication carries newer CSI and a later deadline, so the older
    one is worthless work: only the newest per ``(channel_id, node_id)`` stream is
    kept (newest by sequence number, serial arithmetic as the loop's freshness
    check). Equal sequence numbers are all kept (the loop drops the repeats as
    ``duplicate``), and so is every indication ``foreign`` names a reason for (the
    loop drops it under that reason), so no other drop reason changes.
    """
    newest: dict[tuple[str, str], int] = {}
    for r in batch:
        h = r.header
        key = (h.channel_id, h.node_id)
        if not foreign(h) and (key not in newest or serial_newer(h.sequence_number,
                                                                  newest[key])):
            newest[key] = h.sequence_number
    kept = [r for r in batch if foreign(r.header)
            or newest[(r.header.channel_id, r.header.node_id)] == r.header.sequence_number]
    return kept, len(batch) - len(kept)


def serial_newer(seq: int, last: int) -> bool:
    """``seq`` comes after ``last`` modulo 2^64 (RFC 1982: ``0 < (seq - last) mod 2^64
    < 2^63``)."""
    return 0 < (seq - last) % SEQ_MODULUS < SEQ_MODULUS // 2


@dataclass(frozen=True)
class Costs:
    """Running averages of the loop's work per indication (exponential, weight
    :data:`COST_WEIGHT` on the newest sample), seconds; 0 until measured.

    Attributes:
        policy_s: the policy's time for one indication (its share of a batched
            pass, or its own call).
        answer_s: answering one decided indication, the policy excluded (guards,
            fallback, encode, send, settling acks, accounting).
        cheap_s: answering one shed indication (its cheapest answer, sent).
    """

    policy_s: float = 0.0
    answer_s: float = 0.0
    cheap_s: float = 0.0

    def after_pass(self, share_s: float) -> Costs:
        """These averages with one batched pass's measured share per indication, s
        (learnt even when the answers it served are then dropped)."""
        return Costs(_ewma(self.policy_s, share_s), self.answer_s, self.cheap_s)

    def after_decided(self, answer_s: float, policy_s: float | None = None) -> Costs:
        """These averages with one decided indication's measured answer time and, when
        it was decided on its own (no batched pass), its policy time, s."""
        # built directly, not with dataclasses.replace: once per answer on the loop's path
        return Costs(self.policy_s if policy_s is None else _ewma(self.policy_s, policy_s),
                     _ewma(self.answer_s, answer_s), self.cheap_s)

    def aged(self, *, decided: bool = False, cheap: bool = False) -> Costs:
        """These averages after a turn whose plan left a path unused: the ``decided``
        path's estimates (``policy_s``, ``answer_s``) or the ``cheap`` one's decay by
        :data:`COST_WEIGHT`, so an estimate learnt in a slow spell cannot keep that
        path shut for good (nothing would measure it again); the next answer on it
        does."""
        if not (decided or cheap):
            return self
        keep = 1 - COST_WEIGHT
        return Costs(keep * self.policy_s if decided else self.policy_s,
                     keep * self.answer_s if decided else self.answer_s,
                     keep * self.cheap_s if cheap else self.cheap_s)

    def after_cheap(self, cheap_s: float) -> Costs:
        """These averages with one shed indication's measured answer time, s."""
        return Costs(self.policy_s, self.answer_s, _ewma(self.cheap_s, cheap_s))


def _ewma(average: float, sample: float) -> float:
    """The first sample sets an unmeasured (0) average, later ones move it."""
    return sample if average <= 0.0 else (1 - COST_WEIGHT) * average + COST_WEIGHT * sample


@dataclass(frozen=True)
class Plan:
    """What the loop does with one batch of live indications, in this order.

    Attributes:
        first: answered before the policy runs, in deadline order: the transport's
            refusals and the ``shed`` ones (served their cheapest answer).
        decided: decided by the policy (one batched pass), answered after it in
            deadline order.
        shed: the headers of ``first`` served their cheapest answer.
        no_time: dropped unanswered (``no_time``): not even the cheapest answer
            would reach the node before its deadline.
    """

    first: list[Received]
    decided: list[Received]
    shed: frozenset[Header]
    no_time: list[Received]


def plan(batch: list[Received], now_ns: int, costs: Costs, *,
         sheddable: Callable[[Received], bool],
         priority: Callable[[Received], int]) -> Plan:
    """Which indications the policy decides, which get their cheapest answer, which
    are dropped, so that no work starts that cannot finish before its deadline.

    The predicted timeline: the cheap answers first (``costs.cheap_s`` each, in
    deadline order), then one batched pass (``costs.policy_s`` per decided
    indication), then the decided answers (``costs.answer_s`` each, deadline
    order). While a cheap answer is predicted late, it is dropped (``no_time``);
    while a decided one is predicted late, one ``sheddable`` indication moves to the
    cheap answers, which shortens the pass for all: among those answered up to the
    late one (else among all), the one of largest ``priority`` (the node whose last
    policy decision is the most recent, so nodes take turns).
    Unmeasured costs (0) predict nothing late: everything is decided, as without
    overload. Refusals the transport made are answered first and never moved.
    """
    refusals = [r for r in batch if r.indication is None]
    decided = [r for r in batch if r.indication is not None]
    shed: list[Received] = []
    no_time: list[Received] = []
    while True:
        late_cheap, late_at = _late(refusals, shed, decided, now_ns, costs)
        if late_cheap is not None:
            shed.remove(late_cheap)
            no_time.append(late_cheap)
            continue
        if late_at is None:
            break
        # moving one answered before the late one saves it a pass share and an answer,
        # one after it only a pass share: those go first
        order = _by_deadline(decided)
        movable = ([r for r in order[:late_at + 1] if sheddable(r)]
                   or [r for r in order if sheddable(r)])
        if not movable:
            break
        moved = max(movable, key=priority)  # the first of equals: deadline order decides
        decided.remove(moved)
        shed.append(moved)
    return Plan(_by_deadline(refusals + shed), _by_deadline(decided),
                frozenset(r.header for r in shed), no_time)


def overloaded(batch: list[Received], now_ns: int, costs: Costs, *,
               sheddable: Callable[[Received], bool]) -> bool:
    """Whether :func:`plan` of ``batch`` would shed or drop anything: with every
    indication decided, one is predicted late and some indication is ``sheddable``.
    One pass over the timeline, where :func:`plan` may take one per indication it
    moves (milliseconds for a backlog of 128)."""
    refusals = [r for r in batch if r.indication is None]
    decided = [r for r in batch if r.indication is not None]
    _, late_at = _late(refusals, [], decided, now_ns, costs)
    return late_at is not None and any(sheddable(r) for r in decided)


def _late(refusals: list[Received], shed: list[Received], decided: list[Received],
          now_ns: int, costs: Costs) -> tuple[Received | None, int | None]:
    """The first cheap answer predicted past its deadline (None: none), and the place of
    the first decided one predicted late in deadline order (None: none), on the
    timeline of :func:`plan`."""
    t_ns = float(now_ns)
    for r in _by_deadline(refusals + shed):
        t_ns += 1e9 * costs.cheap_s
        if r.indication is not None and _after(r, t_ns):
            return r, None
    t_ns += 1e9 * costs.policy_s * len(decided)
    for i, r in enumerate(_by_deadline(decided)):
        t_ns += 1e9 * costs.answer_s
        if _after(r, t_ns):
            return None, i
    return None, None


def _after(r: Received, t_ns: float) -> bool:
    return 0 < r.header.deadline_ns < t_ns


def _by_deadline(batch: list[Received]) -> list[Received]:
    """Earliest deadline first (a 0 deadline last); equal ones in queue order."""
    return sorted(batch, key=lambda r: r.header.deadline_ns or NO_DEADLINE)
