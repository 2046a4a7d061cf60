import tracemalloc
from pathlib import Path

import numpy as np
import pytest
import torch

from ganlab.data.datamodule import SRDataModule
from ganlab.data.raster_chips import RasterChipsDataset, grid_windows
from ganlab.data.transforms import downsample
from ganlab.errors import DataError
from tests.data.helpers import CRS, smooth_image, write_geotiff

rasterio = pytest.importorskip("rasterio")


def _scene(tmp_path: Path, nodata_rows: int = 0) -> Path:
    data = smooth_image(4, 64)
    data[:, :nodata_rows, :] = 0
    return write_geotiff(tmp_path / "scene.tif", data, names=("B02", "B03", "B04", "B08"), nodata=0)


def test_random_windows_match_the_raster(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    source = rasterio.open(path).read()
    dataset = RasterChipsDataset(
        [path], scale=2, bands=2, train=True, chip_size=16, repeats=5, augment=False,
        band_selection=["B08", "B4"],
    )  # fmt: skip
    assert len(dataset) == 5
    torch.manual_seed(0)
    windows = set()
    for index in range(len(dataset)):
        item = dataset[index]
        top, left, height, width = item["meta"]["window"]
        expected = source[[3, 2], top : top + height, left : left + width].astype(np.float32)
        assert np.array_equal(item["hr"].numpy(), expected)
        torch.testing.assert_close(downsample(item["hr"], 2, "area"), item["lr"])
        assert item["meta"]["bands"] == ("B08", "B04") and item["meta"]["crs"] == CRS
        a, _, c, _, e, f = item["meta"]["transform"]
        assert (c, f) == (500000.0 + 10.0 * left, 4600000.0 - 10.0 * top) and (a, e) == (10, -10)
        windows.add((top, left))
    assert len(windows) > 1


def test_grid_skips_windows_with_nodata(tmp_path: Path) -> None:
    path = _scene(tmp_path, nodata_rows=20)
    strict = RasterChipsDataset([path], scale=2, bands=4, train=False, chip_size=16)
    assert len(grid_windows(64, 64, 16, 16)) == 16
    assert len(strict) == 8 and strict.skipped_windows == 8  # rows 0..31 touch the nodata
    assert all(item["meta"]["window"][0] >= 32 for item in strict)
    loose = RasterChipsDataset(
        [path], scale=2, bands=4, train=False, chip_size=16, max_nodata_fraction=0.3
    )
    assert len(loose) == 12  # the window rows 16..31 has 4/16 nodata rows
    item = next(i for i in loose if i["meta"]["window"][0] == 16)
    assert float(item["hr"].min()) > 0  # nodata filled with the window's valid mean
    assert torch.equal(loose[3]["lr"], loose[3]["lr"])  # deterministic


def test_random_windows_respect_the_nodata_threshold(tmp_path: Path) -> None:
    path = _scene(tmp_path, nodata_rows=40)
    dataset = RasterChipsDataset([path], scale=2, bands=4, train=True, chip_size=16, repeats=20)
    torch.manual_seed(1)
    assert all(dataset[i]["meta"]["window"][0] >= 40 for i in range(len(dataset)))


def test_header_problems_name_the_raster(tmp_path: Path) -> None:
    path = _scene(tmp_path)
    with pytest.raises(DataError, match=r"scene\.tif: has 4 bands but Model\.in_bands is 3"):
        RasterChipsDataset([path], scale=2, bands=3, train=True, chip_size=16)
    with pytest.raises(DataError, match=r"scene\.tif: raster of 64 x 64 pixels is smaller"):
        RasterChipsDataset([path], scale=2, bands=4, train=True, chip_size=128)
    empty = write_geotiff(tmp_path / "empty.tif", np.zeros((4, 32, 32), np.uint16), nodata=0)
    with pytest.raises(DataError, match=r"no 16-pixel window of .*empty\.tif"):
        RasterChipsDataset([empty], scale=2, bands=4, train=False, chip_size=16)
    random = RasterChipsDataset([empty], scale=2, bands=4, train=True, chip_size=16)
    with pytest.raises(DataError, match=r"empty\.tif: no window with at most 0% nodata in 50"):
        random[0]


def test_datamodule_with_workers_reopens_rasters(make_config, tmp_path: Path) -> None:
    train, val = tmp_path / "train", tmp_path / "val"
    train.mkdir()
    val.mkdir()
    _scene(train)
    _scene(val)
    config = make_config(
        "Data.dataset=raster_chips",
        f"Data.train_dir={train}",
        f"Data.val_dir={val}",
        "Data.bands=[B04, B03, B02]",
        "Data.val_patch_size=32",
        "Data.num_workers=1",
        "Data.persistent_workers=true",
        "Data.prefetch_factor=1",
        "Data.repeats=4",
    )
    module = SRDataModule(config)
    module.train_set[0]  # opens the raster in this process; the worker must reopen it
    batch = next(iter(module.train_dataloader()))
    assert batch["hr"].shape == (2, 3, 32, 32) and batch["lr"].shape == (2, 3, 8, 8)
    assert batch["meta"]["crs"] == [CRS, CRS] and batch["meta"]["bands"][0] == ("B04", "B03", "B02")
    assert len(module.val_set) == 4  # type: ignore[arg-type]


def _make_sparse(path: Path, size: int) -> Path:
    """A tiled, compressed, sparse (unwritten tiles read as 0) 3-band uint16 raster."""
    from rasterio.transform import from_origin

    with rasterio.open(
        path, "w", driver="GTiff", height=size, width=size, count=3, dtype="uint16", crs=CRS,
        transform=from_origin(0, 0, 10, 10), tiled=True, blockxsize=256, blockysize=256,
        compress="deflate", SPARSE_OK=True,
    ) as dataset:  # fmt: skip
        dataset.write(np.full((3, 256, 256), 1000, np.uint16), window=((0, 256), (0, 256)))
    return path


def _rss_bytes() -> int:
    with open("/proc/self/statm") as statm:
        return int(statm.read().split()[1]) * 4096


def _peak_reading(path: Path, items: int = 12) -> tuple[int, int]:
    dataset = RasterChipsDataset([path], scale=4, bands=3, train=True, chip_size=128, repeats=items)
    torch.manual_seed(0)
    dataset[0]  # open the raster outside the measurement
    rss = _rss_bytes()
    tracemalloc.start()
    for index in range(items):
        dataset[index]
    peak = tracemalloc.get_traced_memory()[1]
    tracemalloc.stop()
    dataset.close()
    return peak, _rss_bytes() - rss


def test_memory_does_not_depend_on_raster_size(tmp_path: Path) -> None:
    small = _make_sparse(tmp_path / "small.tif", 1_000)
    large = _make_sparse(tmp_path / "large.tif", 10_000)
    assert large.stat().st_size < 2_000_000  # sparse: 10,000 x 10,000 x 3 bands on little disk
    small_peak, _ = _peak_reading(small)
    large_peak, large_rss = _peak_reading(large)
    full_raster = 10_000 * 10_000 * 3 * 2
    assert large_peak < 1.5 * small_peak + 1_000_000
    assert large_peak < full_raster / 50
    assert large_rss < full_raster / 4


@pytest.mark.parametrize(
    ("dtype", "nodata", "has_holes"),
    [(np.uint16, 0, True), (np.int16, -9999, True), (np.float32, float("nan"), True),
     (np.float32, -1.5, True), (np.uint8, 0.5, True), (np.int16, -1.5, True),
     (np.float32, None, False)],
)  # fmt: skip
def test_validity_from_nodata_values_equals_gdals_masks(
    tmp_path: Path, dtype: type, nodata: float | None, has_holes: bool
) -> None:
    from rasterio.windows import Window as RasterioWindow

    from ganlab.data.geotiff import read_open_window, valid_from_nodata

    rng = np.random.default_rng(0)
    data = rng.integers(0, 200, size=(3, 48, 40)).astype(dtype)  # 0 included: uint8 0.5 -> 0
    if has_holes:  # per band, so a pixel may miss one band only; GDAL truncates 0.5 and -1.5
        value = np.trunc(np.float64(nodata)) if np.dtype(dtype).kind in "iu" else nodata
        data[rng.random(data.shape) < 0.1] = np.array(value).astype(dtype)
    path = write_geotiff(tmp_path / "scene.tif", data, nodata=nodata)
    with rasterio.open(path) as dataset:
        window = RasterioWindow(5, 3, 30, 40)
        array = dataset.read([3, 1], window=window)
        expected = np.all(dataset.read_masks([3, 1], window=window) > 0, axis=0)
        valid = valid_from_nodata(dataset, [3, 1], array)
        _, meta = read_open_window(dataset, path, [2, 0], (3, 5, 40, 30), RasterioWindow)
    assert np.array_equal(meta["valid"], expected)
    if valid is not None:
        assert np.array_equal(valid, expected)
    inexact = np.dtype(dtype).kind in "iu" and nodata is not None and nodata not in (0, -9999)
    assert (valid is None) == inexact  # GDAL's masks decide for values the band cannot hold
    assert expected.all() != has_holes


def test_validity_of_a_raster_with_a_mask_band_comes_from_its_mask(tmp_path: Path) -> None:
    from ganlab.data.geotiff import read_open_window, valid_from_nodata

    data = smooth_image(2, 32)
    path = write_geotiff(tmp_path / "masked.tif", data)
    with rasterio.open(path, "r+") as dataset:
        mask = np.full((32, 32), 255, dtype=np.uint8)
        mask[:10] = 0
        dataset.write_mask(mask)
    with rasterio.open(path) as dataset:
        assert valid_from_nodata(dataset, [1, 2], dataset.read()) is None
        _, meta = read_open_window(dataset, path, None, (0, 0, 32, 32), rasterio.windows.Window)
    assert not meta["valid"][:10].any() and meta["valid"][10:].all()
