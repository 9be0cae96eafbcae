"""Trace -> arrays for analysis (``rrm trace export``): npz or HDF5 by extension."""

from __future__ import annotations

import json
from collections import defaultdict
from pathlib import Path
from typing import Any

import numpy as np

from rrm.core.errors import InvalidInput
from rrm.core.trace import RecordKind, iter_records, read_trace
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.core.wire import e2_pb2 as pb
from rrm.core.wire.codec import decode_ack, decode_control, decode_indication
from rrm.core.wire.messages import ControlMsg


def _node_rows(path: str | Path) -> dict[str, dict[str, list[Any]]]:
    rows: dict[str, dict[str, list[Any]]] = defaultdict(lambda: defaultdict(list))
    acks: dict[tuple[str, int], tuple[float, bool]] = {}
    controls: dict[tuple[str, int], ControlMsg] = {}
    for rec in iter_records(path):
        if rec.kind == RecordKind.INDICATION:
            m = pb.Indication()
            m.ParseFromString(rec.payload)
            ind = decode_indication(m)
            if isinstance(ind.state, InterferenceState):
                r = rows[ind.header.node_id]
                r["slot"].append(ind.header.slot)
                r["sequence_number"].append(ind.header.sequence_number)
                r["timestamp_ns"].append(ind.header.timestamp_ns)
                r["gains"].append(ind.state.gains)
        elif rec.kind == RecordKind.CONTROL:
            m2 = pb.ControlRequest()
            m2.ParseFromString(rec.payload)
            control = decode_control(m2)
            controls[(control.header.node_id, control.header.sequence_number)] = control
        else:
            m3 = pb.ControlAck()
            m3.ParseFromString(rec.payload)
            a = decode_ack(m3)
            acks[(a.header.node_id, a.header.sequence_number)] = (a.utility, a.realised)
    for node, r in rows.items():
        for seq in r["sequence_number"]:
            c: ControlMsg | None = controls.get((node, seq))
            k = r["gains"][0].shape[-1]
            power = c.decision.power_w if c and isinstance(c.decision, PowerAllocation) else None
            r["power_w"].append(power if power is not None else np.full(k, np.nan))
            r["policy"].append(c.policy if c else "")
            r["fallback_reason"].append(c.fallback_reason if c else "")
            r["decision_latency_ns"].append(c.decision_latency_ns if c else -1)
            u, realised = acks.get((node, seq), (np.nan, False))
            r["utility"].append(u if realised else np.nan)
    return rows


def export_trace(trace_path: str | Path, out_path: str | Path) -> dict[str, int]:
    """Write per-node arrays (``<node>/gains [n,K,K]``, ``power_w [n,K]``, ...).

    Returns the number of slots exported per node.
    """
    out = Path(out_path)
    if out.suffix not in (".npz", ".h5"):
        raise InvalidInput(f"export format by extension: .npz or .h5, got {str(out)!r}")
    meta = read_trace(trace_path).meta
    rows = _node_rows(trace_path)
    arrays: dict[str, np.ndarray] = {"meta_json": np.array(json.dumps(meta))}
    for node, r in rows.items():
        for key, values in r.items():
            arr = np.asarray(values)
            arrays[f"{node}/{key}"] = arr.astype(str) if arr.dtype.kind == "U" else arr
    out.parent.mkdir(parents=True, exist_ok=True)
    if out.suffix == ".npz":
        np.savez_compressed(out, **arrays)  # type: ignore[arg-type]
    else:
        import h5py  # .h5 export only

        with h5py.File(out, "w") as f:
            for key, arr in arrays.items():
                data = arr.astype("S") if arr.dtype.kind == "U" else arr
                f.create_dataset(key, data=data)
    return {node: len(r["slot"]) for node, r in rows.items()}
