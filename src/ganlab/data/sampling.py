"""The training order: a shuffle that is a function of (seed, data epoch), sharded over
processes, that continues where a resumed run stopped.

The order does not depend on how often a loader was built or iterated: it follows the count of
training batches the run has consumed (``position``), so a resumed run sees exactly the batches
the uninterrupted run would have seen. Each index carries its data epoch
(:class:`SampleIndex`), so datasets can draw their random crops and augmentations from
``(seed, epoch, index)`` instead of a global random stream, also in worker processes.
"""

from __future__ import annotations

import math
from collections.abc import Callable, Iterator, Sized

import torch.distributed as dist
from torch.utils.data import DistributedSampler


class SampleIndex(int):
    """An item index that also names the data epoch it was drawn for.

    It is an ``int`` (datasets that index lists with it need nothing else); built-in datasets
    read :attr:`epoch` to seed the item's randomness.

    Example:
        >>> index = SampleIndex(7, epoch=2)
        >>> index + 1, index.epoch
        (8, 2)
    """

    epoch: int

    def __new__(cls, value: int, epoch: int) -> SampleIndex:
        index = super().__new__(cls, value)
        index.epoch = epoch
        return index

    def __reduce__(self) -> tuple[type[SampleIndex], tuple[int, int]]:
        return SampleIndex, (int(self), self.epoch)


def process_group_shape() -> tuple[int, int]:
    """``(world size, rank)`` of the initialised process group, else ``(1, 0)``."""
    if dist.is_available() and dist.is_initialized():
        return dist.get_world_size(), dist.get_rank()
    return 1, 0


class ResumableShuffle(DistributedSampler[int]):
    """Shuffled indices for one process, a pure function of ``(seed, data epoch, rank)``.

    The run's data is one stream of batches: data epoch ``e`` is the permutation seeded with
    ``seed + e`` (sharded like :class:`~torch.utils.data.DistributedSampler`: every rank takes
    every ``world_size``-th index), cut into batches, followed by data epoch ``e + 1``. Each
    iteration yields one epoch's worth of batches starting at the batch the run has reached,
    ``position()`` (training batches consumed so far, on this rank). So the order continues
    exactly after a resume (also when Lightning starts a new epoch after a run stopped
    mid-epoch), and a shortened epoch (``Trainer.limit_train_batches``) continues through the
    permutation instead of repeating its start.

    Lightning's ``set_epoch`` is ignored: the position decides the data epoch (Lightning's epoch
    counter advances past a partly used permutation when a run stopped mid-epoch is resumed).
    Being a ``DistributedSampler``, it is used as is by Lightning under DDP/FSDP.

    Args:
        dataset: The training dataset.
        seed: Seed of the shuffles (``Data.seed``, else ``Training.seed``).
        batch_size: Items per batch on this process.
        drop_last: Whether the loader drops a last incomplete batch.
        position: Returns the number of training batches consumed so far.
    """

    def __init__(
        self,
        dataset: Sized,
        seed: int,
        batch_size: int,
        drop_last: bool,
        position: Callable[[], int],
    ) -> None:
        replicas, rank = process_group_shape()
        super().__init__(
            dataset,  # type: ignore[arg-type]
            num_replicas=replicas,
            rank=rank,
            shuffle=True,
            seed=seed,
            drop_last=False,
        )
        self.batch_size = batch_size
        self.drop_last_batch = drop_last
        self.position = position

    @property
    def batches_per_epoch(self) -> int:
        """Batches of one data epoch on this process."""
        if self.drop_last_batch:
            return max(1, self.num_samples // self.batch_size)
        return math.ceil(self.num_samples / self.batch_size)

    def set_epoch(self, epoch: int) -> None:
        """Ignored; see the class docstring."""

    def _epoch_indices(self, epoch: int) -> list[SampleIndex]:
        self.epoch = epoch  # DistributedSampler seeds its permutation with seed + epoch
        indices = list(super().__iter__())
        if self.drop_last_batch:
            indices = indices[: self.batches_per_epoch * self.batch_size]
        return [SampleIndex(i, epoch) for i in indices]

    def __iter__(self) -> Iterator[int]:
        epoch, offset = divmod(int(self.position()), self.batches_per_epoch)
        skip = offset * self.batch_size
        current = self._epoch_indices(epoch)[skip:]
        following = self._epoch_indices(epoch + 1)[:skip] if skip else []
        return iter(current + following)
