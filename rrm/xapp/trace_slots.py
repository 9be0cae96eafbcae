"""A recorded run as slots: what ``rrm explain`` and ``rrm trace report`` read.

The recorder (:class:`rrm.xapp.recorder.Recorder`) writes each answered slot
as three consecutive records: indication, control, ack. :func:`read_slots`
decodes them back into :class:`TraceSlot` objects, in recording order, and
the trace's metadata gives the xApp configuration they were decided under
(objective, guard thresholds, deadline fraction, policy, checkpoint).
"""

from __future__ import annotations

from dataclasses import dataclass
from pathlib import Path
from typing import Any

from rrm.core.errors import InvalidInput
from rrm.core.objectives import Objective, get_objective
from rrm.core.trace import RecordKind, read_trace
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_ack, decode_control, decode_indication
from rrm.core.wire.messages import AckMsg, ControlMsg, IndicationMsg
from rrm.xapp.guards import GuardConfig


@dataclass(frozen=True)
class TraceSlot:
    """One recorded slot: the indication, the control that answered it, the node's ack."""

    indication: IndicationMsg
    control: ControlMsg | None
    ack: AckMsg | None


@dataclass(frozen=True)
class RecordedRun:
    """A trace's slots and the xApp configuration recorded in its metadata."""

    slots: list[TraceSlot]
    config: dict[str, Any]
    torn_tail_bytes: int

    @property
    def guards(self) -> GuardConfig:
        """The guard thresholds the run used (defaults where the trace has none)."""
        known = set(GuardConfig.__dataclass_fields__)
        return GuardConfig(**{k: v for k, v in dict(self.config.get("guards") or {}).items()
                              if k in known})

    def objective(self, ind: IndicationMsg) -> Objective:
        """The objective ``ind`` was decided under (as the xApp's decider builds it)."""
        obj = get_objective(str(self.config.get("objective", "sum")),
                            r_min=ind.qos.r_min, alpha=ind.qos.alpha)
        weights = ind.state.weights
        return obj.with_weights(weights) if weights is not None else obj


def _decoded(kind: RecordKind, payload: bytes) -> Any:
    message: Any = {RecordKind.INDICATION: pb.Indication, RecordKind.CONTROL: pb.ControlRequest,
                    RecordKind.ACK: pb.ControlAck}[kind]()
    message.ParseFromString(payload)
    decode = {RecordKind.INDICATION: decode_indication, RecordKind.CONTROL: decode_control,
              RecordKind.ACK: decode_ack}[kind]
    return decode(message)


def read_slots(path: str | Path) -> RecordedRun:
    """Decode a trace into slots; a trace without indications is an ``InvalidInput``."""
    contents = read_trace(path)
    slots: list[TraceSlot] = []
    parts: dict[RecordKind, Any] = {}
    for rec in [*contents.records, None]:
        if rec is not None and rec.kind == RecordKind.SHADOW:
            continue  # a shadow's scores, not part of the slot's exchange (rrm.xapp.shadow)
        if rec is None or rec.kind == RecordKind.INDICATION:
            if RecordKind.INDICATION in parts:
                slots.append(TraceSlot(parts[RecordKind.INDICATION],
                                       parts.get(RecordKind.CONTROL), parts.get(RecordKind.ACK)))
            parts = {}
        if rec is not None:
            try:
                parts[rec.kind] = _decoded(rec.kind, rec.payload)
            except Exception as err:  # noqa: BLE001 - any corrupt record is the file's fault
                raise InvalidInput(f"{path}: undecodable {rec.kind.name.lower()} record "
                                   f"({type(err).__name__})") from None
    if not slots:
        raise InvalidInput(f"trace {str(path)!r} holds no indications")
    return RecordedRun(slots, dict(contents.meta.get("config") or {}), contents.torn_tail_bytes)
