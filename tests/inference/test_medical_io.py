"""Super-resolving NIfTI volumes and DICOM files: sizes, geometry, stored dtypes, physical
values read back, metadata, and failures that leave nothing behind.

``resolve`` is a fake (nearest upsampling plus an offset), so every output value is known.
"""

from __future__ import annotations

from collections.abc import Callable
from pathlib import Path
from typing import Any

import numpy as np
import pytest

from ganlab.data.medical import read_dicom, read_nifti
from ganlab.data.paths import sample_root
from ganlab.errors import DataError, OutputError
from ganlab.inference.dicom import super_resolve_dicom
from ganlab.inference.medical import super_resolve_nifti, work_units

nibabel = pytest.importorskip("nibabel")
pydicom = pytest.importorskip("pydicom")

CT = sample_root() / "dicom" / "ct" / "CT_small.dcm"
MNI_VAL = sample_root() / "mni152" / "val" / "mni152_t1_axial_z062-110_step16.nii.gz"


def nearest(array: np.ndarray, scale: int) -> np.ndarray:
    return np.repeat(np.repeat(array, scale, axis=-2), scale, axis=-1)


class FakeResolve:
    """Nearest upsampling plus ``offset``; records the shapes and dtypes it is given."""

    def __init__(self, scale: int, offset: float) -> None:
        self.scale, self.offset = scale, offset
        self.calls: list[tuple[tuple[int, ...], np.dtype[Any]]] = []

    def __call__(self, lr: np.ndarray) -> np.ndarray:
        self.calls.append((lr.shape, lr.dtype))
        return (nearest(lr, self.scale) + self.offset).astype(np.float32)


def counter() -> tuple[list[int], Callable[[int], None]]:
    steps: list[int] = []
    return steps, steps.append


# ----------------------------------------------------------------------------- NIfTI


def oblique_affine() -> np.ndarray:
    """Spacings 0.8, 0.9, 2.5 mm, rotated 30 degrees about z, origin off zero."""
    angle = np.deg2rad(30)
    rotation = np.array(
        [[np.cos(angle), -np.sin(angle), 0], [np.sin(angle), np.cos(angle), 0], [0, 0, 1]]
    )
    affine = np.eye(4)
    affine[:3, :3] = rotation @ np.diag([0.8, 0.9, 2.5])
    affine[:3, 3] = [-20.0, 15.0, 7.5]
    return affine


def save_nifti(path: Path, data: np.ndarray, slope: float | None = None, inter: float = 0) -> Path:
    image = nibabel.Nifti1Image(data, None, dtype=data.dtype)
    image.header.set_qform(oblique_affine(), code=1)  # scanner
    image.header.set_sform(oblique_affine(), code=4)  # MNI
    if slope is not None:
        image.header.set_slope_inter(slope, inter)
    nibabel.save(image, path)
    return path


def test_nifti_int16_slices_resolved_rounded_and_kept_int16(tmp_path: Path) -> None:
    data = np.random.default_rng(0).integers(-500, 500, size=(4, 5, 3)).astype(np.int16)
    source = save_nifti(tmp_path / "ct.nii.gz", data)
    resolve = FakeResolve(2, 0.6)  # rounds up: each value comes back 1 higher
    steps, progress = counter()

    out = super_resolve_nifti(source, tmp_path / "sr.nii.gz", resolve, 2, progress=progress)

    image = nibabel.load(out)
    assert image.shape == (8, 10, 3)
    assert image.get_data_dtype() == np.int16
    np.testing.assert_array_equal(np.asanyarray(image.dataobj), nearest(data.T, 2).T + 1)
    assert [shape for shape, _ in resolve.calls] == [(1, 4, 5)] * 3
    assert all(dtype == np.float32 for _, dtype in resolve.calls)
    assert steps == [1, 1, 1]
    assert work_units(source) == 3
    assert sorted(p.name for p in tmp_path.iterdir()) == ["ct.nii.gz", "sr.nii.gz"]


