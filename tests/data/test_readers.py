from pathlib import Path

import numpy as np
import pytest
from PIL import Image

from ganlab.data import geotiff
from ganlab.data.paths import expand_images, list_images, resolve_data_path, sample_root
from ganlab.data.readers import ImageRef, ReadOptions, read_image, read_info, resolve_bands
from ganlab.errors import DataError
from tests.data.helpers import CRS, write_geotiff


def test_jpeg_and_palette_png(tmp_path: Path) -> None:
    rgb = np.full((8, 10, 3), (200, 100, 50), dtype=np.uint8)
    Image.fromarray(rgb).save(tmp_path / "a.jpg", quality=100)
    array, meta = read_image(tmp_path / "a.jpg")
    assert array.dtype == np.uint8 and array.shape == (3, 8, 10)
    assert np.abs(array.astype(int) - rgb.transpose(2, 0, 1)).max() <= 2
    assert meta["band_names"] == ("R", "G", "B")
    Image.fromarray(rgb).convert("P").save(tmp_path / "p.png")
    assert read_image(tmp_path / "p.png")[0].shape == (3, 8, 10)
    info = read_info(tmp_path / "a.jpg")
    assert (info.bands, info.height, info.width, info.count) == (3, 8, 10, 1)


def test_geotiff_keeps_georeferencing_and_band_names(tmp_path: Path) -> None:
    data = np.arange(4 * 20 * 30, dtype=np.uint16).reshape(4, 20, 30)
    path = write_geotiff(tmp_path / "s2.tif", data, names=("B02", "B03", "B04", "B08"), nodata=0)
    array, meta = read_image(path)
    assert array.dtype == np.uint16 and np.array_equal(array, data)
    assert meta["crs"] == CRS
    assert meta["transform"] == (10.0, 0.0, 500000.0, 0.0, -10.0, 4600000.0)
    assert meta["nodata"] == 0.0
    assert meta["band_names"] == ("B02", "B03", "B04", "B08")
    chosen, meta = read_image(path, bands=["B4", "b03", 3])  # names ignore case and zero padding
    assert np.array_equal(chosen, data[[2, 1, 3]]) and meta["band_names"] == ("B04", "B03", "B08")
    window, meta = geotiff.read_geotiff(path, [0], window=(5, 10, 4, 6))
    assert np.array_equal(window[0], data[0, 5:9, 10:16])
    assert meta["transform"] == (10.0, 0.0, 500100.0, 0.0, -10.0, 4599950.0)
    assert meta["valid"].all()
    _, meta = geotiff.read_geotiff(path, None, window=(0, 0, 2, 2))
    assert data[0, 0, 0] == 0 and not meta["valid"][0, 0] and meta["valid"][1, 1]  # nodata = 0


def test_plain_tiff_without_rasterio_uses_tifffile(tmp_path: Path, monkeypatch) -> None:
    import tifffile

    data = np.random.default_rng(0).integers(0, 4000, (5, 12, 9), dtype=np.uint16)
    tifffile.imwrite(tmp_path / "cube.tif", data, photometric="minisblack", planarconfig="separate")
    monkeypatch.setattr(geotiff, "rasterio_available", lambda: False)
    array, _ = read_image(tmp_path / "cube.tif", bands=[4, 0])
    assert array.dtype == np.uint16 and np.array_equal(array, data[[4, 0]])
    assert read_info(tmp_path / "cube.tif").bands == 5


def test_npz_named_arrays_are_bands(tmp_path: Path) -> None:
    b02 = np.full((6, 7), 100, np.uint16)
    b08 = np.full((6, 7), 800, np.uint16)
    np.savez(tmp_path / "named.npz", B02=b02, B08=b08)
    array, meta = read_image(tmp_path / "named.npz")
    assert array.shape == (2, 6, 7) and meta["band_names"] == ("B02", "B08")
    array, meta = read_image(tmp_path / "named.npz", bands=["B8"])
    assert array[0, 0, 0] == 800 and meta["band_names"] == ("B08",)
    np.savez(tmp_path / "image.npz", image=np.stack([b02, b08]), band_names=np.array(["x", "y"]))
    assert read_image(tmp_path / "image.npz", bands=["y"])[0][0, 0, 0] == 800
    info = read_info(tmp_path / "named.npz")
    assert (info.bands, info.height, info.width, info.band_names) == (2, 6, 7, ("B02", "B08"))
    npy = tmp_path / "big.npy"
    np.save(npy, np.zeros((3, 5, 4), np.float32))
    assert read_info(npy).dtype == "<f4" and read_info(npy).bands == 3


