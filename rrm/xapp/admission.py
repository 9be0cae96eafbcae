"""What the slot loop takes off the queue together, drops and sheds (docs/architecture.md).

Pure helpers of :class:`rrm.xapp.loop.SlotLoop`: they read the transport and the
clock they are given and change no loop state, so each rule is testable alone.

- Batching: the indications already queued when one arrives are decided
  together (:func:`queued`); with a batching window the loop also waits a
  little for the other nodes' indications of the slot (:func:`gather`).
- Expiry: an indication taken off the queue after its deadline can no longer
  be applied, so it costs nothing more: no policy, no control round trip
  (:func:`split_expired`); its node applies its default allocation.
- Shedding: under sustained overload the oldest indications that would miss
  their deadline if the policy decided them get their node's previous
  decision instead (:func:`to_shed`).
"""

from __future__ import annotations

from collections.abc import Callable, Collection

from rrm.core.wire.messages import Header
from rrm.xapp.transport.base import E2Client, Received, TransportError


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
    live = [r for r in batch if not 0 < r.header.deadline_ns <= now_ns]
    return live, len(batch) - len(live)


def to_shed(batch: list[Received], now_ns: int, batch_s: float,
            answer_s: float) -> set[Header]:
    """Headers of the oldest indications that would miss their deadline if the policy
    decided them.

    Answered in queue order, indication i of n is done after the batched pass
    (n_policy x ``batch_s``, its per-indication share) and i + 1 answers of
    ``answer_s`` each; each one predicted late is served its node's previous
    decision instead (``shed``), which also takes it out of the batched pass.
    """
    if len(batch) < 2 or answer_s <= 0.0:
        return set()
    policy_n, shed = len(batch), set()
    for i, r in enumerate(batch):
        done_ns = now_ns + 1e9 * (policy_n * batch_s + (i + 1) * answer_s)
        if r.indication is not None and 0 < r.header.deadline_ns < done_ns:
            shed.add(r.header)
            policy_n -= 1
    return shed
