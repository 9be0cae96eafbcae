"""Where GFM-RA trains: ``--device auto|cpu|cuda`` and the matching autocast.

Kept free of run-time-only dependencies (structlog, pyzmq, grpc, cvxpy): a
bare PyTorch + PyG machine imports the whole training path (tested).
"""

from __future__ import annotations

import contextlib
from collections.abc import Iterator

import torch

from rrm.core.errors import InvalidInput

DEVICES = ("auto", "cpu", "cuda")


def resolve_device(name: str) -> torch.device:
    """``auto`` -> CUDA when available, else the CPU; ``cuda`` without a GPU is refused."""
    if name not in DEVICES and not name.startswith("cuda:"):
        raise InvalidInput(f"unknown device {name!r}; choose auto, cpu, cuda or cuda:N")
    if name == "auto":
        return torch.device("cuda" if torch.cuda.is_available() else "cpu")
    if name.startswith("cuda") and not torch.cuda.is_available():
        raise InvalidInput(f"--device {name}: no CUDA device here; use --device cpu or auto")
    return torch.device(name)


@contextlib.contextmanager
def autocast(device: torch.device) -> Iterator[None]:
    """bf16 autocast on CUDA (matmuls in bf16, reductions and losses in fp32); nothing on CPU."""
    if device.type == "cuda":
        with torch.autocast("cuda", dtype=torch.bfloat16):
            yield
    else:
        yield
