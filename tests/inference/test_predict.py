"""``ganlab predict``: GeoTIFFs keep their georeferencing (checked with rasterio), nodata stays
nodata, integer bit depths are kept, folders continue past a bad file, errors exit 2 with the
file named and leave no partial output."""

from __future__ import annotations

from pathlib import Path

import numpy as np
import pytest
import rasterio
from affine import Affine
from PIL import Image

from ganlab.cli import main
from ganlab.inference.resolver import SuperResolver
from tests.inference.conftest import MakeExport

PERCENTILE = (
    "Data.normalization={type: percentile, low: [7000, 6500, 6000], high: [9000, 8800, 8900]}"
)
TRANSFORM = Affine(30.0, 0.0, 755745.0, 0.0, -30.0, -2819235.0)


def write_scene(path: Path, height: int = 70, width: int = 90, nodata_block: bool = True) -> Path:
    """A uint16 3-band GeoTIFF (UTM 21S, 30 m) with band names, tags and a nodata corner."""
    rng = np.random.default_rng(0)
    data = rng.integers(6500, 9000, (3, height, width)).astype(np.uint16)
    if nodata_block:
        data[:, :10, :12] = 0
    profile = {
        "driver": "GTiff", "width": width, "height": height, "count": 3, "dtype": "uint16",
        "crs": "EPSG:32721", "transform": TRANSFORM, "nodata": 0,
    }  # fmt: skip
    with rasterio.open(path, "w", **profile) as dataset:
        dataset.write(data)
        for band, name in enumerate(("B2", "B3", "B4"), start=1):
            dataset.set_band_description(band, name)
            dataset.update_tags(band, WAVELENGTH=str(480 + 80 * band))
        dataset.update_tags(SOURCE_SCENE="LC08_TEST")
    return path


def leftovers(folder: Path) -> list[Path]:
    return [p for p in folder.rglob("*") if ".partial" in p.name or p.name.endswith(".tiles.tif")]


