"""Datasets from the config: the ``Data.dataset`` registry and the train/val split.

A dataset factory takes ``(config, split)`` and returns a ``torch.utils.data.Dataset`` whose
items are ``{"lr": Tensor[C, h, w], "hr": Tensor[C', H, W], "meta": dict}`` in physical
units. ``split`` is ``train`` (random items), ``val`` (deterministic items) or ``stats`` (the
training data as deterministic items, used by ``ganlab data stats``). A ``package.module:Class``
name in ``Data.dataset`` is called the same way: ``Class(config, split)``.
"""

from __future__ import annotations

from collections.abc import Callable, Sequence
from pathlib import Path
from typing import Any, Literal, cast

from torch.utils.data import Dataset

from ganlab.config.schema import Config
from ganlab.data.datasets import DegradedDataset, Sample, SizedDataset
from ganlab.data.degradations import Degradation
from ganlab.data.paired import PairedDataset, expand_pairs
from ganlab.data.paths import (
    expand_images,
    list_images,
    match_by_stem,
    read_manifest,
    resolve_data_file,
    resolve_data_path,
    split_fraction,
)
from ganlab.data.readers import ReadOptions
from ganlab.errors import ConfigError, DataError
from ganlab.registry import Registry

Split = Literal["train", "val", "stats"]
DatasetFactory = Callable[[Config, Split], Dataset[Sample]]
RASTER_SUFFIXES = (".tif", ".tiff", ".vrt")

DATASETS: Registry[DatasetFactory] = Registry("dataset", "Data.dataset")


def data_seed(config: Config) -> int:
    """``Data.seed``, or ``Training.seed`` when it is null."""
    return config.Data.seed if config.Data.seed is not None else config.Training.seed


def _policy(config: Config) -> dict[str, Any]:
    data = config.Data
    return {
        "seed": data_seed(config),
        "on_bad_sample": data.on_bad_sample,
        "max_bad_fraction": data.max_bad_fraction,
    }


def _crop_size(config: Config, split: Split) -> int | None:
    """HR crop side: random crops in training, centre crops in validation, whole for stats."""
    if split == "train":
        return config.Data.hr_patch_size
    return config.Data.val_patch_size if split == "val" else None


def _pick(items: Sequence[Any], indices: list[int]) -> list[Any]:
    return [items[i] for i in indices]


def split_files(
    config: Config,
    split: Split,
    suffixes: Sequence[str] | None = None,
) -> list[Path]:
    """The files of a split: ``train_dir`` / ``val_dir``, or a ``val_fraction`` of the training
    files (a fixed-seed choice).

    Raises:
        DataError: A missing folder or key, or an empty folder (names the key and the folder).
    """
    data = config.Data
    if data.train_dir is None:
        raise DataError("Data.train_dir is not set; give the folder of training images")
    if split == "val":
        if data.val_dir is not None:
            folder = resolve_data_path(data.val_dir, "Data.val_dir")
            return list_images(folder, "Data.val_dir", suffixes)
        if data.val_fraction is None:
            raise DataError(
                "Data.val_dir is not set; give the folder of validation images, or set "
                "Data.val_fraction to hold out part of the training images"
            )
    folder = resolve_data_path(data.train_dir, "Data.train_dir")
    train = list_images(folder, "Data.train_dir", suffixes)
    if data.val_dir is not None or data.val_fraction is None:
        return train
    train_idx, val_idx = split_fraction(len(train), data.val_fraction, data_seed(config))
    return _pick(train, val_idx if split == "val" else train_idx)


