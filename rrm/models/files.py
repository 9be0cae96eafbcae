"""Safe reading and writing of the CLI's array files."""

from __future__ import annotations

from pathlib import Path

import numpy as np
from numpy.typing import NDArray

from rrm.core.errors import InvalidInput


def load_npy(path: str | Path, what: str) -> NDArray[np.generic]:
    """Load a ``.npy`` array without pickle; one-line errors for missing/bad files."""
    p = Path(path)
    if not p.is_file():
        raise InvalidInput(f"{what} file {str(p)!r} does not exist")
    try:
        return np.load(p, allow_pickle=False)
    except (ValueError, OSError, EOFError) as err:
        raise InvalidInput(f"{what} file {str(p)!r} is not a readable .npy array ({err})") from None


def save_npy(path: str | Path, array: NDArray[np.generic]) -> None:
    """Write ``array`` to ``path`` (.npy), creating parent folders; atomic rename."""
    p = Path(path)
    if p.suffix != ".npy":
        raise InvalidInput(f"output file must end in .npy, got {str(p)!r}")
    p.parent.mkdir(parents=True, exist_ok=True)
    tmp = p.with_name(p.name + ".tmp")
    with open(tmp, "wb") as fh:
        np.save(fh, array, allow_pickle=False)
    tmp.replace(p)