def test_nifti_affine_divides_in_plane_spacing_and_shifts_half_voxel(tmp_path: Path) -> None:
    source = save_nifti(tmp_path / "in.nii", np.zeros((4, 5, 3), np.int16))
    out = nibabel.load(super_resolve_nifti(source, tmp_path / "sr.nii", FakeResolve(4, 0), 4))

    before = oblique_affine()
    for form in ("qform", "sform"):
        affine, code = getattr(out.header, f"get_{form}")(coded=True)
        assert code == {"qform": 1, "sform": 4}[form]
        np.testing.assert_allclose(affine[:3, :2], before[:3, :2] / 4, atol=1e-5)
        np.testing.assert_allclose(affine[:3, 2], before[:3, 2], atol=1e-5)  # through-plane
        for i, j, k in [(0, 0, 0), (3, 7, 1), (15, 19, 2)]:
            old = [(i + 0.5) / 4 - 0.5, (j + 0.5) / 4 - 0.5, k]
            np.testing.assert_allclose(
                nibabel.affines.apply_affine(affine, [i, j, k]),
                nibabel.affines.apply_affine(before, old),
                atol=1e-4,
            )
    np.testing.assert_allclose(out.header.get_zooms(), [0.2, 0.225, 2.5], rtol=1e-5)


def test_nifti_through_plane_axis_0_untouched(tmp_path: Path) -> None:
    data = np.arange(4 * 5 * 3, dtype=np.float32).reshape(4, 5, 3)
    source = save_nifti(tmp_path / "in.nii.gz", data)
    out = super_resolve_nifti(source, tmp_path / "sr.nii.gz", FakeResolve(2, 0.25), 2, axis=0)

    image = nibabel.load(out)
    assert image.shape == (4, 10, 6)
    assert image.get_data_dtype() == np.float32  # floats are not rounded
    for index in range(4):
        sr, _ = read_nifti(out, index, None, axis=0)
        np.testing.assert_allclose(sr[0], nearest(data[index], 2) + 0.25)
    np.testing.assert_allclose(image.affine[:3, 0], oblique_affine()[:3, 0], atol=1e-5)


def test_nifti_4d_volume_keeps_fourth_axis_as_bands(tmp_path: Path) -> None:
    data = np.random.default_rng(1).integers(0, 1000, size=(4, 5, 3, 2)).astype(np.uint16)
    source = save_nifti(tmp_path / "echoes.nii.gz", data)
    resolve = FakeResolve(2, 0)

    image = nibabel.load(super_resolve_nifti(source, tmp_path / "sr.nii.gz", resolve, 2))

    assert image.shape == (8, 10, 3, 2)
    assert image.get_data_dtype() == np.uint16
    assert [shape for shape, _ in resolve.calls] == [(2, 4, 5)] * 3
    for band in range(2):
        np.testing.assert_array_equal(
            np.asanyarray(image.dataobj)[..., 1, band], nearest(data[..., 1, band], 2)
        )


def test_nifti_scl_slope_output_reads_back_in_physical_units(tmp_path: Path) -> None:
    stored = np.random.default_rng(2).integers(-300, 300, size=(4, 5, 2)).astype(np.int16)
    source = save_nifti(tmp_path / "scaled.nii.gz", stored, slope=0.5, inter=-100)
    physical = np.asanyarray(nibabel.load(source).dataobj)
    np.testing.assert_allclose(physical, stored * 0.5 - 100)
    resolve = FakeResolve(2, 0.3)  # physical + 0.3 -> stored + 0.6 -> stored + 1

    image = nibabel.load(super_resolve_nifti(source, tmp_path / "sr.nii.gz", resolve, 2))

    assert image.get_data_dtype() == np.int16
    assert (image.dataobj.slope, image.dataobj.inter) == (0.5, -100)
    expected = np.stack([nearest(physical[..., k], 2) for k in range(2)], axis=-1) + 0.5
    np.testing.assert_allclose(image.get_fdata(), expected)


def test_nifti_uint8_sample_clips_at_255(tmp_path: Path) -> None:
    lr = nibabel.load(MNI_VAL)
    steps, progress = counter()
    out = super_resolve_nifti(MNI_VAL, tmp_path / "sr.nii.gz", FakeResolve(2, 100), 2, 2, progress)

    image = nibabel.load(out)
    assert image.shape == (394, 466, 4) and image.get_data_dtype() == np.uint8
    expected = np.minimum(nearest(np.asanyarray(lr.dataobj).T.astype(int), 2).T + 100, 255)
    np.testing.assert_array_equal(np.asanyarray(image.dataobj), expected)
    assert len(steps) == work_units(MNI_VAL, axis=2) == 4


