import json
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data.datamodule import SRDataModule
from ganlab.data.paired import Pair, PairedDataset
from ganlab.data.paths import match_by_stem, read_manifest
from ganlab.data.readers import ImageRef
from ganlab.data.transforms import downsample
from ganlab.errors import DataError


def _make_pairs(root: Path, count: int = 3, scale: int = 2) -> tuple[Path, Path]:
    """LR: 4-band uint16 .npy (a 'coarse sensor'); HR: 3-band float32 .npy, LR = area(HR)[:3].

    The LR band 3 is a constant, so LR and HR differ in band count and dtype.
    """
    lr_dir, hr_dir = root / "lr", root / "hr"
    lr_dir.mkdir()
    hr_dir.mkdir()
    rng = np.random.default_rng(1)
    for index in range(count):
        hr = rng.integers(0, 4000, (3, 16 * scale, 20 * scale)).astype(np.float32)
        lr = downsample(torch.from_numpy(hr), scale, "area").round().numpy().astype(np.uint16)
        lr = np.concatenate([lr, np.full((1, 16, 20), 7, np.uint16)])
        np.save(hr_dir / f"scene{index}.npy", hr)
        np.save(lr_dir / f"scene{index}.npy", lr)
    return lr_dir, hr_dir


def _dataset(lr_dir: Path, hr_dir: Path, train: bool, **kwargs) -> PairedDataset:
    pairs = match_by_stem(sorted(lr_dir.iterdir()), sorted(hr_dir.iterdir()), "lr", "hr")
    options = dict(scale=2, lr_bands=3, hr_bands=3, lr_selection=[0, 1, 2])
    options.update(kwargs)
    return PairedDataset(pairs, train=train, hr_patch_size=8 if train else None, **options)


def test_random_crops_are_aligned_and_augmented_alike(tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path)
    dataset = _dataset(lr_dir, hr_dir, train=True, repeats=4)
    assert len(dataset) == 12
    torch.manual_seed(0)
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["lr"].shape == (3, 4, 4) and item["hr"].shape == (3, 8, 8)
        # LR was made as rounded area(HR): still true after the same crop, flips and rotation
        torch.testing.assert_close(downsample(item["hr"], 2, "area"), item["lr"], atol=0.5, rtol=0)
        meta = item["meta"]
        assert Path(meta["lr_path"]).parent == lr_dir and Path(meta["path"]).parent == hr_dir
        assert Path(meta["lr_path"]).name == Path(meta["path"]).name


def test_validation_is_whole_and_deterministic(tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path)
    dataset = _dataset(lr_dir, hr_dir, train=False)
    first, second = dataset[1], dataset[1]
    assert torch.equal(first["hr"], second["hr"]) and first["hr"].shape == (3, 32, 40)
    assert first["meta"]["window"] == (0, 0, 32, 40)
    assert first["meta"]["lr_bands"] == ("band0", "band1", "band2")


def test_different_band_counts_per_branch(tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path)
    dataset = _dataset(lr_dir, hr_dir, train=False, lr_bands=4, lr_selection=None)
    item = dataset[0]
    assert item["lr"].shape[0] == 4 and item["hr"].shape[0] == 3
    with pytest.raises(DataError, match=r"LR .*scene0\.npy: has 4 bands but Model\.in_bands is 3"):
        _dataset(lr_dir, hr_dir, train=False, lr_selection=None)[0]


def test_size_mismatch_names_both_files(tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path)
    dataset = _dataset(lr_dir, hr_dir, train=False, scale=4)
    with pytest.raises(
        DataError, match=r"HR .*hr/scene0\.npy is 32 x 40 pixels but LR .*lr/scene0\.npy is 16 x 20"
    ):
        dataset[0]
    with pytest.raises(DataError, match=r"HR must be LR x Generator\.scaling_factor \(4\)"):
        dataset.check(full=False)


def test_unmatched_files_are_reported(tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path)
    (hr_dir / "scene0.npy").rename(hr_dir / "other.npy")
    with pytest.raises(DataError, match=r"2 file\(s\) without a partner.*scene0\.npy.*other\.npy"):
        match_by_stem(sorted(lr_dir.iterdir()), sorted(hr_dir.iterdir()), "lr", "hr")
    lr_files, hr_files = sorted(lr_dir.iterdir()), sorted(hr_dir.iterdir())
    pairs = match_by_stem(lr_files, hr_files, "lr", "hr", skip_unmatched=True, max_bad_fraction=0.5)
    assert [p[1].name for p in pairs] == ["scene1.npy", "scene2.npy"]  # both strays skipped
    with pytest.raises(DataError, match=r"more than Data\.max_bad_fraction=0\.2"):
        match_by_stem(lr_files, hr_files, "lr", "hr", skip_unmatched=True, max_bad_fraction=0.2)


