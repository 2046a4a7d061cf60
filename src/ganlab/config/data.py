"""The `Data` section: datasets, crops, loaders and the degradation that makes LR inputs."""

from __future__ import annotations

import difflib
import math
from typing import Any, Literal

from pydantic import Field, field_validator, model_validator

from ganlab.config.base import Section
from ganlab.config.normalization import NormalizationConfig

BandSelection = list[int | str]


def mtf_to_sigma(mtf_nyquist: float, scale: int) -> float:
    """Gaussian PSF sigma (HR pixels) whose MTF equals ``mtf_nyquist`` at the LR Nyquist.

    A Gaussian PSF of standard deviation sigma has ``MTF(f) = exp(-2 pi^2 sigma^2 f^2)``; the
    LR Nyquist frequency is ``1 / (2 scale)`` cycles per HR pixel, so
    ``sigma = scale / pi * sqrt(-2 ln(mtf))``.

    Args:
        mtf_nyquist: MTF value at the LR Nyquist frequency, in (0, 1).
        scale: Downsampling factor.

    Example:
        >>> round(mtf_to_sigma(0.3, 4), 3)
        1.976
    """
    if not 0 < mtf_nyquist < 1:
        raise ValueError(f"mtf_nyquist must be in (0, 1), got {mtf_nyquist}")
    return scale / math.pi * math.sqrt(-2.0 * math.log(mtf_nyquist))


class DegradationConfig(Section):
    """Blur, noise and quantisation that make the LR input of `degrade` and `raster_chips`.

    Order: blur, downsampling (`Data.downsample`), Poisson noise, Gaussian noise, quantisation.

    Training draws random values from ranges; validation draws them from a fixed seed per item,
    so validation inputs are identical in every epoch.
    """

    blur_sigma: float | tuple[float, float] = Field(
        0.0,
        description="Gaussian blur before downsampling: sigma in high-resolution pixels, or a "
        "[min, max] range drawn per item. 0 = no blur.",
    )
    mtf_nyquist: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="Sensor MTF at the low-resolution Nyquist frequency (e.g. 0.3); sets the "
        "Gaussian blur sigma = scale / pi x sqrt(-2 ln mtf) in high-resolution pixels. "
        "Replaces `blur_sigma`.",
    )
    noise_std: float | tuple[float, float] = Field(
        0.0,
        description="Additive Gaussian noise on the low-resolution image: standard deviation in "
        "physical units, or a [min, max] range. 0 = none.",
    )
    poisson_gain: float | None = Field(
        None,
        gt=0,
        description="Signal-dependent (shot) noise: the low-resolution value x becomes "
        "Poisson(x * gain) / gain (gain = counts per physical unit; larger = less noise). "
        "Negative values are treated as 0 for the noise draw. Null = none.",
    )
    quantize: bool = Field(
        False,
        description="Round the low-resolution image and clip it to the range of the source "
        "file's integer dtype (e.g. uint16); float sources are left as they are.",
    )

    @field_validator("blur_sigma", "noise_std")
    @classmethod
    def _non_negative_range(cls, value: float | tuple[float, float]) -> float | tuple[float, float]:
        low, high = (value, value) if isinstance(value, float | int) else value
        if low < 0 or high < low:
            raise ValueError(
                f"expected a value >= 0 or a range [min, max] with 0 <= min <= max, found {value}"
            )
        return value

    def operator_sigma(self, scale: int) -> float:
        """The blur sigma (HR pixels) of the deterministic HR -> LR operator at ``scale``: from
        ``mtf_nyquist`` when set, else ``blur_sigma`` (the middle of a range)."""
        if self.mtf_nyquist is not None:
            return mtf_to_sigma(self.mtf_nyquist, scale)
        if isinstance(self.blur_sigma, float | int):
            return float(self.blur_sigma)
        return sum(self.blur_sigma) / 2


DATASET_NAMES = ("degrade", "paired", "raster_chips")