def test_nifti_unreadable_raises_data_error_and_leaves_nothing(tmp_path: Path) -> None:
    source = tmp_path / "broken.nii.gz"
    source.write_bytes(b"not a volume")
    target = tmp_path / "out" / "sr.nii.gz"
    with pytest.raises(DataError, match=str(source)):
        super_resolve_nifti(source, target, FakeResolve(2, 0), 2)
    assert not target.parent.exists()


def test_nifti_target_must_be_named_nii(tmp_path: Path) -> None:
    with pytest.raises(OutputError, match=r"\.nii or \.nii\.gz"):
        super_resolve_nifti(MNI_VAL, tmp_path / "sr.png", FakeResolve(2, 0), 2)


# ----------------------------------------------------------------------------- DICOM


def save_dicom(dataset: Any, path: Path) -> Path:
    if int(pydicom.__version__.split(".")[0]) >= 3:
        dataset.save_as(path, enforce_file_format=True)
    else:
        dataset.save_as(path, write_like_original=False)
    return path


def test_dicom_ct_sizes_spacing_uid_and_stored_dtype(tmp_path: Path) -> None:
    before = pydicom.dcmread(CT)
    out = super_resolve_dicom(CT, tmp_path / "sr.dcm", FakeResolve(2, 0), 2)

    after = pydicom.dcmread(out)
    assert (after.Rows, after.Columns) == (256, 256)
    np.testing.assert_allclose([float(s) for s in after.PixelSpacing], [0.661468 / 2] * 2)
    assert after.SOPInstanceUID != before.SOPInstanceUID
    assert after.file_meta.MediaStorageSOPInstanceUID == after.SOPInstanceUID
    assert (after.BitsAllocated, after.PixelRepresentation) == (16, 1)
    assert after.pixel_array.dtype == np.int16
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert list(after.ImageType) == ["DERIVED", "PRIMARY", "AXIAL"]
    assert after.DerivationDescription == "super-resolved x2 by OpenSR GAN Lab"
    for keyword in ("PatientID", "StudyInstanceUID", "SeriesInstanceUID", "RescaleIntercept"):
        assert after[keyword].value == before[keyword].value
    assert after[0x0009, 0x1001].value == before[0x0009, 0x1001].value  # private tags too


def test_dicom_output_reads_back_as_resolved_hounsfield_units(tmp_path: Path) -> None:
    hu, _ = read_dicom(CT)
    assert pydicom.dcmread(CT).RescaleIntercept == -1024
    resolve = FakeResolve(2, 0.6)  # rounded: each value comes back 1 HU higher

    sr, meta = read_dicom(super_resolve_dicom(CT, tmp_path / "sr.dcm", resolve, 2))

    assert meta["units"] == "HU"
    np.testing.assert_array_equal(sr, nearest(hu, 2) + 1)
    assert resolve.calls == [((1, 128, 128), np.dtype(np.float32))]


def test_dicom_image_position_moves_to_new_first_pixel_centre(tmp_path: Path) -> None:
    before = pydicom.dcmread(CT)
    after = pydicom.dcmread(super_resolve_dicom(CT, tmp_path / "sr.dcm", FakeResolve(4, 0), 4))

    orientation = np.array([float(v) for v in before.ImageOrientationPatient])
    row_spacing, column_spacing = (float(v) for v in before.PixelSpacing)
    shift = 0.5 / 4 - 0.5
    expected = np.array([float(v) for v in before.ImagePositionPatient]) + shift * (
        orientation[:3] * column_spacing + orientation[3:] * row_spacing
    )
    np.testing.assert_allclose([float(v) for v in after.ImagePositionPatient], expected, atol=1e-5)


