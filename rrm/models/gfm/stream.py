"""Streamed pre-training data: snapshots generated on the fly by worker processes.

Batch ``i`` of epoch ``e`` is drawn from its own generator,
``np.random.default_rng([seed, e, i])``, by whichever worker owns it (worker
``w`` of ``n`` owns ``i = w, w + n, ...``; a torch DataLoader hands batches
back round-robin, i.e. in order of ``i``). The stream is therefore the same
for any number of workers, and an epoch can be regenerated from
``(seed, epoch)`` alone, without files (tested). Under ``torchrun`` rank ``r``
of ``R`` takes batches ``i = r, r + R, ...`` of the same plan.
"""

from __future__ import annotations

from collections.abc import Iterator
from dataclasses import dataclass

import numpy as np
import torch
from torch.utils.data import DataLoader, IterableDataset, get_worker_info

from rrm.sim.scenarios.corpus import CorpusSpec


@dataclass(frozen=True)
class StreamBatch:
    """One batch of one K: ``gains (B, K, K)`` float64; ``noise_w``, ``pmax_w`` ``(B, K)`` W."""

    family: str
    gains: torch.Tensor
    noise_w: torch.Tensor
    pmax_w: torch.Tensor

    def pin_memory(self) -> StreamBatch:
        """Page-locked copy (the DataLoader calls this with ``pin_memory=True``)."""
        return StreamBatch(self.family, *(t.pin_memory()
                                          for t in (self.gains, self.noise_w, self.pmax_w)))

    def to(self, device: torch.device) -> StreamBatch:
        """The batch on ``device`` (asynchronous from pinned memory)."""
        return StreamBatch(self.family, *(t.to(device, non_blocking=True)
                                          for t in (self.gains, self.noise_w, self.pmax_w)))


def draw_batch(spec: CorpusSpec, batch_size: int, seed: int, epoch: int, index: int
               ) -> StreamBatch:
    """Batch ``index`` of ``epoch``: a pure function of its arguments."""
    name, snaps = spec.draw(np.random.default_rng([seed, epoch, index]), batch_size)
    return StreamBatch(name, torch.from_numpy(snaps.gains), torch.from_numpy(snaps.noise_w),
                       torch.from_numpy(snaps.pmax_w))


class CorpusStream(IterableDataset[StreamBatch]):
    """``steps`` batches of one epoch, split over ranks and worker processes."""

    def __init__(self, spec: CorpusSpec, batch_size: int, steps: int, seed: int, epoch: int,
                 rank: int = 0, world: int = 1) -> None:
        self.spec, self.batch_size, self.seed, self.epoch = spec, batch_size, seed, epoch
        self.indices = range(rank, steps, world)

    def __iter__(self) -> Iterator[StreamBatch]:
        info = get_worker_info()
        mine = self.indices if info is None else self.indices[info.id :: info.num_workers]
        for i in mine:
            yield draw_batch(self.spec, self.batch_size, self.seed, self.epoch, i)


def epoch_loader(stream: CorpusStream, workers: int, pin_memory: bool = False
                 ) -> DataLoader[StreamBatch]:
    """A DataLoader over one epoch's stream (``workers`` = 0: the calling process draws)."""
    return DataLoader(stream, batch_size=None, num_workers=workers,
                      pin_memory=pin_memory, prefetch_factor=4 if workers else None)
