"""An endless, seeded, sharded stream of dataset indices that can start anywhere: the data position.

A training run is a number of optimizer steps, not epochs, so the loop reads one long stream: epoch 0's
shuffle, then epoch 1's, and so on. Each epoch's order is ``DistributedSampler``'s for ``(seed, epoch)``
and each process reads its shard (every ``world_size``-th index). Two facts follow:

- the stream is a pure function of ``(seed, position)``, so a resumed run continues mid-epoch at exactly
  the example where the checkpoint left off (``start``), with no state beyond a count;
- the k-th items of the ranks' streams, taken together, are the single-process stream's items
  ``k * world_size .. k * world_size + world_size - 1``: two processes with half batches see, together,
  exactly the batches one process sees (when ``world_size`` divides the dataset size).
"""

from __future__ import annotations

from collections.abc import Iterator, Sized

from torch.utils.data import DistributedSampler, Sampler

__all__ = ["StreamSampler"]


class StreamSampler(Sampler[int]):
    """Indices of ``dataset``: this rank's shard of a new seeded shuffle every epoch, forever, from ``start``.

    ``start`` counts indices of *this rank's* stream already consumed (global position / world_size).
    """

    def __init__(self, dataset: Sized, *, seed: int, rank: int = 0, world_size: int = 1, start: int = 0,
                 shuffle: bool = True):
        if len(dataset) == 0:
            raise ValueError("the training dataset is empty: there is nothing to train on")
        self.shards = DistributedSampler(dataset, num_replicas=world_size, rank=rank, shuffle=shuffle, seed=seed)
        self.start = start

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(self.start, len(self.shards))
        while True:
            self.shards.set_epoch(epoch)
            yield from list(self.shards)[offset:]
            epoch, offset = epoch + 1, 0
