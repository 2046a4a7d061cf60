import logging
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.config import load_config
from ganlab.data.builders import DATASETS, build_dataset
from ganlab.data.datamodule import SRDataModule
from ganlab.data.sampling import SampleIndex
from ganlab.errors import ConfigError, DataError


def _folder(root: Path, name: str, count: int = 10, bands: int = 3) -> Path:
    folder = root / name
    folder.mkdir()
    rng = np.random.default_rng(0)
    for index in range(count):
        np.save(folder / f"img{index:02d}.npy", rng.integers(1, 9000, (bands, 32, 32), np.uint16))
    return folder


def _config(make_config, train: Path, *extra: str):
    return make_config(
        f"Data.train_dir={train}",
        "Data.val_dir=null",
        "Data.val_fraction=0.2",
        "Data.hr_patch_size=16",
        "Data.val_patch_size=16",
        *extra,
    )


def test_fraction_split_is_reproducible_and_disjoint(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train")
    first = SRDataModule(_config(make_config, train))
    again = SRDataModule(_config(make_config, train))
    other = SRDataModule(_config(make_config, train, "Data.seed=5"))
    train_refs = set(first.train_set.entries)  # type: ignore[attr-defined]
    val_refs = set(first.val_set.entries)  # type: ignore[attr-defined]
    assert len(val_refs) == 2 and len(train_refs) == 8 and not train_refs & val_refs
    assert val_refs == set(again.val_set.entries)  # type: ignore[attr-defined]
    assert val_refs != set(other.val_set.entries)  # type: ignore[attr-defined]


def test_loader_options_and_seeded_order(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train")
    config = _config(make_config, train, "Data.pin_memory=true", "Data.seed=3")
    module = SRDataModule(config)
    loader = module.train_dataloader()
    assert loader.pin_memory and loader.batch_size == 2 and loader.num_workers == 0
    order = [list(SRDataModule(config).train_dataloader().sampler) for _ in range(2)]
    assert order[0] == order[1]
    with pytest.raises(ConfigError, match="`persistent_workers` needs num_workers > 0"):
        _config(make_config, train, "Data.persistent_workers=true")


def test_validation_degradations_are_fixed_per_item(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train")
    config = _config(
        make_config, train, "Data.degradation.noise_std=[5, 50]", "Data.degradation.blur_sigma=1"
    )
    val = SRDataModule(config).val_set
    torch.testing.assert_close(val[0]["lr"], val[0]["lr"])
    assert not torch.equal(val[0]["lr"], SRDataModule(config).train_set[0]["lr"])
    train_set = SRDataModule(config).train_set
    # training items are random per epoch, and the same for the same (epoch, index)
    epoch0, epoch1 = SampleIndex(0, epoch=0), SampleIndex(0, epoch=1)
    assert not torch.equal(train_set[epoch0]["lr"], train_set[epoch1]["lr"])
    torch.testing.assert_close(train_set[epoch1]["lr"], train_set[epoch1]["lr"], rtol=0, atol=0)


def test_meta_is_collated_as_lists(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train")
    batch = next(iter(SRDataModule(_config(make_config, train)).val_dataloader()))
    meta = batch["meta"]
    assert set(meta) == {
        "path", "lr_path", "index", "window", "bands", "lr_bands", "crs", "transform", "scale"
    }  # fmt: skip
    assert meta["window"] == [(8, 8, 16, 16)] and meta["scale"] == [4]
    assert meta["bands"] == [("band0", "band1", "band2")] and meta["crs"] == [None]


def test_empty_folder_is_reported(make_config, tmp_path: Path) -> None:
    (tmp_path / "empty").mkdir()
    with pytest.raises(DataError, match=r"Data\.train_dir: folder .*empty holds no images"):
        SRDataModule(_config(make_config, tmp_path / "empty"))


def test_band_count_mismatch_is_reported_before_training(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train", bands=4)
    for preflight in ("full", "headers"):
        with pytest.raises(
            DataError,
            match=r"img\d\d\.npy: has 4 bands but Model\.in_bands is 3;.*\(7 more bad files\)",
        ):
            SRDataModule(_config(make_config, train, f"Data.preflight={preflight}"))


def test_nan_is_reported_before_training(make_config, tmp_path: Path) -> None:
    train = _folder(tmp_path, "train")
    np.save(train / "img03.npy", np.full((3, 32, 32), np.nan, np.float32))
    with pytest.raises(DataError, match=r"img03\.npy: contains NaN or infinite values"):
        SRDataModule(_config(make_config, train, "Data.val_fraction=null", f"Data.val_dir={train}"))


def test_skip_counts_and_logs_each_bad_file_once(make_config, tmp_path: Path, caplog) -> None:
    train = _folder(tmp_path, "train")
    np.save(train / "img03.npy", np.full((3, 32, 32), np.nan, np.float32))
    (train / "img07.npy").write_bytes(b"broken")
    val = _folder(tmp_path, "val", count=2)
    overrides = ["Data.val_fraction=null", f"Data.val_dir={val}", "Data.on_bad_sample=skip"]
    with caplog.at_level(logging.WARNING, logger="ganlab"):
        module = SRDataModule(_config(make_config, train, *overrides, "Data.max_bad_fraction=0.2"))
    skipped = [r.getMessage() for r in caplog.records if "skipping bad sample" in r.getMessage()]
    assert len(skipped) == 2
    assert any("img03.npy" in m for m in skipped) and any("img07.npy" in m for m in skipped)
    assert any("2 bad files left out" in r.getMessage() for r in caplog.records)
    assert len(module.train_set) == 8  # type: ignore[arg-type]
    with pytest.raises(DataError, match=r"2 of 10 files are bad \(20.0%\), more than Data\.max_b"):
        SRDataModule(_config(make_config, train, *overrides, "Data.max_bad_fraction=0.1"))


def test_skip_at_load_time_uses_the_next_file(make_config, tmp_path: Path, caplog) -> None:
    train = _folder(tmp_path, "train", count=4)
    overrides = ["Data.val_fraction=null", f"Data.val_dir={train}", "Data.on_bad_sample=skip",
                 "Data.preflight=none", "Data.max_bad_fraction=0.5"]  # fmt: skip
    dataset = build_dataset(_config(make_config, train, *overrides), "val")
    (train / "img01.npy").write_bytes(b"broken after the check")
    with caplog.at_level(logging.WARNING, logger="ganlab"):
        item = dataset[1]
        dataset[1]
    assert item["meta"]["path"].endswith("img02.npy")
    assert sum("img01.npy" in r.getMessage() for r in caplog.records) == 1  # logged once
    (train / "img02.npy").write_bytes(b"broken too")
    (train / "img03.npy").write_bytes(b"broken too")
    with pytest.raises(DataError, match=r"3 of 4 files are bad"):
        dataset[2]


def test_custom_dataset_by_module_path(make_config) -> None:
    config = make_config("Data.dataset=tests.data.custom_parts:ConstantDataset")
    module = SRDataModule(config)
    batch = next(iter(module.train_dataloader()))
    assert batch["hr"].shape == (2, 3, 32, 32) and batch["meta"]["path"][0].startswith("constant")
    assert len(module.val_set) == 2  # type: ignore[arg-type]
    assert set(DATASETS.names()) == {"degrade", "paired", "raster_chips"}
    with pytest.raises(ConfigError, match=r"Data\.dataset: unknown dataset 'paird'; did you mean"):
        load_config(None, ["Data.dataset=paird"])


def test_nifti_slices_train(make_config) -> None:
    pytest.importorskip("nibabel")
    config = make_config(
        "Data.train_dir=sample://mni152/train",
        "Data.val_dir=sample://mni152/val",
        "Model.in_bands=1",
        "Data.normalization.type=zero_one",
        "Data.normalization.max_value=uint8",
    )
    module = SRDataModule(config)
    assert len(module.val_set) == 4  # type: ignore[arg-type]
    item = module.val_set[2]
    assert item["hr"].shape == (1, 64, 64) and item["meta"]["index"] == 2
