"""Super-resolving photos: bit depth and mode kept, alpha upsampled beside the model, the
container following the target's suffix, metadata kept, and refused targets writing nothing.

``resolve`` is a fake (nearest upsampling plus an offset), so every output value is known.
"""

from __future__ import annotations

from pathlib import Path
from typing import Any

import numpy as np
import pytest
from PIL import Image, PngImagePlugin

from ganlab.data.paths import sample_root
from ganlab.errors import DataError, OutputError
from ganlab.inference import photos
from ganlab.inference.photos import read_photo, super_resolve_photo

PHOTOS = sample_root() / "photos"


def nearest(array: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(array, scale, axis=-2), scale, axis=-1)


class FakeResolve:
    """Nearest upsampling plus ``offset``; records the shapes it is given."""

    def __init__(self, scale: int, offset: float) -> None:
        self.scale, self.offset = scale, offset
        self.shapes: list[tuple[int, ...]] = []

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        assert lr.dtype == np.float32
        self.shapes.append(lr.shape)
        return (nearest(lr, self.scale) + self.offset).astype(np.float32)


def chw(path: Path) -> np.ndarray:
    with Image.open(path) as image:
        array = np.asarray(image)
    return array[None] if array.ndim == 2 else np.moveaxis(array, -1, 0)


@pytest.mark.parametrize("suffix", [".png", ".tif"])
def test_rgb_png_gives_uint8_rgb_at_scaled_size(tmp_path: Path, suffix: str) -> None:
    source = PHOTOS / "train" / "astronaut_face.png"
    resolve = FakeResolve(2, 0.6)  # rounds up: 1 higher, clipped at 255

    out = super_resolve_photo(source, tmp_path / f"sr{suffix}", resolve, 2)

    with Image.open(out) as image:
        assert image.format == {".png": "PNG", ".tif": "TIFF"}[suffix]
        assert (image.mode, image.size) == ("RGB", (384, 384))
    lr = chw(source).astype(int)
    np.testing.assert_array_equal(chw(out), np.minimum(nearest(lr, 2) + 1, 255))
    assert resolve.shapes == [(3, 192, 192)]
    assert read_photo(out)[1].icc_profile == read_photo(source)[1].icc_profile is not None


def test_16bit_grayscale_png_stays_16bit_with_dpi_and_text(tmp_path: Path) -> None:
    lr = np.linspace(0, 60000, 6 * 7).reshape(6, 7).astype(np.uint16)
    chunks = PngImagePlugin.PngInfo()
    chunks.add_text("Description", "phantom")
    source = tmp_path / "gray16.png"
    Image.fromarray(lr).save(source, dpi=(100, 100), pnginfo=chunks)

    out = super_resolve_photo(source, tmp_path / "sr.png", FakeResolve(3, 5000.4), 3)

    with Image.open(out) as image:
        assert (image.mode, image.size) == ("I;16", (21, 18))
        np.testing.assert_allclose(image.info["dpi"], (300, 300), rtol=1e-3)
        assert image.text["Description"] == "phantom"
        sr = np.asarray(image)
    assert sr.dtype == np.uint16
    np.testing.assert_array_equal(sr, np.minimum(nearest(lr.astype(int), 3) + 5000, 65535))


@pytest.mark.parametrize(
    ("layout", "photometric", "planarconfig"),
    [((8, 10, 3), "rgb", "contig"), ((4, 8, 10), "minisblack", "separate")],
)
def test_16bit_tiff_stays_16bit(
    tmp_path: Path, layout: tuple[int, ...], photometric: str, planarconfig: str
) -> None:
    tifffile = pytest.importorskip("tifffile")
    data = np.random.default_rng(0).integers(0, 65000, size=layout).astype(np.uint16)
    source = tmp_path / "multi16.tif"
    tifffile.imwrite(source, data, photometric=photometric, planarconfig=planarconfig)
    lr, info = read_photo(source)
    assert lr.dtype == np.uint16 and lr.shape[1:] == (8, 10) and not info.alpha

    out = super_resolve_photo(source, tmp_path / "sr.tiff", FakeResolve(2, 1000), 2)

    sr, _ = read_photo(out)
    assert sr.dtype == np.uint16 and sr.shape == (lr.shape[0], 16, 20)
    np.testing.assert_array_equal(sr, np.minimum(nearest(lr.astype(int), 2) + 1000, 65535))
    with tifffile.TiffFile(out) as tiff:
        assert tiff.pages.first.photometric.name == photometric.upper()


