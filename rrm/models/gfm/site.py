"""Site adaptation: fine-tune a GFM-RA model on the CSI an xApp recorded at a site.

``rrm gfm finetune --from-trace TRACE...`` reads the reported CSI of every
recorded interference slot (:func:`rrm.sim.replay.load_recorded_slots`),
keeps the last ``holdout`` share of each node's slots for validation (a
temporal split: the model is judged on slots after the ones it saw), and
fine-tunes with the label-free utility loss of the paper's fine-tuning
stage (:func:`rrm.models.gfm.train.utility_loss`) starting from a
fine-tuned model (the shipped one by default): few-shot, no WMMSE labels.
The held-out utility per link before and after, and WMMSE's on the same
slots, go into the checkpoint's metadata.
"""

from __future__ import annotations

from collections import defaultdict
from pathlib import Path

import numpy as np
import torch

from rrm.core import physics
from rrm.core.errors import InvalidInput
from rrm.core.objectives import get_objective
from rrm.core.types import InterferenceState, PowerAllocation
from rrm.models.gfm.data import GraphSet
from rrm.models.gfm.head import GFMPowerModel
from rrm.models.gfm.policy import GFMPolicy
from rrm.sim.replay import load_recorded_slots

Key = tuple[int, float, float]  # K, noise W, pmax W


def trace_sets(paths: list[str], holdout: float) -> tuple[list[GraphSet], list[GraphSet]]:
    """Training and held-out sets of the traces' CSI, one set per (K, noise, pmax).

    Args:
        paths: trace files.
        holdout: share of each node's slots, the latest, kept for validation (0, 1).
    """
    if not 0 < holdout < 1:
        raise InvalidInput(f"--holdout must lie in (0, 1), got {holdout}")
    train: dict[Key, list[np.ndarray]] = defaultdict(list)
    held: dict[Key, list[np.ndarray]] = defaultdict(list)
    for path in paths:
        if not Path(path).is_file():
            raise InvalidInput(f"trace file {path!r} does not exist")
        for node, slots in load_recorded_slots(path).items():
            states = [s.indication.state for s in slots]
            usable = [st for st in states if isinstance(st, InterferenceState)
                      and np.ndim(st.gains) == 2]
            cut = len(usable) - max(1, int(round(holdout * len(usable))))
            if cut < 1:
                raise InvalidInput(f"{path}: node {node!r} has too few slots ({len(usable)}) "
                                   "to hold some out")
            for i, st in enumerate(usable):
                (train if i < cut else held)[_key(st, path)].append(np.asarray(st.gains))
    if not train:
        raise InvalidInput("the traces hold no interference (d2d, ergodic) slots")
    return _sets(train), _sets(held)


def _key(state: InterferenceState, path: str) -> Key:
    noise, pmax = state.noise_per_link, state.pmax_per_link
    if np.ptp(noise) > 1e-12 * noise.max() or np.ptp(pmax) > 1e-12 * pmax.max():
        raise InvalidInput(f"{path}: per-link noise or power budgets differ; site fine-tuning "
                           "takes one noise and one budget per network")
    return state.num_links, float(noise[0]), float(pmax[0])


def _sets(groups: dict[Key, list[np.ndarray]]) -> list[GraphSet]:
    return [GraphSet(f"site-K{k}", torch.from_numpy(np.stack(g)), noise, pmax)
            for (k, noise, pmax), g in sorted(groups.items())]


def held_out_utility(model: GFMPowerModel, sets: list[GraphSet],
                     objective: str) -> dict[str, float]:
    """Mean utility per slot on ``sets`` of the model and of WMMSE (same CSI)."""
    from rrm.models.policy import make_policy

    obj = get_objective(objective)
    policy = GFMPolicy.from_model(model, threads=torch.get_num_threads())
    wmmse = make_policy("wmmse")
    sums = {"model": 0.0, "wmmse": 0.0}
    count = 0
    for s in sets:
        state = InterferenceState(s.gains.numpy(), s.noise_w, s.pmax_w)
        for name, p in (("model", policy), ("wmmse", wmmse)):
            alloc = p.decide(state, obj)
            assert isinstance(alloc, PowerAllocation)
            rates = physics.rates(state.gains, alloc.power_w, state.noise_w)
            sums[name] += float(np.sum(obj.utility(rates)))
        count += len(s.gains)
    model.train()
    return {k: round(v / max(count, 1), 4) for k, v in sums.items()}
