"""The Lightning data module built from the ``Data`` section."""

from __future__ import annotations

import logging
import os
import signal
import threading
from functools import partial
from typing import Any

import torch
from torch.utils.data import DataLoader

from ganlab._lightning import pl, seed_worker
from ganlab.config.schema import Config
from ganlab.data.builders import build_dataset, data_seed
from ganlab.data.datasets import Sample, SizedDataset, SRDataset, collate_samples
from ganlab.data.sampling import ResumableShuffle
from ganlab.errors import DataError

log = logging.getLogger(__name__)


def init_worker(worker_id: int, rank: int, seed: bool) -> None:
    """Start of a DataLoader worker: leave Ctrl-C and a scheduler's SIGTERM to the training
    process, then seed the worker as Lightning would.

    Ctrl-C in a terminal and a scheduler's SIGTERM reach every process of the job; a worker
    that stopped would break the step the training process finishes before saving. So SIGINT
    is ignored, and SIGTERM ends the worker only when its parent sends it (as the loader and
    Python's exit handling do); others' SIGTERM is ignored.
    """
    signal.signal(signal.SIGINT, signal.SIG_IGN)
    _sigterm_only_from_parent()
    if seed:
        seed_worker(worker_id, rank)


def _sigterm_only_from_parent() -> None:
    if not hasattr(signal, "sigwaitinfo"):  # not on macOS or Windows: keep the default
        return
    parent = os.getppid()
    signal.pthread_sigmask(signal.SIG_BLOCK, {signal.SIGTERM})

    def wait() -> None:
        while True:
            if signal.sigwaitinfo({signal.SIGTERM}).si_pid == parent:
                os._exit(0)

    threading.Thread(target=wait, name="sigterm-from-parent", daemon=True).start()


class SRDataModule(pl.LightningDataModule):
    """Training and validation loaders for super-resolution.

    Datasets are built and checked (``Data.preflight``) when the module is built, so a wrong
    path, an empty folder, a band-count mismatch, NaNs or mismatched LR/HR sizes stop the run
    before any model is built or trained, naming the file.

    Attributes:
        train_set: The training dataset (random items).
        val_set: The validation dataset (deterministic items).
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        self.train_set: SizedDataset = build_dataset(config, "train")
        self.val_set: SizedDataset = build_dataset(config, "val")
        preflight = config.Data.preflight
        for name, dataset in (("training", self.train_set), ("validation", self.val_set)):
            if isinstance(dataset, SRDataset) and preflight != "none":
                dropped = dataset.check(full=preflight == "full")
                if dropped:
                    log.warning("%s set: %d bad files left out", name, dropped)
            if len(dataset) == 0:
                raise DataError(f"the {name} set is empty; check the Data folders")

    def _loader_options(self) -> dict[str, Any]:
        data = self.config.Data
        options: dict[str, Any] = {
            "num_workers": data.num_workers,
            "persistent_workers": data.persistent_workers,
            "pin_memory": data.pin_memory,
            "collate_fn": collate_samples,
        }
        if data.num_workers > 0:
            rank = int(getattr(self.trainer, "global_rank", 0) or 0) if self.trainer else 0
            seed = os.environ.get("PL_SEED_WORKERS") == "1"  # set by seed_everything(workers=)
            options["worker_init_fn"] = partial(init_worker, rank=rank, seed=seed)
        if data.prefetch_factor is not None:
            options["prefetch_factor"] = data.prefetch_factor
        return options

    def train_dataloader(self) -> DataLoader[Sample]:
        """Shuffled random items in an order that is a function of ``Data.seed`` (else
        ``Training.seed``) and the data epoch, and continues where a resumed run stopped (see
        :class:`~ganlab.data.sampling.ResumableShuffle`)."""
        data = self.config.Data
        drop_last = len(self.train_set) >= data.batch_size
        sampler = ResumableShuffle(
            self.train_set,
            seed=data_seed(self.config),
            batch_size=data.batch_size,
            drop_last=drop_last,
            position=self._batches_consumed,
        )
        return DataLoader(
            self.train_set,
            batch_size=data.batch_size,
            sampler=sampler,
            drop_last=drop_last,
            generator=torch.Generator().manual_seed(data_seed(self.config)),
            **self._loader_options(),
        )

    def _batches_consumed(self) -> int:
        """Training batches the run has consumed: the module's ``batches_seen`` (restored from
        the checkpoint on resume), 0 outside a fit."""
        trainer = self.trainer
        module = trainer.lightning_module if trainer is not None else None
        return int(getattr(module, "batches_seen", 0))

    def val_dataloader(self) -> DataLoader[Sample]:
        """Deterministic validation items in order."""
        return DataLoader(
            self.val_set,
            batch_size=self.config.Data.val_batch_size,
            shuffle=False,
            # its own generator: creating an iterator draws a worker seed, which must not come
            # from torch's global stream (a resumed run creates it at other times)
            generator=torch.Generator().manual_seed(data_seed(self.config)),
            **self._loader_options(),
        )

    def test_dataloader(self) -> DataLoader[Sample]:
        """The validation items (``Trainer.test``): the product has no separate test split; to
        test on other data, point ``Data.val_dir`` (or the dataset's val keys) at it, e.g.
        ``--set Data.val_dir=...``."""
        return self.val_dataloader()

    def predict_dataloader(self) -> DataLoader[Sample]:
        """The validation items (``Trainer.predict``); to super-resolve files of any size use
        ``ganlab predict`` or :class:`ganlab.SuperResolver`."""
        return self.val_dataloader()