def test_16bit_tiff_without_tifffile_goes_through_pillow(
    tmp_path: Path, monkeypatch: pytest.MonkeyPatch
) -> None:
    monkeypatch.setattr(photos, "_tifffile", lambda: None)
    lr = np.arange(5 * 6, dtype=np.uint16).reshape(5, 6) * 2000
    source = tmp_path / "gray16.tif"
    Image.fromarray(lr).save(source)

    out = super_resolve_photo(source, tmp_path / "sr.tif", FakeResolve(2, 7), 2)

    with Image.open(out) as image:
        assert (image.format, image.mode) == ("TIFF", "I;16")
        np.testing.assert_array_equal(np.asarray(image), nearest(lr, 2) + 7)


def test_rgba_keeps_alpha_upsampled_beside_the_model(tmp_path: Path) -> None:
    rng = np.random.default_rng(1)
    rgba = rng.integers(0, 256, size=(4, 5, 4)).astype(np.uint8)
    rgba[3] = np.where(rgba[3] > 128, 255, 0)  # a hard transparency mask
    source = tmp_path / "logo.png"
    Image.fromarray(np.moveaxis(rgba, 0, -1)).save(source)
    resolve = FakeResolve(2, 0)

    out = super_resolve_photo(source, tmp_path / "sr.png", resolve, 2)

    assert resolve.shapes == [(3, 5, 4)]  # colour only
    with Image.open(out) as image:
        assert image.mode == "RGBA"
    np.testing.assert_array_equal(chw(out), nearest(rgba, 2))


def test_jpeg_stays_jpeg_with_icc_profile(tmp_path: Path) -> None:
    source = PHOTOS / "train" / "rocket.jpg"
    out = super_resolve_photo(source, tmp_path / "sr.jpeg", FakeResolve(2, 0), 2)

    lr, info = read_photo(source)
    sr, sr_info = read_photo(out)
    assert sr_info.format == "JPEG" and sr.dtype == np.uint8
    assert sr.shape == (3, 854, 1280)
    assert sr_info.icc_profile == info.icc_profile is not None
    # quality 95: the re-encoded pixels stay close to the exact result
    assert np.abs(sr.astype(int) - nearest(lr, 2)).mean() < 2


@pytest.mark.parametrize(
    ("array", "message"),
    [
        (np.full((6, 7), 40000, np.uint16), r"8-bit images only; write \.png or \.tif"),
        (np.zeros((6, 7, 4), np.uint8), r"no alpha channel; write \.png or \.tif"),
    ],
)
def test_target_that_cannot_hold_input_raises_output_error_and_writes_nothing(
    tmp_path: Path, array: np.ndarray, message: str
) -> None:
    source = tmp_path / "in.png"
    Image.fromarray(array).save(source)
    resolve = FakeResolve(2, 0)
    with pytest.raises(OutputError, match=message):
        super_resolve_photo(source, tmp_path / "out" / "sr.jpg", resolve, 2)
    assert resolve.shapes == [] and not (tmp_path / "out").exists()


def test_unreadable_photo_raises_data_error_naming_it(tmp_path: Path) -> None:
    source = tmp_path / "broken.png"
    source.write_bytes(b"not a png")
    with pytest.raises(DataError, match=str(source)):
        super_resolve_photo(source, tmp_path / "sr.png", FakeResolve(2, 0), 2)
    assert [p.name for p in tmp_path.iterdir()] == ["broken.png"]


def test_model_with_other_band_count_raises_data_error(tmp_path: Path) -> None:
    def grayscale_model(lr: np.ndarray) -> Any:
        return nearest(lr[:1], 2)

    with pytest.raises(DataError, match="returns 1 bands for 3-band input"):
        super_resolve_photo(
            PHOTOS / "val" / "chelsea_face.png", tmp_path / "sr.png", grayscale_model, 2
        )
    assert list(tmp_path.iterdir()) == []
