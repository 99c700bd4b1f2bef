"""An endless, seeded, sharded stream of dataset indices that can start anywhere: the data position.

A training run is a number of optimizer steps, not epochs, so the loop reads one long stream: epoch 0's
shuffle, then epoch 1's, and so on. Each epoch's order is ``DistributedSampler``'s for ``(seed, epoch)``
(the same permutation, padding and shards) and each process reads its shard (every ``world_size``-th
index). The order is kept as a tensor and handed out in slices, never as a Python list of every index: a
dataset of millions of items (rays, patches) costs 8 bytes an item, not a list of Python ints an epoch.
Two facts follow:

- the stream is a pure function of ``(seed, position)``, so a resumed run continues mid-epoch at exactly
  the example where the checkpoint left off (``start``), with no state beyond a count;
- the k-th items of the ranks' streams, taken together, are the single-process stream's items
  ``k * world_size .. k * world_size + world_size - 1``: two processes with half batches see, together,
  exactly the batches one process sees (when ``world_size`` divides the dataset size).
"""

from __future__ import annotations

import math
from collections.abc import Iterator, Sized

import torch
from torch import Tensor
from torch.utils.data import Sampler

__all__ = ["StreamSampler"]

_SLICE = 1 << 16  # indices converted to Python ints at a time


class StreamSampler(Sampler[int]):
    """Indices of ``dataset``: this rank's shard of a new seeded shuffle every epoch, forever, from ``start``.

    ``start`` counts indices of *this rank's* stream already consumed (global position / world_size).
    """

    def __init__(self, dataset: Sized, *, seed: int, rank: int = 0, world_size: int = 1, start: int = 0,
                 shuffle: bool = True):
        self.size = len(dataset)
        if self.size == 0:
            raise ValueError("the training dataset is empty: there is nothing to train on")
        self.seed, self.rank, self.world_size, self.start, self.shuffle = seed, rank, world_size, start, shuffle
        self.shard_size = math.ceil(self.size / world_size)

    def shard(self, epoch: int) -> Tensor:
        """This rank's indices of ``epoch``, ``(shard_size,)``: DistributedSampler's, computed on tensors."""
        if self.shuffle:
            order = torch.randperm(self.size, generator=torch.Generator().manual_seed(self.seed + epoch))
        else:
            order = torch.arange(self.size)
        total = self.shard_size * self.world_size  # padded with the order's head, so every rank gets as many
        order = order.repeat(math.ceil(total / self.size))[:total]
        return order[self.rank : total : self.world_size]

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, self.shard_size)
        while True:
            for part in self.shard(epoch)[offset:].split(_SLICE):
                yield from part.tolist()
            epoch, offset = epoch + 1, 0