def test_geotiff_round_trip_keeps_georeferencing_bands_tags_and_nodata(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = export(PERCENTILE)
    scene = write_scene(tmp_path / "scene.tif")
    target = tmp_path / "out" / "scene_sr.tif"
    tiles = ["--tile", "48", "--overlap", "24", "--no-progress"]
    code = main(["predict", "--checkpoint", str(checkpoint), "--input", str(scene),
                 "--output", str(target), *tiles])  # fmt: skip
    assert code == 0
    assert "Super-resolved 1 file (x4, ema weights)" in capsys.readouterr().out
    with rasterio.open(scene) as lr, rasterio.open(target) as sr:
        assert (sr.width, sr.height, sr.count) == (4 * lr.width, 4 * lr.height, 3)
        assert sr.crs == lr.crs
        assert sr.transform.almost_equals(TRANSFORM * Affine.scale(0.25))
        assert sr.bounds == pytest.approx(lr.bounds)
        assert sr.nodata == 0 and sr.dtypes == ("uint16",) * 3
        assert sr.descriptions == ("B2", "B3", "B4")
        assert sr.tags(2)["WAVELENGTH"] == "640" and sr.tags()["SOURCE_SCENE"] == "LC08_TEST"
        assert sr.is_tiled and sr.compression is not None
        lr_data, sr_data = lr.read(), sr.read()
    assert np.all(sr_data[:, :40, :48] == 0)  # the LR nodata corner, x4
    valid = sr_data[:, 40:, 48:]
    assert valid.min() > 0
    # same values as the whole image at once (the nodata corner filled as the tiles fill it)
    resolver = SuperResolver.from_checkpoint(checkpoint)
    filled = lr_data.astype(np.float32)
    fill = resolver.lr_normalizer.offset.numpy()  # normalised 0 of a percentile normaliser
    filled[:, :10, :12] = fill[:, None, None]
    whole = resolver(filled, whole_image=True, tile=48, overlap=24)
    expected = np.clip(np.rint(whole), 0, 65535)
    assert np.abs(sr_data[:, 40:, :].astype(float) - expected[:, 40:, :]).max() <= 1


def test_cloud_optimised_geotiff_on_request(export: MakeExport, tmp_path: Path) -> None:
    scene = write_scene(tmp_path / "scene.tif", 150, 140, nodata_block=False)
    target = tmp_path / "scene_cog.tif"
    assert main(["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(scene),
                 "--output", str(target), "--cog", "--no-progress"]) == 0  # fmt: skip
    with rasterio.open(target) as sr:
        assert sr.tags(ns="IMAGE_STRUCTURE").get("LAYOUT") == "COG"
        assert sr.overviews(1) and sr.crs.to_epsg() == 32721
    assert not leftovers(tmp_path)


def test_existing_output_needs_overwrite(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    scene = write_scene(tmp_path / "scene.tif", 20, 20)
    target = tmp_path / "sr.tif"
    target.write_bytes(b"keep me")
    args = ["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(scene),
            "--output", str(target), "--no-progress"]  # fmt: skip
    assert main(args) == 2
    assert f"{target} exists; pass --overwrite" in capsys.readouterr().err
    assert target.read_bytes() == b"keep me"
    assert main([*args, "--overwrite"]) == 0
    with rasterio.open(target) as sr:
        assert sr.width == 80


def test_input_smaller_than_one_tile_is_padded_not_refused(
    export: MakeExport, tmp_path: Path
) -> None:
    scene = write_scene(tmp_path / "tiny.tif", 5, 7, nodata_block=False)
    target = tmp_path / "tiny_sr.tif"
    assert main(["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(scene),
                 "--output", str(target), "--tile", "64", "--no-progress"]) == 0  # fmt: skip
    with rasterio.open(target) as sr:
        assert (sr.height, sr.width) == (20, 28)


def test_band_mismatch_and_foreign_checkpoint_exit_2_naming_the_file(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    gray = tmp_path / "gray.png"
    Image.fromarray(np.zeros((16, 16), np.uint8)).save(gray)
    code = main(["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(gray),
                 "--output", str(tmp_path / "gray_sr.png"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert f"{gray} has 1 band but the model" in capsys.readouterr().err
    foreign = tmp_path / "foreign.safetensors"
    import torch
    from safetensors.torch import save_file

    save_file({"w": torch.zeros(1)}, str(foreign))
    code = main(["predict", "--checkpoint", str(foreign), "--input", str(gray),
                 "--output", str(tmp_path / "x.png"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert "foreign.safetensors is a safetensors file but not an OpenSR GAN Lab" in (
        capsys.readouterr().err
    )
    assert not (tmp_path / "gray_sr.png").exists() and not leftovers(tmp_path)


def test_folder_continues_past_a_bad_file_and_reports_it(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = export("Data.normalization={type: zero_one, max_value: 255}")
    source = tmp_path / "in"
    (source / "sub").mkdir(parents=True)
    rgb = np.random.default_rng(2).integers(0, 256, (12, 10, 3)).astype(np.uint8)
    Image.fromarray(rgb).save(source / "a.png")
    Image.fromarray(rgb).save(source / "sub" / "b.jpg", quality=95)
    (source / "broken.png").write_bytes(b"not a png")
    (source / "notes.txt").write_text("not an image")
    output = tmp_path / "out"
    args = ["predict", "--checkpoint", str(checkpoint), "--input", str(source),
            "--output", str(output), "--no-progress"]  # fmt: skip
    assert main(args) == 2
    captured = capsys.readouterr()
    assert "Super-resolved 2 files" in captured.out and "1 failed" in captured.out
    assert "1 skipped" in captured.out
    assert "broken.png: failed" in captured.err and "notes.txt: skipped" in captured.err
    with Image.open(output / "a.png") as a, Image.open(output / "sub" / "b.jpg") as b:
        assert a.size == b.size == (40, 48) and a.mode == "RGB"
    assert not (output / "broken.png").exists() and not leftovers(tmp_path)

    (output / "sub" / "b.jpg").unlink()
    assert main([*args, "--overwrite", "--fail-fast"]) == 2  # a.png, then stops at broken.png
    assert "broken.png" in capsys.readouterr().err
    assert not (output / "sub" / "b.jpg").exists()


def test_uint16_geotiff_in_gives_uint16_out_and_float_in_float_out(
    export: MakeExport, tmp_path: Path
) -> None:
    checkpoint = export(PERCENTILE)
    for dtype in ("uint16", "float32"):
        path = tmp_path / f"{dtype}.tif"
        profile = {"driver": "GTiff", "width": 16, "height": 16, "count": 3, "dtype": dtype}
        with rasterio.open(path, "w", **profile) as dataset:
            dataset.write(np.full((3, 16, 16), 7777, dtype=dtype))
        target = tmp_path / f"{dtype}_sr.tif"
        assert main(["predict", "--checkpoint", str(checkpoint), "--input", str(path),
                     "--output", str(target), "--no-progress"]) == 0  # fmt: skip
        with rasterio.open(target) as sr:
            assert sr.dtypes[0] == dtype and sr.crs is None


ONE_BAND = ("Model.in_bands=1", "Data.normalization={type: mean_std, mean: [0], std: [500]}")


def test_nifti_volume_keeps_its_dtype_and_scales_the_in_plane_spacing(
    export: MakeExport, tmp_path: Path
) -> None:
    import nibabel

    volume = np.random.default_rng(3).integers(-200, 800, (20, 18, 3)).astype(np.int16)
    affine = np.diag([0.8, 0.9, 3.0, 1.0])
    source = tmp_path / "head.nii.gz"
    nibabel.save(nibabel.Nifti1Image(volume, affine), source)
    target = tmp_path / "head_sr.nii.gz"
    assert main(["predict", "--checkpoint", str(export(*ONE_BAND)), "--input", str(source),
                 "--output", str(target), "--no-progress"]) == 0  # fmt: skip
    image = nibabel.load(target)
    assert image.shape == (80, 72, 3) and image.get_data_dtype() == np.int16
    np.testing.assert_allclose(image.header.get_zooms(), (0.2, 0.225, 3.0), rtol=1e-6)
    np.testing.assert_allclose(np.diag(image.affine)[:3], (0.2, 0.225, 3.0), rtol=1e-6)


def test_dicom_gets_new_size_spacing_and_instance_uid(export: MakeExport, tmp_path: Path) -> None:
    import pydicom

    source = Path(__file__).resolve().parents[2] / "src/ganlab/sample_data/dicom/ct/CT_small.dcm"
    target = tmp_path / "ct_sr.dcm"
    assert main(["predict", "--checkpoint", str(export(*ONE_BAND)), "--input", str(source),
                 "--output", str(target), "--tile", "64", "--overlap", "24",
                 "--no-progress"]) == 0  # fmt: skip
    before, after = pydicom.dcmread(source), pydicom.dcmread(target)
    assert (after.Rows, after.Columns) == (4 * before.Rows, 4 * before.Columns)
    assert [float(v) for v in after.PixelSpacing] == pytest.approx(
        [float(v) / 4 for v in before.PixelSpacing]
    )
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert after.pixel_array.dtype == before.pixel_array.dtype


def test_a_corrupt_tiff_exits_2_naming_it(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    broken = tmp_path / "broken.tif"
    broken.write_bytes(b"II*\x00" + b"\x00" * 64)
    code = main(["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(broken),
                 "--output", str(tmp_path / "out.tif"), "--no-progress"])  # fmt: skip
    assert code == 2
    assert f"{broken}: cannot be read" in capsys.readouterr().err
    assert not (tmp_path / "out.tif").exists() and not leftovers(tmp_path)


def test_missing_data_marked_by_a_mask_stays_masked_without_a_nodata_value(
    export: MakeExport, tmp_path: Path
) -> None:
    path = tmp_path / "masked.tif"
    profile = {"driver": "GTiff", "width": 24, "height": 20, "count": 3, "dtype": "uint16",
               "crs": "EPSG:32721", "transform": TRANSFORM}  # fmt: skip
    mask = np.full((20, 24), 255, np.uint8)
    mask[:5, :6] = 0
    with rasterio.Env(GDAL_TIFF_INTERNAL_MASK=True), rasterio.open(path, "w", **profile) as out:
        out.write(np.full((3, 20, 24), 7777, np.uint16))
        out.write_mask(mask)
    target = tmp_path / "masked_sr.tif"
    assert main(["predict", "--checkpoint", str(export(PERCENTILE)), "--input", str(path),
                 "--output", str(target), "--no-progress"]) == 0  # fmt: skip
    with rasterio.open(target) as sr:
        assert sr.nodata is None
        sr_mask = sr.dataset_mask()
    assert np.all(sr_mask[:20, :24] == 0) and np.all(sr_mask[20:, :] == 255)
    assert np.all(sr_mask[:, 24:] == 255)


def test_same_path_empty_folder_and_bad_device_exit_2(
    export: MakeExport, tmp_path: Path, capsys: pytest.CaptureFixture[str]
) -> None:
    checkpoint = str(export(PERCENTILE))
    scene = write_scene(tmp_path / "scene.tif", 16, 16)
    args = ["predict", "--checkpoint", checkpoint, "--no-progress"]
    assert main([*args, "--input", str(scene), "--output", str(scene), "--overwrite"]) == 2
    assert "is the input file" in capsys.readouterr().err
    empty = tmp_path / "empty"
    empty.mkdir()
    assert main([*args, "--input", str(empty), "--output", str(tmp_path / "o")]) == 2
    assert "holds no file ganlab predict reads" in capsys.readouterr().err
    code = main([*args, "--input", str(scene), "--output", str(tmp_path / "x.tif"),
                 "--device", "bogus"])  # fmt: skip
    assert code == 2 and "not a device name" in capsys.readouterr().err
