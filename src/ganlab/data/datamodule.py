"""The Lightning data module built from the ``Data`` section."""

from __future__ import annotations

from torch.utils.data import DataLoader

from ganlab._lightning import pl
from ganlab.config.schema import Config
from ganlab.data.datasets import DegradedDataset, Sample, collate_samples
from ganlab.data.paths import list_images, resolve_data_path
from ganlab.errors import DataError


class SRDataModule(pl.LightningDataModule):
    """Training and validation loaders for super-resolution.

    Folders are resolved and listed when the module is built, so a wrong path fails before any
    model is built or trained.
    """

    def __init__(self, config: Config) -> None:
        super().__init__()
        self.config = config
        data = config.Data
        if data.train_dir is None:
            raise DataError("Data.train_dir is not set; give the folder of training images")
        if data.val_dir is None:
            raise DataError("Data.val_dir is not set; give the folder of validation images")
        self.train_files = list_images(
            resolve_data_path(data.train_dir, "Data.train_dir"), "Data.train_dir"
        )
        self.val_files = list_images(
            resolve_data_path(data.val_dir, "Data.val_dir"), "Data.val_dir"
        )
        common = dict(
            scale=config.Generator.scaling_factor,
            bands=config.Model.in_bands,
            method=data.downsample,
        )
        self.train_set = DegradedDataset(
            self.train_files,
            train=True,
            hr_patch_size=data.hr_patch_size,
            augment=data.augment,
            repeats=data.repeats,
            **common,  # type: ignore[arg-type]
        )
        self.val_set = DegradedDataset(
            self.val_files,
            train=False,
            hr_patch_size=data.val_patch_size,
            **common,  # type: ignore[arg-type]
        )

    def train_dataloader(self) -> DataLoader[Sample]:
        """Shuffled random crops, drawn anew for every item."""
        data = self.config.Data
        return DataLoader(
            self.train_set,
            batch_size=data.batch_size,
            shuffle=True,
            drop_last=len(self.train_set) >= data.batch_size,
            num_workers=data.num_workers,
            persistent_workers=False,
            collate_fn=collate_samples,
        )

    def val_dataloader(self) -> DataLoader[Sample]:
        """Deterministic validation samples in file order."""
        data = self.config.Data
        return DataLoader(
            self.val_set,
            batch_size=data.val_batch_size,
            shuffle=False,
            num_workers=data.num_workers,
            collate_fn=collate_samples,
        )