def split_pairs(config: Config, split: Split) -> list[tuple[Path, Path]]:
    """LR/HR file pairs of a split, from manifests or folders matched by file stem.

    Raises:
        DataError: Missing keys, folders or partners (names them).
    """
    data = config.Data

    def from_source(which: Literal["train", "val"]) -> list[tuple[Path, Path]] | None:
        manifest = data.train_manifest if which == "train" else data.val_manifest
        if manifest is not None:
            key = f"Data.{which}_manifest"
            return read_manifest(resolve_data_file(manifest, key), key)
        hr_dir = data.train_dir if which == "train" else data.val_dir
        lr_dir = data.train_lr_dir if which == "train" else data.val_lr_dir
        if hr_dir is None and lr_dir is None:
            return None
        hr_key, lr_key = f"Data.{which}_dir", f"Data.{which}_lr_dir"
        if hr_dir is None or lr_dir is None:
            missing = hr_key if hr_dir is None else lr_key
            raise DataError(
                f"{missing} is not set; paired data needs both {lr_key} (LR) and {hr_key} (HR), "
                f"or Data.{which}_manifest"
            )
        lr_files = list_images(resolve_data_path(lr_dir, lr_key), lr_key)
        hr_files = list_images(resolve_data_path(hr_dir, hr_key), hr_key)
        skip = data.on_bad_sample == "skip"
        return match_by_stem(lr_files, hr_files, lr_key, hr_key, skip, data.max_bad_fraction)

    has_val = any(v is not None for v in (data.val_manifest, data.val_dir, data.val_lr_dir))
    if split == "val":
        val = from_source("val")
        if val is not None:
            return val
        if data.val_fraction is None:
            raise DataError(
                "no validation pairs: set Data.val_lr_dir and Data.val_dir, Data.val_manifest, "
                "or Data.val_fraction"
            )
    train = from_source("train")
    if train is None:
        raise DataError(
            "paired data needs Data.train_lr_dir and Data.train_dir (LR and HR folders), or "
            "Data.train_manifest"
        )
    if has_val or data.val_fraction is None:
        return train
    train_idx, val_idx = split_fraction(len(train), data.val_fraction, data_seed(config))
    return _pick(train, val_idx if split == "val" else train_idx)


@DATASETS.register("degrade", "HR images; LR made by blur, downsampling, noise, quantisation")
def build_degrade(config: Config, split: Split) -> Dataset[Sample]:
    """:class:`DegradedDataset` for a split."""
    data = config.Data
    options = ReadOptions(slice_axis=data.slice_axis)
    files = expand_images(split_files(config, split), options)
    train = split == "train"
    return DegradedDataset(
        files,
        scale=config.Generator.scaling_factor,
        bands=config.Model.in_bands,
        train=train,
        hr_patch_size=_crop_size(config, split),
        augment=data.augment,
        repeats=data.repeats,
        degradation=Degradation.from_config(config),
        band_selection=data.bands,
        read_options=options,
        **_policy(config),
    )


@DATASETS.register("paired", "LR and HR files matched by name (folders or a manifest)")
def build_paired(config: Config, split: Split) -> Dataset[Sample]:
    """:class:`PairedDataset` for a split."""
    data = config.Data
    options = ReadOptions(slice_axis=data.slice_axis)
    train = split == "train"
    return PairedDataset(
        expand_pairs(split_pairs(config, split), options),
        scale=config.Generator.scaling_factor,
        lr_bands=config.Model.in_bands,
        hr_bands=config.Model.sr_bands,
        train=train,
        hr_patch_size=_crop_size(config, split),
        augment=data.augment,
        repeats=data.repeats,
        lr_selection=data.lr_bands if data.lr_bands is not None else data.bands,
        hr_selection=data.bands,
        read_options=options,
        **_policy(config),
    )


@DATASETS.register("raster_chips", "random or gridded windows of large GeoTIFFs (geo extra)")
def build_raster_chips(config: Config, split: Split) -> Dataset[Sample]:
    """:class:`~ganlab.data.raster_chips.RasterChipsDataset` for a split."""
    from ganlab.data.raster_chips import RasterChipsDataset

    data = config.Data
    train = split == "train"
    size = data.hr_patch_size if train else (data.val_patch_size or data.hr_patch_size)
    return RasterChipsDataset(
        split_files(config, split, RASTER_SUFFIXES),
        scale=config.Generator.scaling_factor,
        bands=config.Model.in_bands,
        train=train,
        chip_size=size,
        sampling=data.chip_sampling if train else "grid",
        stride=data.chip_stride,
        max_nodata_fraction=data.max_nodata_fraction,
        augment=data.augment,
        repeats=data.repeats,
        degradation=Degradation.from_config(config),
        band_selection=data.bands,
        cache_mb=data.raster_cache_mb,
        **_policy(config),
    )


def build_dataset(config: Config, split: Split) -> SizedDataset:
    """The dataset ``Data.dataset`` names, for ``split`` (``train``, ``val`` or ``stats``).

    Raises:
        ConfigError: Unknown name, unimportable plugin, or a plugin without ``__len__``.
        DataError: Missing folders or files (names the key).
    """
    factory = DATASETS.get(config.Data.dataset)
    dataset = factory(config, split)
    if not hasattr(dataset, "__len__") or not hasattr(dataset, "__getitem__"):
        raise ConfigError(
            f"Data.dataset: {config.Data.dataset} built a {type(dataset).__name__} without "
            "__len__/__getitem__; datasets must be map-style"
        )
    return cast(SizedDataset, dataset)