def test_band_selection_errors_name_the_file() -> None:
    with pytest.raises(DataError, match=r"f\.tif: no band named 'B09'; the file's bands are"):
        resolve_bands(["B09"], ("B02", "B03"), "f.tif")
    with pytest.raises(DataError, match=r"band index 5 is out of range; the file has 2 bands"):
        resolve_bands([5], ("B02", "B03"), "f.tif")


def test_dicom_ct_is_in_hounsfield_units() -> None:
    pydicom = pytest.importorskip("pydicom")
    path = sample_root() / "dicom" / "ct" / "CT_small.dcm"
    array, meta = read_image(path)
    stored = pydicom.dcmread(path).pixel_array
    assert array.shape == (1, 128, 128) and np.issubdtype(array.dtype, np.integer)
    assert np.array_equal(array[0], stored.astype(np.int32) - 1024)  # slope 1, intercept -1024
    assert meta["units"] == "HU" and meta["modality"] == "CT"
    assert array.min() < -800  # air in HU
    mr, meta = read_image(sample_root() / "dicom" / "mr" / "MR_small.dcm")
    assert mr.dtype == np.int16 and mr.shape == (1, 64, 64) and meta["units"] == ""
    assert read_info(path).dtype == "<i4"


def test_dicom_multiframe_frames_are_images() -> None:
    pytest.importorskip("pydicom")
    from pydicom.data import get_testdata_file

    path = Path(get_testdata_file("SC_rgb_rle_2frame.dcm"))
    refs = expand_images([path], ReadOptions())
    assert refs == [ImageRef(path, 0), ImageRef(path, 1)]
    frame, meta = read_image(refs[1])
    assert frame.shape == (3, 100, 100) and meta["band_names"] == ("R", "G", "B")


def test_nifti_slices_along_an_axis(tmp_path: Path) -> None:
    nibabel = pytest.importorskip("nibabel")
    volume = np.arange(4 * 5 * 6, dtype=np.int16).reshape(4, 5, 6)
    path = tmp_path / "vol.nii.gz"
    nibabel.save(nibabel.Nifti1Image(volume, np.diag([0.5, 0.5, 2.0, 1.0])), path)
    for axis in (0, 1, 2):
        refs = expand_images([path], ReadOptions(slice_axis=axis))
        assert len(refs) == volume.shape[axis]
        array, meta = read_image(refs[2], options=ReadOptions(slice_axis=axis))
        assert np.array_equal(array[0], np.take(volume, 2, axis=axis))
        assert array.dtype == np.int16
    assert meta["pixel_spacing"] == (0.5, 0.5)
    four_d = tmp_path / "echoes.nii"
    nibabel.save(nibabel.Nifti1Image(np.ones((4, 5, 3, 2), np.float32), np.eye(4)), four_d)
    info = read_info(four_d)
    assert (info.bands, info.height, info.width, info.count) == (2, 4, 5, 3)
    assert read_image(ImageRef(four_d, 1))[0].shape == (2, 4, 5)


def test_bundled_sample_sets_read() -> None:
    photos = list_images(resolve_data_path("sample://photos/train", "k"), "k")
    assert {p.suffix for p in photos} == {".png", ".jpg"}
    assert all(read_info(p).bands == 3 for p in photos)
    scene = list_images(resolve_data_path("sample://landsat8_scene/train", "k"), "k")
    info = read_info(scene[0])
    assert info.band_names == ("B2", "B3", "B4") and info.dtype == "<u2"
    if pytest.importorskip("nibabel"):
        mri = list_images(resolve_data_path("sample://mni152/train", "k"), "k")
        refs = expand_images(mri, ReadOptions(slice_axis=2))
        assert len(refs) == 11 and read_image(refs[5])[0].shape == (1, 197, 233)
    for name in ("photos", "landsat8_scene", "mni152", "dicom"):
        assert (sample_root() / name / "PROVENANCE.md").is_file()