def test_manifests_csv_and_json(tmp_path: Path) -> None:
    _make_pairs(tmp_path)
    (tmp_path / "pairs.csv").write_text("lr,hr\nlr/scene0.npy,hr/scene0.npy\n")
    (tmp_path / "pairs.json").write_text(
        json.dumps([{"lr": "lr/scene1.npy", "hr": "hr/scene1.npy"}])
    )
    assert read_manifest(tmp_path / "pairs.csv", "k") == [
        (tmp_path / "lr/scene0.npy", tmp_path / "hr/scene0.npy")
    ]
    assert read_manifest(tmp_path / "pairs.json", "k")[0][1] == tmp_path / "hr/scene1.npy"
    (tmp_path / "bad.csv").write_text("low,high\na,b\n")
    with pytest.raises(DataError, match=r"Data\.train_manifest: manifest .*bad\.csv needs"):
        read_manifest(tmp_path / "bad.csv", "Data.train_manifest")


def test_paired_datamodule_from_manifest_and_fraction(make_config, tmp_path: Path) -> None:
    _make_pairs(tmp_path, count=4)
    rows = "".join(f"lr/scene{i}.npy,hr/scene{i}.npy\n" for i in range(4))
    (tmp_path / "pairs.csv").write_text("lr,hr\n" + rows)
    overrides = [
        "Data.dataset=paired",
        f"Data.train_manifest={tmp_path / 'pairs.csv'}",
        "Data.train_dir=null",
        "Data.val_dir=null",
        "Data.val_fraction=0.25",
        "Data.lr_bands=[0, 1, 2]",
        "Data.hr_patch_size=8",
        "Data.val_patch_size=null",
        "Generator.scaling_factor=2",
        "Data.normalization.type=identity",
    ]
    module = SRDataModule(make_config(*overrides))
    assert len(module.train_set) == 3 and len(module.val_set) == 1  # type: ignore[arg-type]
    again = SRDataModule(make_config(*overrides))
    assert module.val_set.entries == again.val_set.entries  # type: ignore[attr-defined]
    batch = next(iter(module.train_dataloader()))
    assert batch["lr"].shape == (2, 3, 4, 4) and batch["hr"].shape == (2, 3, 8, 8)


def test_paired_folders_with_photos(make_config, tmp_path: Path) -> None:
    for name, size in (("lr", 8), ("hr", 32)):
        folder = tmp_path / name
        folder.mkdir()
        for index in range(2):
            Image.new("RGB", (size, size), (index * 50, 80, 120)).save(folder / f"p{index}.png")
    config = make_config(
        "Data.dataset=paired",
        f"Data.train_lr_dir={tmp_path / 'lr'}",
        f"Data.train_dir={tmp_path / 'hr'}",
        f"Data.val_lr_dir={tmp_path / 'lr'}",
        f"Data.val_dir={tmp_path / 'hr'}",
        "Data.val_patch_size=null",
        "Data.normalization.type=zero_one",
        "Data.normalization.max_value=uint8",
    )
    module = SRDataModule(config)
    item = module.val_set[1]
    assert item["hr"].shape == (3, 32, 32) and float(item["hr"][0, 0, 0]) == 50.0
    assert item["meta"]["bands"] == ("R", "G", "B")


def test_pair_objects_and_slices() -> None:
    pair = Pair(ImageRef(Path("a.nii"), 2), ImageRef(Path("b.nii"), 2))
    assert str(pair) == "LR a.nii[2] / HR b.nii[2]"


def test_datamodule_reports_size_mismatch_before_training(make_config, tmp_path: Path) -> None:
    lr_dir, hr_dir = _make_pairs(tmp_path, count=2)
    config = make_config(
        "Data.dataset=paired",
        f"Data.train_lr_dir={lr_dir}",
        f"Data.train_dir={hr_dir}",
        f"Data.val_lr_dir={lr_dir}",
        f"Data.val_dir={hr_dir}",
        "Data.lr_bands=[0, 1, 2]",
        "Data.hr_patch_size=8",
        "Data.val_patch_size=null",
        "Data.preflight=headers",
    )  # scaling_factor 4, but the files are x2
    with pytest.raises(DataError, match=r"HR .*hr/scene0\.npy is 32 x 40 pixels but LR .*lr/sce"):
        SRDataModule(config)
