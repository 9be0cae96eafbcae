"""The trace file: an append-only, versioned record of indications and decisions.

Layout (all integers little-endian)::

    magic    8 bytes   b"RRMTRACE"
    version  u16       TRACE_VERSION
    meta_len u32       length of the JSON metadata that follows
    meta     bytes     UTF-8 JSON (who wrote it, when, scenario, policy...)
    record*  repeated:
        length u32     payload length
        crc    u32     zlib.crc32 over kind byte + payload
        kind   u8      RecordKind
        payload        serialized protobuf (Indication, ControlRequest or ControlAck),
                       or UTF-8 JSON for a SHADOW record (version 2)

Each record is written with a single ``write`` and flushed; a crash can only
tear the last record. Readers detect a torn or corrupt tail (short read or
CRC mismatch), stop there and report it; every earlier record is intact.
Reopening a trace for appending truncates a torn tail first, so new records
never follow garbage.

Version 2 adds the SHADOW record (kind 4): a candidate policy's utility next to
the active one's on one slot's CSI (:mod:`rrm.xapp.shadow`), written when its
computation finishes (so after its slot's records; it names its node and
sequence number). Version 1 files read unchanged.
"""

from __future__ import annotations

import json
import os
import struct
import zlib
from collections.abc import Iterator
from dataclasses import dataclass
from enum import IntEnum
from pathlib import Path
from typing import Any, BinaryIO

from rrm.core.errors import InvalidInput

MAGIC = b"RRMTRACE"
TRACE_VERSION = 2  # 2: SHADOW records (kind 4); 1 had none
_PREAMBLE = struct.Struct("<8sHI")
_RECORD = struct.Struct("<IIB")
MAX_RECORD_BYTES = 1 << 28


class RecordKind(IntEnum):
    """What a record's payload holds."""

    INDICATION = 1
    CONTROL = 2
    ACK = 3
    SHADOW = 4  # JSON: a shadowed candidate's utility next to the active policy's


@dataclass(frozen=True)
class Record:
    """One trace record: its kind and the serialized protobuf payload."""

    kind: RecordKind
    payload: bytes


@dataclass(frozen=True)
class TraceContents:
    """Everything a reader recovered from a trace file."""

    meta: dict[str, Any]
    records: list[Record]
    torn_tail_bytes: int  # bytes after the last intact record (0 when clean)


def _read_preamble(fh: BinaryIO, path: Path) -> dict[str, Any]:
    raw = fh.read(_PREAMBLE.size)
    if len(raw) < _PREAMBLE.size:
        raise InvalidInput(f"{path} is not an rrm trace (too short)")
    magic, version, meta_len = _PREAMBLE.unpack(raw)
    if magic != MAGIC:
        raise InvalidInput(f"{path} is not an rrm trace (bad magic)")
    if version > TRACE_VERSION:
        raise InvalidInput(f"{path} is trace version {version}; this rrm reads <= {TRACE_VERSION}")
    meta_raw = fh.read(meta_len)
    try:
        meta = json.loads(meta_raw.decode("utf-8"))
    except (UnicodeDecodeError, json.JSONDecodeError):
        raise InvalidInput(f"{path}: trace metadata is corrupt") from None
    return dict(meta)


def _next_record(fh: BinaryIO) -> Record | None:
    """The next intact record, or None at the end or at a torn/corrupt tail."""
    head = fh.read(_RECORD.size)
    if len(head) < _RECORD.size:
        return None
    length, crc, kind = _RECORD.unpack(head)
    if length > MAX_RECORD_BYTES or kind not in RecordKind._value2member_map_:
        return None
    payload = fh.read(length)
    if len(payload) < length or zlib.crc32(bytes([kind]) + payload) != crc:
        return None
    return Record(RecordKind(kind), payload)


def iter_records(path: str | Path) -> Iterator[Record]:
    """Stream the intact records of a trace, stopping silently at a torn tail."""
    p = Path(path)
    with open(p, "rb") as fh:
        _read_preamble(fh, p)
        while (rec := _next_record(fh)) is not None:
            yield rec


def read_trace(path: str | Path) -> TraceContents:
    """Read a whole trace: metadata, intact records, and the size of any torn tail."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"trace file {str(p)!r} does not exist")
    with open(p, "rb") as fh:
        meta = _read_preamble(fh, p)
        records: list[Record] = []
        good_end = fh.tell()
        while (rec := _next_record(fh)) is not None:
            records.append(rec)
            good_end = fh.tell()
        size = os.fstat(fh.fileno()).st_size
    return TraceContents(meta, records, size - good_end)


class TraceWriter:
    """Appends records to a trace file; each append is one write + flush.

    Args:
        path: the trace file; created with ``meta`` if absent, else reopened
            for appending after truncating any torn tail.
        meta: JSON-serialisable metadata written into a new file's preamble.
        fsync: also ``os.fsync`` after every record (survives power loss,
            not only a process crash; slower).
    """

    def __init__(self, path: str | Path, meta: dict[str, Any] | None = None,
                 fsync: bool = False) -> None:
        self.path = Path(path)
        self.fsync = fsync
        self.records_written = 0
        if self.path.exists() and self.path.stat().st_size > 0:
            contents = read_trace(self.path)
            self._fh: BinaryIO = open(self.path, "r+b")  # noqa: SIM115 - closed in close()
            self._fh.truncate(self.path.stat().st_size - contents.torn_tail_bytes)
            self._fh.seek(0, os.SEEK_END)
        else:
            self.path.parent.mkdir(parents=True, exist_ok=True)
            self._fh = open(self.path, "wb")  # noqa: SIM115
            meta_raw = json.dumps(meta or {}, sort_keys=True).encode("utf-8")
            self._fh.write(_PREAMBLE.pack(MAGIC, TRACE_VERSION, len(meta_raw)) + meta_raw)
            self._sync()

    def append(self, kind: RecordKind, payload: bytes) -> None:
        """Write one record; raises ``OSError`` (e.g. disk full) to the caller."""
        crc = zlib.crc32(bytes([int(kind)]) + payload)
        self._fh.write(_RECORD.pack(len(payload), crc, int(kind)) + payload)
        self._sync()
        self.records_written += 1

    def _sync(self) -> None:
        self._fh.flush()
        if self.fsync:
            os.fsync(self._fh.fileno())

    def close(self) -> None:
        """Flush and close the file."""
        if not self._fh.closed:
            self._sync()
            self._fh.close()

    def __enter__(self) -> TraceWriter:
        return self

    def __exit__(self, *exc: object) -> None:
        self.close()
