"""Checkpoint directories: safetensors weights, a JSON config, JSON metadata.

Layout of a checkpoint directory::

    model.safetensors   weights (no pickle: safetensors holds raw tensors only)
    config.json         what to build: {"kind": ..., model sizes, training config}
    metadata.json       how it was made: command, seeds, git revision, metrics,
                        and the sha256 of model.safetensors

Loading checks the sha256 before reading a single weight; a missing,
truncated or altered file raises :class:`rrm.core.errors.CheckpointError`.
"""

from __future__ import annotations

import hashlib
import json
import subprocess
from pathlib import Path
from typing import Any

import torch
from safetensors import SafetensorError
from safetensors.torch import load_file, save_file

from rrm.core.errors import CheckpointError

WEIGHTS, CONFIG, METADATA = "model.safetensors", "config.json", "metadata.json"


def sha256_of(path: Path) -> str:
    """Hex sha256 of a file."""
    digest = hashlib.sha256()
    with open(path, "rb") as fh:
        for block in iter(lambda: fh.read(1 << 20), b""):
            digest.update(block)
    return digest.hexdigest()


def git_revision() -> str:
    """The working tree's commit (``unknown`` outside a git checkout)."""
    try:
        out = subprocess.run(["git", "rev-parse", "HEAD"], capture_output=True, text=True,
                             timeout=5, cwd=Path(__file__).parent)
        return out.stdout.strip() or "unknown"
    except (OSError, subprocess.SubprocessError):
        return "unknown"


def save_checkpoint(directory: str | Path, state: dict[str, torch.Tensor],
                    config: dict[str, Any], metadata: dict[str, Any]) -> Path:
    """Write a checkpoint directory; returns its path."""
    d = Path(directory)
    d.mkdir(parents=True, exist_ok=True)
    tensors = {k: v.detach().contiguous().cpu() for k, v in state.items()}
    save_file(tensors, str(d / WEIGHTS))
    (d / CONFIG).write_text(json.dumps(config, indent=1, sort_keys=True) + "\n")
    meta = {**metadata, "sha256": sha256_of(d / WEIGHTS), "git_revision": git_revision()}
    (d / METADATA).write_text(json.dumps(meta, indent=1, sort_keys=True) + "\n")
    return d


def load_checkpoint(directory: str | Path
                    ) -> tuple[dict[str, torch.Tensor], dict[str, Any], dict[str, Any]]:
    """Verified (weights, config, metadata) of a checkpoint directory."""
    d = Path(directory)
    for name in (WEIGHTS, CONFIG, METADATA):
        if not (d / name).is_file():
            raise CheckpointError(f"checkpoint {str(d)!r} has no {name}")
    try:
        config = json.loads((d / CONFIG).read_text())
        metadata = json.loads((d / METADATA).read_text())
    except json.JSONDecodeError as err:
        raise CheckpointError(f"checkpoint {str(d)!r}: unreadable JSON ({err})") from None
    expected = metadata.get("sha256")
    actual = sha256_of(d / WEIGHTS)
    if expected != actual:
        raise CheckpointError(f"checkpoint {str(d)!r}: sha256 mismatch (weights altered or "
                              f"truncated: expected {str(expected)[:12]}, got {actual[:12]})")
    try:
        state = load_file(str(d / WEIGHTS))
    except (SafetensorError, OSError) as err:
        raise CheckpointError(f"checkpoint {str(d)!r}: unreadable weights ({err})") from None
    return state, config, metadata


def optimizer_tensors(opt: torch.optim.Optimizer) -> tuple[dict[str, torch.Tensor],
                                                             list[dict[str, Any]]]:
    """An optimizer's per-parameter state as flat tensors ``opt.<index>.<name>`` (for
    safetensors) and its ``param_groups`` (JSON metadata); see :func:`load_optimizer`."""
    state = opt.state_dict()
    tensors = {f"opt.{index}.{name}": torch.as_tensor(value).reshape(-1)
               for index, per_param in state["state"].items()
               for name, value in per_param.items()}
    return tensors, state["param_groups"]


def load_optimizer(opt: torch.optim.Optimizer, tensors: dict[str, torch.Tensor],
                   param_groups: list[dict[str, Any]]) -> None:
    """Restore what :func:`optimizer_tensors` wrote (shapes from the optimizer's parameters)."""
    per_param: dict[int, dict[str, torch.Tensor]] = {}
    for key, value in tensors.items():
        if key.startswith("opt."):
            _, number, field = key.split(".", 2)
            per_param.setdefault(int(number), {})[field] = (
                value.reshape(()) if field == "step" else value)
    params = [p for group in opt.param_groups for p in group["params"]]
    for index, state in per_param.items():
        for name, value in state.items():
            if name != "step":
                state[name] = value.reshape(params[index].shape)
    opt.load_state_dict({"state": per_param, "param_groups": param_groups})


def restore_model_and_optimizer(directory: str | Path, kind: str, settings: dict[str, Any],
                                model: torch.nn.Module, opt: torch.optim.Optimizer,
                                rerun_hint: str
                                ) -> tuple[dict[str, torch.Tensor], dict[str, Any]] | None:
    """Load a training resume state of ``kind`` into ``model`` and ``opt``.

    None when ``directory`` holds no state; CheckpointError when it holds
    another kind or was made with other ``settings`` (``rerun_hint`` names the
    option to change, e.g. ``--out``). Returns the tensors and metadata for
    the caller's own parts (generators, schedulers, loop counters).
    """
    if not (Path(directory) / METADATA).is_file():
        return None
    tensors, config, meta = load_checkpoint(directory)
    if config.get("kind") != kind:
        raise CheckpointError(f"{str(directory)!r} is not a {kind} state")
    if meta.get("settings") != settings:
        raise CheckpointError(f"resume state in {str(directory)!r} was made with other "
                              f"settings; rerun with the same options or another {rerun_hint}")
    model.load_state_dict({k[6:]: v for k, v in tensors.items() if k.startswith("model.")})
    load_optimizer(opt, tensors, meta["param_groups"])
    return tensors, meta
