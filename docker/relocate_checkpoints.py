"""Image build step: move the installed package's checkpoints behind a symlink.

``python -I docker/relocate_checkpoints.py TARGET`` moves
``site-packages/rrm/models/checkpoints`` to ``TARGET`` and leaves a symlink
in its place, so a volume mounted on ``TARGET`` (the chart's
``checkpoints.existingClaim``) replaces the shipped checkpoints; an empty
volume then leaves the xApp in WMMSE-only mode. Run it with ``-I`` (isolated:
neither the working directory nor PYTHONPATH is on sys.path) so ``rrm`` is
the installed package, never a source tree next to it.
"""

from __future__ import annotations

import shutil
import sys
from pathlib import Path

import rrm.models


def relocate(target: Path) -> Path:
    """Move the checkpoints to ``target`` and link them back; returns the link."""
    link = Path(rrm.models.__file__).parent / "checkpoints"
    if "site-packages" not in link.parts:
        raise SystemExit(f"relocate_checkpoints: {link} is not an installed package")
    if link.is_symlink() or not link.is_dir():
        raise SystemExit(f"relocate_checkpoints: {link} is not a checkpoint directory")
    target.parent.mkdir(parents=True, exist_ok=True)
    shutil.move(str(link), str(target))
    link.symlink_to(target, target_is_directory=True)
    return link


if __name__ == "__main__":
    if len(sys.argv) != 2:
        raise SystemExit("usage: python -I relocate_checkpoints.py TARGET")
    made = relocate(Path(sys.argv[1]))
    print(f"{made} -> {made.resolve()}")