class DataConfig(Section):
    """Where the images come from and how training/validation samples are made."""

    dataset: str = Field(
        "degrade",
        description="degrade: high-resolution images only; the low-resolution input is made by "
        "degrading each image (`degradation`, `downsample`) by `Generator.scaling_factor`. "
        "paired: LR and HR files matched by name (`train_lr_dir`/`train_dir`, or a manifest). "
        "raster_chips: windows read from large GeoTIFFs (needs the `geo` extra), degraded like "
        "`degrade`. Or `package.module:Class` (see docs/data.md).",
    )
    train_dir: str | None = Field(
        None,
        description="Folder of training images (.npy, .npz, .png, .jpg, .tif, .dcm, .nii, "
        ".nii.gz); for paired, the high-resolution ones. `sample://landsat8/train` is the bundled "
        "sample set. Relative paths are taken from the current directory.",
    )
    val_dir: str | None = Field(
        None,
        description="Folder of validation images (paired: high-resolution); "
        "`sample://landsat8/val` is bundled. Null with `val_fraction` splits the training set.",
    )
    train_lr_dir: str | None = Field(
        None, description="paired: folder of low-resolution training images (same file stems)."
    )
    val_lr_dir: str | None = Field(
        None, description="paired: folder of low-resolution validation images."
    )
    train_manifest: str | None = Field(
        None,
        description="paired: CSV (columns lr, hr) or JSON (list of {lr, hr}) listing training "
        "pairs, instead of the folders; relative paths are taken from the manifest's folder.",
    )
    val_manifest: str | None = Field(None, description="paired: manifest of validation pairs.")
    val_fraction: float | None = Field(
        None,
        gt=0,
        lt=1,
        description="With no validation folder or manifest: fraction of the training files (or "
        "pairs) held out for validation, chosen with `seed`.",
    )
    seed: int | None = Field(
        None,
        description="Seed of the train/val split, the shuffling order and the fixed validation "
        "degradations; null uses `Training.seed`.",
    )
    bands: BandSelection | None = Field(
        None,
        description="Bands to read, by 0-based index or by name (GeoTIFF band descriptions, "
        ".npz array names), e.g. [B04, B03, B02, B08]; null reads all. paired: the "
        "high-resolution bands.",
    )
    lr_bands: BandSelection | None = Field(
        None, description="paired: bands of the low-resolution files; null uses `bands`."
    )
    slice_axis: Literal[0, 1, 2] = Field(
        2,
        description="NIfTI volumes: the axis along which 2-D slices are taken (each slice is one "
        "image; a 4th axis becomes bands).",
    )
    hr_patch_size: int = Field(
        128,
        gt=0,
        description="Side of the random high-resolution training crop, in pixels; a multiple of "
        "`Generator.scaling_factor`.",
    )
    val_patch_size: int | None = Field(
        None,
        gt=0,
        description="Side of the centre crop used for validation; null validates whole images "
        "(raster_chips: the validation window side; null uses `hr_patch_size`).",
    )
    downsample: Literal["area", "bicubic"] = Field(
        "area",
        description="How the low-resolution input is made: area (pixel-block mean, like a sensor "
        "footprint) or antialiased bicubic.",
    )
    degradation: DegradationConfig = Field(
        default_factory=DegradationConfig,
        description="Blur, noise and quantisation of the degrade and raster_chips datasets.",
    )
    augment: bool = Field(
        True, description="Random flips and 90-degree rotations of training crops (both branches)."
    )
    repeats: int = Field(
        1,
        ge=1,
        description="Random crops taken from each training image (raster_chips: random windows "
        "from each raster) per epoch.",
    )
    chip_sampling: Literal["random", "grid"] = Field(
        "random",
        description="raster_chips, training: random windows (`repeats` per raster per epoch) or "
        "the regular grid; validation always uses the grid.",
    )
    chip_stride: int | None = Field(
        None,
        gt=0,
        description="raster_chips: grid step in high-resolution pixels; null = the window side "
        "(no overlap).",
    )
    max_nodata_fraction: float = Field(
        0.0,
        ge=0,
        le=1,
        description="raster_chips: skip windows with more than this fraction of nodata pixels.",
    )
    raster_cache_mb: int = Field(
        64,
        ge=1,
        description="raster_chips: GDAL block cache per process (MB) while reading windows, so "
        "memory does not grow with the raster.",
    )
    batch_size: int = Field(8, ge=1, description="Training batch size per device.")
    val_batch_size: int = Field(1, ge=1, description="Validation batch size per device.")
    num_workers: int = Field(0, ge=0, description="DataLoader worker processes.")
    persistent_workers: bool = Field(
        False, description="Keep worker processes alive between epochs (needs num_workers > 0)."
    )
    pin_memory: bool = Field(
        False, description="Page-locked batches for faster host-to-GPU copies."
    )
    prefetch_factor: int | None = Field(
        None,
        ge=1,
        description="Batches each worker loads in advance; null uses PyTorch's default "
        "(needs num_workers > 0).",
    )
    on_bad_sample: Literal["error", "skip"] = Field(
        "error",
        description="A file that cannot be used (unreadable, wrong band count or size, NaN): "
        "error stops with the file and the reason; skip logs it once and leaves it out.",
    )
    max_bad_fraction: float = Field(
        0.05,
        ge=0,
        le=1,
        description="skip: fail when more than this fraction of a split's files are bad.",
    )
    preflight: Literal["full", "headers", "none"] = Field(
        "full",
        description="Checks before training: full reads every file (band count, sizes, NaN); "
        "headers reads metadata only (band count, sizes); none checks when items are loaded. "
        "raster_chips checks headers (and nodata per window) in either case.",
    )
    normalization: NormalizationConfig = Field(
        default_factory=NormalizationConfig,
        description="Normaliser for both branches (or per branch with `lr` / `hr`).",
    )

    @field_validator("dataset")
    @classmethod
    def _known_dataset(cls, value: str) -> str:
        if value in DATASET_NAMES or ":" in value:
            return value
        close = difflib.get_close_matches(value, DATASET_NAMES, n=1)
        hint = f"; did you mean {close[0]!r}?" if close else ""
        raise ValueError(
            f"unknown dataset {value!r}{hint} Use one of {', '.join(DATASET_NAMES)} or "
            "'package.module:Class'"
        )

    @field_validator("preflight", mode="before")
    @classmethod
    def _yaml_off_is_none(cls, value: Any) -> Any:
        return "none" if value is False else value  # YAML reads `off` / `no` as false

    @model_validator(mode="after")
    def _check_loader_options(self) -> DataConfig:
        if self.num_workers == 0:
            for name in ("persistent_workers", "prefetch_factor"):
                if getattr(self, name):
                    raise ValueError(f"`{name}` needs num_workers > 0; set num_workers or unset it")
        return self