def test_dicom_multiframe_compressed_input_gives_uncompressed_frames(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(CT)
    if not hasattr(dataset, "compress"):
        pytest.skip("RLE encoding needs pydicom 3")
    frames = np.stack([dataset.pixel_array + 10 * k for k in range(3)]).astype(np.int16)
    dataset.NumberOfFrames = 3
    dataset.PixelData = frames.tobytes()
    dataset.compress(pydicom.uid.RLELossless, frames)
    source = save_dicom(dataset, tmp_path / "multi.dcm")
    steps, progress = counter()

    out = super_resolve_dicom(source, tmp_path / "sr.dcm", FakeResolve(3, 0), 3, progress)

    after = pydicom.dcmread(out)
    assert after.file_meta.TransferSyntaxUID == pydicom.uid.ExplicitVRLittleEndian
    assert int(after.NumberOfFrames) == 3 and (after.Rows, after.Columns) == (384, 384)
    np.testing.assert_array_equal(after.pixel_array, nearest(frames, 3))
    for index in range(3):
        sr, _ = read_dicom(out, index)
        np.testing.assert_array_equal(sr[0], nearest(frames[index].astype(np.int32) - 1024, 3))
    assert len(steps) == work_units(source) == 3


def test_dicom_rgb_keeps_three_samples_interleaved_and_clips_to_uint8(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(CT)
    rgb = np.random.default_rng(3).integers(0, 256, size=(3, 128, 128)).astype(np.uint8)
    del dataset.RescaleIntercept, dataset.RescaleSlope, dataset.PixelPaddingValue
    dataset.SamplesPerPixel, dataset.PhotometricInterpretation = 3, "RGB"
    dataset.PlanarConfiguration = 1  # colour-by-plane input; the output is interleaved
    dataset.BitsAllocated, dataset.BitsStored, dataset.HighBit = 8, 8, 7
    dataset.PixelRepresentation = 0
    dataset.PixelData = rgb.tobytes()
    dataset["PixelData"].VR = "OB"
    source = save_dicom(dataset, tmp_path / "rgb.dcm")

    after = pydicom.dcmread(super_resolve_dicom(source, tmp_path / "sr.dcm", FakeResolve(2, 40), 2))

    assert (after.SamplesPerPixel, after.PhotometricInterpretation) == (3, "RGB")
    assert after.PlanarConfiguration == 0
    expected = np.minimum(nearest(rgb.astype(int), 2) + 40, 255)
    np.testing.assert_array_equal(np.moveaxis(after.pixel_array, -1, 0), expected)


def test_dicom_values_clip_to_bits_stored(tmp_path: Path) -> None:
    dataset = pydicom.dcmread(CT)
    dataset.BitsStored, dataset.HighBit = 12, 11  # stored range -2048..2047
    dataset.PixelData = np.clip(dataset.pixel_array, -2048, 2047).astype(np.int16).tobytes()
    source = save_dicom(dataset, tmp_path / "ct12.dcm")

    sr, _ = read_dicom(super_resolve_dicom(source, tmp_path / "sr.dcm", FakeResolve(2, 3000), 2))

    assert sr.max() == 2047 - 1024


def test_dicom_unreadable_raises_data_error_naming_it_and_writes_nothing(tmp_path: Path) -> None:
    source = tmp_path / "scan.dcm"
    source.write_bytes(b"\0" * 200)
    target = tmp_path / "out" / "sr.dcm"
    resolve = FakeResolve(2, 0)
    with pytest.raises(DataError, match=str(source)):
        super_resolve_dicom(source, target, resolve, 2)
    assert not target.parent.exists() and resolve.calls == []
    with pytest.raises(DataError, match=str(source)):
        work_units(source)


def test_dicom_failure_while_writing_leaves_no_partial_file(tmp_path: Path) -> None:
    target = tmp_path / "sr.dcm"

    def failing(lr: np.ndarray) -> np.ndarray:
        raise RuntimeError("model crashed")

    with pytest.raises(RuntimeError, match="model crashed"):
        super_resolve_dicom(CT, target, failing, 2)
    target.mkdir()  # a folder where the file should go: the rename fails
    with pytest.raises(OutputError, match=str(target)):
        super_resolve_dicom(CT, target, FakeResolve(2, 0), 2)
    assert [p.name for p in tmp_path.iterdir()] == ["sr.dcm"]
