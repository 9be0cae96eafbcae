"""numpy arrays <-> the wire's ``Tensor`` (little-endian bytes, shape, dtype)."""

from __future__ import annotations

import math

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput, clip
from rrm.core.wire import e2_pb2 as pb

_TO_WIRE: dict[np.dtype, int] = {
    np.dtype("<f4"): pb.DTYPE_FLOAT32,
    np.dtype("<f8"): pb.DTYPE_FLOAT64,
    np.dtype("<c8"): pb.DTYPE_COMPLEX64,
    np.dtype("<c16"): pb.DTYPE_COMPLEX128,
    np.dtype("bool"): pb.DTYPE_BOOL,
    np.dtype("int8"): pb.DTYPE_INT8,
}
_FROM_WIRE: dict[int, np.dtype] = {v: k for k, v in _TO_WIRE.items()}
_NATIVE: dict[np.dtype, np.dtype] = {d: d.newbyteorder("=") for d in _TO_WIRE}
MAX_ELEMENTS = 1 << 26  # 64 Mi elements: a bound that no valid message reaches
MAX_NDIM = 8  # no wire tensor has more axes (cell-free beamformers: [B, K, M])


def to_tensor(array: NDArray[np.generic], out: pb.Tensor | None = None) -> pb.Tensor:
    """Encode ``array`` as a little-endian, C-order ``Tensor``."""
    arr = np.asarray(array)
    dtype = arr.dtype.newbyteorder("<") if arr.dtype.byteorder == ">" else arr.dtype
    if dtype not in _TO_WIRE:
        raise InvalidInput(f"cannot send arrays of dtype {arr.dtype}")
    t = pb.Tensor() if out is None else out
    t.shape[:] = arr.shape
    t.dtype = _TO_WIRE[dtype]  # type: ignore[assignment]
    t.data = np.ascontiguousarray(arr, dtype=dtype).tobytes()
    return t


def from_tensor(t: pb.Tensor, what: str, ndim: int | None = None) -> NDArray[np.generic]:
    """Decode a ``Tensor``; one-line :class:`InvalidInput` on any inconsistency.

    Args:
        t: the wire tensor.
        what: field name used in error messages.
        ndim: required number of dimensions, if any.
    """
    if t.dtype not in _FROM_WIRE:
        raise InvalidInput(f"{what}: unknown dtype code {t.dtype}")
    dtype = _FROM_WIRE[t.dtype]
    # rank first, before building or formatting anything a peer sized
    if ndim is not None and len(t.shape) != ndim:
        raise InvalidInput(f"{what}: expected {ndim} dimensions, got {len(t.shape)}")
    if len(t.shape) > MAX_NDIM:
        raise InvalidInput(f"{what}: {len(t.shape)} dimensions exceed the limit of {MAX_NDIM}")
    shape = tuple(t.shape)  # Python ints (int64 on the wire)
    count = math.prod(shape)  # Python ints: a hostile shape cannot overflow to a small count
    if count > MAX_ELEMENTS:
        raise InvalidInput(f"{what}: {count} elements exceed the limit of {MAX_ELEMENTS}")
    data = t.data  # read once: every read of a bytes field hands out the payload anew
    if len(data) != count * dtype.itemsize:
        raise InvalidInput(
            f"{what}: {len(data)} bytes do not match shape {clip(shape)} of {dtype.name}"
        )
    # a writable, native-order copy: the domain arrays outlive (and may be edited apart
    # from) the message
    return np.frombuffer(data, dtype=dtype).reshape(shape).astype(_NATIVE[dtype], copy=True)


def has_tensor(message: object, field: str) -> bool:
    """True when an optional ``Tensor`` field was set on ``message``."""
    return bool(message.HasField(field))  # type: ignore[attr-defined]
