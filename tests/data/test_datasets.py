from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.data.datamodule import SRDataModule
from ganlab.data.datasets import DegradedDataset, collate_samples
from ganlab.data.paths import list_images, resolve_data_path, sample_root
from ganlab.data.readers import read_image
from ganlab.data.transforms import downsample
from ganlab.errors import DataError


def test_bundled_sample_is_real_multispectral_data() -> None:
    train = list_images(resolve_data_path("sample://landsat8/train", "k"), "k")
    val = list_images(resolve_data_path("sample://landsat8/val", "k"), "k")
    assert len(train) >= 8 and len(val) >= 3
    array, _meta = read_image(train[0])
    assert array.dtype == np.uint16 and array.shape == (3, 256, 256)
    assert array.min() > 0 and array.std() > 100  # real texture, no nodata
    assert (sample_root() / "landsat8" / "PROVENANCE.md").is_file()


def test_readers_keep_dtype_and_values(tmp_path: Path) -> None:
    rgb = np.random.default_rng(0).integers(0, 255, (10, 12, 3), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.png")
    array, _meta = read_image(tmp_path / "a.png")
    assert array.dtype == np.uint8 and np.array_equal(array, rgb.transpose(2, 0, 1))
    grey16 = np.arange(120, dtype=np.uint16).reshape(10, 12) * 500
    Image.fromarray(grey16).save(tmp_path / "b.png")
    array, _ = read_image(tmp_path / "b.png")
    assert array.shape == (1, 10, 12) and np.array_equal(array[0], grey16)
    np.savez(tmp_path / "c.npz", image=grey16[None].astype(np.float32))
    array, _ = read_image(tmp_path / "c.npz")
    assert array.dtype == np.float32 and np.array_equal(array[0], grey16)
    np.savez(tmp_path / "d.npz", a=grey16, b=grey16[None])
    with pytest.raises(DataError, match=r"d\.npz: holds arrays \['a', 'b'\]"):
        read_image(tmp_path / "d.npz")
    (tmp_path / "e.png").write_bytes(b"not a png")
    with pytest.raises(DataError, match=r"e\.png: cannot be read"):
        read_image(tmp_path / "e.png")
    with pytest.raises(DataError, match=r"unsupported file type '\.bmp'"):
        read_image(tmp_path / "f.bmp")


def test_training_items_are_aligned_random_crops(image_folder: Path) -> None:
    files = sorted(image_folder.glob("*.npy"))
    dataset = DegradedDataset(files, scale=4, bands=4, train=True, hr_patch_size=32, repeats=3)
    assert len(dataset) == 9
    torch.manual_seed(0)
    windows = set()
    for index in range(len(dataset)):
        item = dataset[index]
        assert item["lr"].shape == (4, 8, 8) and item["hr"].shape == (4, 32, 32)
        torch.testing.assert_close(downsample(item["hr"], 4, "area"), item["lr"])
        top, left, _, _ = item["meta"]["window"]
        assert top % 4 == 0 and left % 4 == 0
        windows.add((item["meta"]["path"], item["meta"]["window"]))
    assert len(windows) > 3


def test_unaugmented_crop_matches_source_window(image_folder: Path) -> None:
    files = sorted(image_folder.glob("*.npy"))
    dataset = DegradedDataset(files, 4, 4, train=True, hr_patch_size=32, augment=False)
    item = dataset[1]
    top, left, height, width = item["meta"]["window"]
    source = torch.from_numpy(np.load(files[1]).astype(np.float32))
    assert torch.equal(item["hr"], source[:, top : top + height, left : left + width])


def test_validation_items_are_deterministic(image_folder: Path) -> None:
    files = sorted(image_folder.glob("*.npy"))
    dataset = DegradedDataset(files, scale=4, bands=4, train=False, hr_patch_size=None)
    first, second = dataset[0], dataset[0]
    assert torch.equal(first["hr"], second["hr"]) and first["hr"].shape == (4, 64, 64)


def test_band_mismatch_and_nan_name_the_file(image_folder: Path, tmp_path: Path) -> None:
    files = sorted(image_folder.glob("*.npy"))
    with pytest.raises(DataError, match=r"img0\.npy: has 4 bands but Model\.in_bands is 3"):
        DegradedDataset(files, 4, 3, train=False, hr_patch_size=None)[0]
    bad = tmp_path / "nan.npy"
    array = np.ones((4, 16, 16), dtype=np.float32)
    array[0, 3, 3] = np.nan
    np.save(bad, array)
    with pytest.raises(DataError, match=r"nan\.npy: contains NaN"):
        DegradedDataset([bad], 4, 4, train=False, hr_patch_size=None)[0]
    small = tmp_path / "small.npy"
    np.save(small, np.ones((4, 16, 16), dtype=np.float32))
    with pytest.raises(DataError, match=r"small\.npy: .*is smaller than the \d+x\d+ crop"):
        DegradedDataset([small], 4, 4, train=True, hr_patch_size=32)[0]


def test_collate_keeps_meta_as_lists(image_folder: Path) -> None:
    files = sorted(image_folder.glob("*.npy"))
    dataset = DegradedDataset(files, 2, 4, train=False, hr_patch_size=16)
    batch = collate_samples([dataset[0], dataset[1]])
    assert batch["lr"].shape == (2, 4, 8, 8) and batch["hr"].shape == (2, 4, 16, 16)
    assert batch["meta"]["path"] == [str(files[0]), str(files[1])]
    assert batch["meta"]["window"] == [(24, 24, 16, 16)] * 2
    assert batch["meta"]["scale"] == [2, 2]


def test_datamodule_errors_name_paths(make_config, tmp_path: Path) -> None:
    with pytest.raises(DataError, match=r"Data\.train_dir: folder .*missing does not exist"):
        SRDataModule(make_config(f"Data.train_dir={tmp_path / 'missing'}"))
    with pytest.raises(DataError, match=r"Data\.val_dir: folder .* holds no images"):
        SRDataModule(make_config(f"Data.val_dir={tmp_path}"))
    with pytest.raises(DataError, match="no bundled sample folder"):
        SRDataModule(make_config("Data.train_dir=sample://nope/train"))
    with pytest.raises(DataError, match=r"Data\.train_dir is not set"):
        SRDataModule(make_config("Data.train_dir=null"))


def test_datamodule_batches(make_config) -> None:
    module = SRDataModule(make_config())
    batch = next(iter(module.train_dataloader()))
    assert batch["lr"].shape == (2, 3, 8, 8) and batch["hr"].shape == (2, 3, 32, 32)
    assert batch["hr"].dtype == torch.float32 and batch["hr"].min() > 1000  # physical units
    val = next(iter(module.val_dataloader()))
    assert val["hr"].shape == (1, 3, 64, 64)


def test_geotiff_crops_carry_georeferencing(tmp_path: Path) -> None:
    pytest.importorskip("rasterio")
    from tests.data.helpers import CRS, smooth_image, write_geotiff

    path = write_geotiff(tmp_path / "t.tif", smooth_image(2, 40), names=("B04", "B08"))
    dataset = DegradedDataset([path], 4, 2, train=False, hr_patch_size=16)
    meta = dataset[0]["meta"]
    top, left, _, _ = meta["window"]
    assert (top, left) == (12, 12) and meta["crs"] == CRS and meta["bands"] == ("B04", "B08")
    assert meta["transform"] == (10.0, 0.0, 500000.0 + 10 * left, 0.0, -10.0, 4600000.0 - 10 * top)
    with pytest.raises(IndexError):
        dataset[1]
