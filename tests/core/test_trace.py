"""Trace files: round trip, torn tails detected and skipped, append after a crash."""

import numpy as np
import pytest

from rrm.core.errors import InvalidInput
from rrm.core.trace import TRACE_VERSION, RecordKind, TraceWriter, iter_records, read_trace


def write_records(path, n, meta=None):
    payloads = [bytes(np.random.default_rng(i).integers(0, 256, size=i * 7 + 1, dtype=np.uint8))
                for i in range(n)]
    with TraceWriter(path, meta or {"scenario": "d2d"}) as w:
        for i, p in enumerate(payloads):
            w.append(RecordKind.INDICATION if i % 2 == 0 else RecordKind.CONTROL, p)
    return payloads


def test_round_trip_keeps_metadata_order_kinds_and_bytes(tmp_path):
    path = tmp_path / "t.rrmtrace"
    payloads = write_records(path, 20, {"scenario": "d2d", "policy": "wmmse"})
    contents = read_trace(path)
    assert contents.meta == {"scenario": "d2d", "policy": "wmmse"}
    assert [r.payload for r in contents.records] == payloads
    assert [r.kind for r in contents.records][:2] == [RecordKind.INDICATION, RecordKind.CONTROL]
    assert contents.torn_tail_bytes == 0
    assert [r.payload for r in iter_records(path)] == payloads


@pytest.mark.parametrize("cut", [1, 5, 9, 20])
def test_torn_last_record_is_skipped_and_earlier_ones_are_intact(tmp_path, cut):
    path = tmp_path / "t.rrmtrace"
    payloads = write_records(path, 10)
    data = path.read_bytes()
    path.write_bytes(data[:-cut])  # a crash in the middle of the last write
    contents = read_trace(path)
    assert [r.payload for r in contents.records] == payloads[:-1]
    assert contents.torn_tail_bytes > 0


def test_corrupt_last_record_fails_its_crc_and_is_skipped(tmp_path):
    path = tmp_path / "t.rrmtrace"
    payloads = write_records(path, 5)
    data = bytearray(path.read_bytes())
    data[-1] ^= 0xFF
    path.write_bytes(bytes(data))
    assert [r.payload for r in read_trace(path).records] == payloads[:-1]


def test_reopening_truncates_a_torn_tail_before_appending(tmp_path):
    path = tmp_path / "t.rrmtrace"
    payloads = write_records(path, 4)
    path.write_bytes(path.read_bytes()[:-3])
    with TraceWriter(path) as w:
        w.append(RecordKind.ACK, b"after restart")
    recs = read_trace(path).records
    assert [r.payload for r in recs] == payloads[:-1] + [b"after restart"]
    assert read_trace(path).torn_tail_bytes == 0


def test_foreign_and_future_files_are_refused(tmp_path):
    foreign = tmp_path / "x.bin"
    foreign.write_bytes(b"PK\x03\x04 definitely a zip")
    with pytest.raises(InvalidInput, match="not an rrm trace"):
        read_trace(foreign)
    future = tmp_path / "f.rrmtrace"
    write_records(future, 1)
    data = bytearray(future.read_bytes())
    data[8] = TRACE_VERSION + 1
    future.write_bytes(bytes(data))
    with pytest.raises(InvalidInput, match="trace version"):
        read_trace(future)
    with pytest.raises(InvalidInput, match="does not exist"):
        read_trace(tmp_path / "missing.rrmtrace")
