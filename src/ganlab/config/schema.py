"""The configuration schema: every section, key, type, default and description.

These pydantic models are the single source of truth for the YAML interface. The configuration
reference (``docs/configuration.md``) is generated from them by ``ganlab config reference``.
Unknown keys are rejected (``extra="forbid"``); see :mod:`ganlab.config.load` for the messages.
"""

from __future__ import annotations

import difflib
import logging
from typing import Any, Literal

from pydantic import BaseModel, ConfigDict, Field, field_validator, model_validator

log = logging.getLogger(__name__)


class Section(BaseModel):
    """Base of every config section: unknown keys are errors, assignments are validated."""

    model_config = ConfigDict(extra="forbid", validate_assignment=True)


# --------------------------------------------------------------------------------------- Data

DTYPE_MAXIMA = {"uint8": 255.0, "uint10": 1023.0, "uint12": 4095.0, "uint14": 16383.0,
                "uint16": 65535.0, "int16": 32767.0}  # fmt: skip
"""``zero_one`` with ``max_value: <dtype name>``: the value mapped to 1."""

BandSelection = list[int | str]


class BranchNormalizationConfig(Section):
    """One normaliser: how physical values map to network values, per band.

    Every type is an exact affine inverse (``custom`` is as exact as its pair of functions);
    with `clip` the values outside the range are clipped and so do not come back exactly.
    """

    type: Literal["identity", "zero_one", "reflectance", "percentile", "mean_std", "custom"] = (
        Field(
            "identity",
            description="identity: values used as they are; zero_one: divide by `max_value`; "
            "reflectance: (x + `reflectance_offset`) / `reflectance_scale` (Sentinel-2/Landsat "
            "surface reflectance); percentile: map per-band `low`..`high` to 0..1; mean_std: "
            "per-band (x - `mean`) / `std`; custom: the functions `function` and `inverse`.",
        )
    )
    signed: bool = Field(
        False,
        description="zero_one, reflectance, percentile: map to -1..1 instead of 0..1 "
        "(for generators ending in tanh).",
    )
    clip: bool = Field(
        False,
        description="zero_one, reflectance, percentile: clip normalised values to the target "
        "range (0..1 or -1..1); values outside then do not invert exactly.",
    )
    max_value: float | Literal["uint8", "uint10", "uint12", "uint14", "uint16", "int16"] | None = (
        Field(
            None,
            description="zero_one: the value mapped to 1 (e.g. 255, 10000), or a dtype name "
            "whose maximum is used (uint8, uint10, uint12, uint14, uint16, int16).",
        )
    )
    reflectance_scale: float = Field(
        10000.0, gt=0, description="reflectance: quantification value (10000 for Sentinel-2 L2A)."
    )
    reflectance_offset: float = Field(
        0.0,
        description="reflectance: added before scaling (Sentinel-2 processing baseline >= 04.00: "
        "BOA_ADD_OFFSET = -1000).",
    )
    low: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 0 (e.g. the 1st percentile)."
    )
    high: list[float] | None = Field(
        None, description="percentile: per-band value mapped to 1 (e.g. the 99th percentile)."
    )
    mean: list[float] | None = Field(None, description="mean_std: per-band mean.")
    std: list[float] | None = Field(None, description="mean_std: per-band standard deviation.")
    function: str | None = Field(
        None,
        description="custom: `package.module:function` mapping a physical `[B, C, H, W]` tensor "
        "to network values.",
    )
    inverse: str | None = Field(
        None, description="custom: `package.module:function`, the exact inverse of `function`."
    )

    @property
    def max_value_number(self) -> float | None:
        """``max_value`` as a number (dtype names resolved)."""
        if isinstance(self.max_value, str):
            return DTYPE_MAXIMA[self.max_value]
        return self.max_value

    @property
    def per_band_lists(self) -> dict[str, list[float]]:
        """The per-band lists this type uses (name -> values), for band-count checks."""
        names = {"percentile": ("low", "high"), "mean_std": ("mean", "std")}.get(self.type, ())
        return {name: getattr(self, name) for name in names if getattr(self, name) is not None}

    @model_validator(mode="after")
    def _check_parameters(self) -> BranchNormalizationConfig:
        kind = self.type
        if kind == "zero_one" and self.max_value is None:
            raise ValueError("type zero_one needs `max_value` (e.g. 255 for 8-bit images)")
        if isinstance(self.max_value, float | int) and self.max_value <= 0:
            raise ValueError(f"`max_value` must be > 0, found {self.max_value}")
        if kind == "percentile":
            _check_pair_lists(self.low, self.high, "low", "high", "percentile")
            assert self.low is not None and self.high is not None
            bad = [
                i for i, (lo, hi) in enumerate(zip(self.low, self.high, strict=True)) if hi <= lo
            ]
            if bad:
                raise ValueError(
                    f"`high` must be greater than `low` for every band; not for bands {bad}"
                )
        if kind == "mean_std":
            _check_pair_lists(self.mean, self.std, "mean", "std", "mean_std")
            assert self.std is not None
            bad = [i for i, value in enumerate(self.std) if value <= 0]
            if bad:
                raise ValueError(f"`std` must be > 0 for every band; not for bands {bad}")
        if kind == "custom":
            for name in ("function", "inverse"):
                value = getattr(self, name)
                if value is None or ":" not in value:
                    raise ValueError(
                        f"type custom needs `{name}` as 'package.module:function' (found {value!r})"
                    )
        if (self.signed or self.clip) and kind not in ("zero_one", "reflectance", "percentile"):
            raise ValueError(
                f"`signed` and `clip` apply to zero_one, reflectance and percentile, not to "
                f"type {kind}"
            )
        return self


def _check_pair_lists(
    first: list[float] | None, second: list[float] | None, a: str, b: str, kind: str
) -> None:
    if first is None or second is None:
        raise ValueError(f"type {kind} needs per-band `{a}` and `{b}` lists")
    if len(first) != len(second):
        raise ValueError(
            f"`{a}` has {len(first)} values but `{b}` has {len(second)}; "
            "give one value per band in both"
        )


class NormalizationConfig(BranchNormalizationConfig):
    """How raw (physical) values are mapped to network values, per band and per branch.

    The keys at this level describe one normaliser for both branches; `lr` and `hr` override it
    for one branch (different sensors or statistics). The module applies them on device and
    inverts them exactly for outputs, panels and metrics. `ganlab data stats` computes the
    statistics.
    """

    lr: BranchNormalizationConfig | None = Field(
        None, description="Normaliser of the low-resolution input; null uses the keys above."
    )
    hr: BranchNormalizationConfig | None = Field(
        None,
        description="Normaliser of the high-resolution target (and of the output); null uses "
        "the keys above.",
    )

    def branch(self, name: Literal["lr", "hr"]) -> BranchNormalizationConfig:
        """The normaliser spec of one branch (``lr`` or ``hr``)."""
        override = self.lr if name == "lr" else self.hr
        if override is not None:
            return override
        fields = set(BranchNormalizationConfig.model_fields)
        return BranchNormalizationConfig(**{key: getattr(self, key) for key in fields})

    @property
    def per_branch(self) -> bool:
        """Whether `lr` or `hr` overrides the shared spec."""
        return self.lr is not None or self.hr is not None


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


# -------------------------------------------------------------------------------------- Models


class ModelConfig(Section):
    """What the networks see: band counts shared by generator and discriminator."""

    in_bands: int = Field(3, ge=1, description="Bands of the low-resolution input.")
    out_bands: int | None = Field(
        None, ge=1, description="Bands of the super-resolved output; null means `in_bands`."
    )

    continue_training: str | Literal[False] = Field(
        False,
        description="Resume a run with everything (weights, optimisers, schedules, EMA, step "
        "counter, phase, logger steps): a `.ckpt` path, `last` (the run folder's "
        "`checkpoints/last.ckpt`), or false.",
    )
    load_checkpoint: str | None = Field(
        None,
        description="Start from these weights only (a `.ckpt`: generator and, if present, "
        "discriminator; or a generator `.safetensors` export); optimisers and counters start "
        "fresh.",
    )

    @field_validator("continue_training", mode="before")
    @classmethod
    def _continue_training_value(cls, value: Any) -> Any:
        if value is None:
            return False
        if value is True:
            raise ValueError("give a checkpoint path or `last` (true is ambiguous)")
        return value

    @model_validator(mode="after")
    def _one_start_point(self) -> ModelConfig:
        if self.continue_training and self.load_checkpoint:
            raise ValueError(
                "set continue_training (resume everything) or load_checkpoint (weights only), "
                "not both"
            )
        return self

    @property
    def output_bands(self) -> int:
        """Output band count with the default applied."""
        return self.out_bands if self.out_bands is not None else self.in_bands


class GeneratorConfig(Section):
    """The super-resolution network."""

    model_type: str = Field(
        "srresnet",
        description="Registered generator (srresnet, rcab, rrdb, lka, swinir; `ganlab models "
        "list` describes them), or `package.module:Name`.",
    )
    scaling_factor: Literal[2, 3, 4, 8] = Field(4, description="Upscaling factor.")
    n_channels: int = Field(
        64, ge=1, description="Feature channels in the body (swinir: the embedding width)."
    )
    n_blocks: int = Field(
        16,
        ge=1,
        description="Blocks in the body: residual blocks (srresnet, rcab), RRDBs (rrdb), "
        "attention blocks (lka), transformer layers (swinir).",
    )
    large_kernel_size: int = Field(9, ge=1, description="Kernel of the first and last conv.")
    small_kernel_size: int = Field(
        3, ge=1, description="Kernel of the convs inside the body and the upsampler."
    )
    block_type: Literal["standard", "res"] = Field(
        "res",
        description="standard: SRGAN blocks with batch norm; res: without normalisation "
        "(EDSR-style, usually better for SR).",
    )
    global_skip: Literal["bicubic", "nearest", "none"] = Field(
        "bicubic",
        description="Add the interpolated input to the output, so the network learns a residual "
        "and an untrained network starts at interpolation quality. Needs out_bands == in_bands.",
    )
    zero_init_last: bool = Field(
        True,
        description="Zero-initialise the last conv, so with a global skip the untrained output "
        "equals the interpolated input exactly.",
    )
    upsampling: Literal["pixelshuffle", "nearest_conv"] = Field(
        "pixelshuffle",
        description="pixelshuffle: conv + pixel shuffle (x2 stages, one x3 stage); nearest_conv: "
        "nearest-neighbour interpolation + conv per stage (no checkerboard artefacts).",
    )
    res_scale: float | None = Field(
        None,
        gt=0,
        description="Factor on every residual branch before it is added; null uses the "
        "family's default (rrdb 0.2, others 1.0). Not used by swinir.",
    )
    growth_channels: int = Field(
        32, ge=1, description="rrdb: channels each conv of a dense block adds."
    )
    blocks_per_group: int = Field(
        4,
        ge=1,
        description="rcab, swinir: blocks per residual group (a group ends with a conv and "
        "has its own skip).",
    )
    reduction: int = Field(
        16, ge=1, description="rcab: channel-attention reduction (hidden = n_channels / reduction)."
    )
    window_size: int = Field(
        8,
        ge=1,
        description="swinir: attention window side; inputs of other sizes are padded to a "
        "multiple of it and cropped back.",
    )
    n_heads: int = Field(4, ge=1, description="swinir: attention heads (must divide n_channels).")
    mlp_ratio: float = Field(
        2.0, gt=0, description="swinir: hidden width of the MLP as a multiple of n_channels."
    )

    @field_validator("scaling_factor", mode="before")
    @classmethod
    def _int_scale(cls, value: Any) -> Any:
        if isinstance(value, str) and value.strip().isdigit():
            return int(value)
        return value

    @model_validator(mode="after")
    def _check_family(self) -> GeneratorConfig:
        if self.model_type == "swinir" and self.n_channels % self.n_heads:
            raise ValueError(
                f"swinir: n_heads ({self.n_heads}) must divide n_channels ({self.n_channels})"
            )
        return self


class DiscriminatorConfig(Section):
    """The network that tells real high-resolution images from generated ones."""

    model_type: str = Field(
        "srgan",
        description="Registered discriminator (srgan, patchgan, unet; `ganlab models list` "
        "describes them), or `package.module:Name`.",
    )
    n_channels: int = Field(64, ge=1, description="Channels of the first conv layer.")
    n_blocks: int | None = Field(
        None,
        ge=1,
        description="Depth; null uses the family's default. srgan: conv layers (default 8; "
        "channels double and resolution halves every second layer); patchgan: stride-2 layers "
        "(default 3, the 70x70 PatchGAN); unet: down/up-sampling levels (default 3).",
    )
    max_channels: int = Field(512, ge=1, description="Upper bound on conv channels.")
    fc_size: int = Field(
        1024, ge=1, description="srgan: width of the hidden fully connected layer."
    )
    norm: Literal["batch", "instance", "none"] | None = Field(
        None,
        description="Normalisation after the convs (all but the first); null uses the "
        "family's default (srgan and patchgan batch, unet none).",
    )
    spectral_norm: bool | None = Field(
        None,
        description="Spectral normalisation of the conv and linear weights (all but the first "
        "and last layer for unet); null uses the family's default (unet on, others off).",
    )


# ------------------------------------------------------------------------------------ Training


class PerceptualConfig(Section):
    """VGG19 perceptual loss settings (used when `perceptual_weight` > 0)."""

    weights_path: str | None = Field(
        None,
        description="torchvision-layout VGG19 ImageNet weights (vgg19-dcbbb4b3.pth); null looks "
        "in the torch hub cache (<torch hub dir>/checkpoints/). Never downloaded.",
    )
    layers: list[str] = Field(
        default_factory=lambda: ["relu1_2", "relu2_2", "relu3_4", "relu4_4", "relu5_4"],
        min_length=1,
        description="VGG19 layers compared (relu1_1..relu5_4, conv1_1..conv5_4, pool1..pool5).",
    )
    layer_weights: list[float] | None = Field(
        None, description="Weight per layer (same order); null weighs all layers 1."
    )
    bands: list[int] | None = Field(
        None,
        description="Bands fed to VGG as R, G, B (3 indices, or 1 repeated); null takes bands "
        "0-2 (band 0 for single-band data).",
    )
    criterion: Literal["l1", "mse"] = Field("l1", description="Distance between feature maps.")
    imagenet_normalize: bool = Field(
        True, description="Standardise the 0..1 inputs with ImageNet mean/std before VGG."
    )

    @model_validator(mode="after")
    def _check_lengths(self) -> PerceptualConfig:
        if self.layer_weights is not None and len(self.layer_weights) != len(self.layers):
            raise ValueError(
                f"layer_weights has {len(self.layer_weights)} values for {len(self.layers)} layers"
            )
        if self.bands is not None and len(self.bands) not in (1, 3):
            raise ValueError(f"bands {self.bands}: give 3 band indices (R, G, B) or 1")
        return self


CONTENT_WEIGHT_KEYS = (
    "l1", "mse", "charbonnier", "ssim", "ms_ssim", "sam", "perceptual", "tv", "fft", "gradient",
)  # fmt: skip


class LossesConfig(Section):
    """Weights of the generator's loss terms and the adversarial formulation."""

    l1_weight: float = Field(1.0, ge=0, description="L1 (mean absolute error).")
    mse_weight: float = Field(0.0, ge=0, description="Mean squared error.")
    charbonnier_weight: float = Field(0.0, ge=0, description="Charbonnier (smooth L1).")
    charbonnier_eps: float = Field(1e-3, gt=0, description="Charbonnier epsilon.")
    ssim_weight: float = Field(0.0, ge=0, description="1 - SSIM (all bands, data range 1).")
    ms_ssim_weight: float = Field(0.0, ge=0, description="1 - multi-scale SSIM.")
    ssim_window_size: int = Field(11, ge=3, description="SSIM/MS-SSIM Gaussian window side.")
    ssim_sigma: float = Field(1.5, gt=0, description="SSIM/MS-SSIM Gaussian sigma.")
    ms_ssim_scales: int = Field(
        5, ge=1, le=5, description="MS-SSIM scales; crops need window x 2^(scales-1) pixels."
    )
    sam_weight: float = Field(
        0.0, ge=0, description="Spectral angle (radians) between band vectors."
    )
    perceptual_weight: float = Field(0.0, ge=0, description="VGG19 feature distance.")
    perceptual: PerceptualConfig = Field(
        default_factory=PerceptualConfig, description="Perceptual loss settings."
    )
    tv_weight: float = Field(0.0, ge=0, description="Total variation of SR (a smoothness prior).")
    fft_weight: float = Field(0.0, ge=0, description="L1 between Fourier amplitudes (sharpness).")
    gradient_weight: float = Field(0.0, ge=0, description="L1 between image gradients.")
    adv_loss_type: Literal["vanilla", "lsgan", "hinge", "wgan_gp", "relativistic"] = Field(
        "vanilla",
        description="Adversarial formulation: vanilla (non-saturating BCE), lsgan, hinge, "
        "wgan_gp (Wasserstein + gradient penalty), relativistic (relativistic average, ESRGAN).",
    )
    adv_loss_beta: float = Field(
        1e-3, ge=0, description="Final weight of the generator's adversarial term."
    )
    gp_weight: float = Field(10.0, ge=0, description="wgan_gp: gradient-penalty weight.")
    r1_weight: float = Field(
        0.0, ge=0, description="R1 penalty weight gamma on real images (gamma/2 x E|grad D|^2)."
    )
    r1_interval: int = Field(
        1, ge=1, description="Apply R1 every N discriminator updates (scaled by N)."
    )
    feature_matching_weight: float = Field(
        0.0,
        ge=0,
        description="L1 between discriminator features of SR and HR, averaged over layers "
        "(ramped like the adversarial weight).",
    )

    @model_validator(mode="after")
    def _some_content_term(self) -> LossesConfig:
        if all(getattr(self, f"{name}_weight") == 0 for name in CONTENT_WEIGHT_KEYS):
            raise ValueError(
                "all content weights are 0; set at least one of "
                + ", ".join(f"{name}_weight" for name in CONTENT_WEIGHT_KEYS)
            )
        return self


class EMAConfig(Section):
    """Exponential moving average (EMA) of the generator's weights and buffers."""

    enabled: bool = Field(
        False,
        description="Keep an EMA copy of the generator; validation, test and prediction use it.",
    )
    decay: float = Field(0.999, gt=0, lt=1, description="EMA decay d: ema = d ema + (1 - d) w.")
    update_after_step: int = Field(
        0,
        ge=0,
        description="First generator step (own counter) that averages; before it the EMA "
        "copies the live weights after every step.",
    )
    update_every: int = Field(1, ge=1, description="Update the EMA every N generator steps.")
    use_warmup: bool = Field(
        False,
        description="Use decay min(decay, (1 + n) / (10 + n)) for the n-th update, so early "
        "averages are not dominated by the initial weights.",
    )
    device: str | None = Field(
        None,
        description="Device of the EMA copy (e.g. cpu to save GPU memory); null follows the model.",
    )


class DDPConfig(Section):
    """Options of the `ddp` strategy (distributed data parallel)."""

    find_unused_parameters: bool = Field(
        True,
        description="Let DDP detect parameters without gradients in a step. Needed for GANs: "
        "generator and discriminator take turns, so one of them gets no gradient in some steps.",
    )
    static_graph: bool = Field(
        False,
        description="Tell DDP the set of used parameters never changes between steps (faster; "
        "only valid when the discriminator is updated on every step from the first step).",
    )
    process_group_backend: Literal["nccl", "gloo", "mpi"] | None = Field(
        None, description="Communication backend; null: nccl on CUDA GPUs, gloo otherwise."
    )


class FSDPConfig(Section):
    """Options of the `fsdp` strategy (FSDP2 `fully_shard` through Lightning's
    ModelParallelStrategy)."""

    auto_wrap: list[str] = Field(
        default_factory=list,
        description="Module classes sharded as units of their own, by class name "
        "(`RRDB`) or import path (`pkg.module:Class`); the generator and the discriminator "
        "are always sharded as wholes.",
    )
    mixed_precision: Literal["bf16", "16"] | None = Field(
        None,
        description="Keep the sharded parameters in this dtype for forward/backward (gradients "
        "reduced in float32); null uses the dtype of Training.precision.",
    )
    cpu_offload: bool = Field(
        False, description="Keep sharded parameters and optimiser states in CPU memory."
    )
    save_distributed_checkpoint: bool = Field(
        False,
        description="false: rank 0 writes one full `.ckpt` (resumable on any device count, "
        "generator exports written); true: every rank writes its shard into a folder.",
    )

    @field_validator("mixed_precision", mode="before")
    @classmethod
    def _mixed_precision_as_text(cls, value: Any) -> Any:
        if isinstance(value, int | float) and not isinstance(value, bool) and value == 16:
            return "16"
        return value


class DeepSpeedConfig(Section):
    """Options of the `deepspeed` strategy (ZeRO; CUDA only, joint optimisation mode only)."""

    stage: Literal[1, 2, 3] = Field(2, description="ZeRO stage.")
    offload_optimizer: bool = Field(False, description="Keep optimiser states in CPU memory.")
    offload_parameters: bool = Field(
        False, description="Keep parameters in CPU memory (stage 3 only)."
    )
    micro_batch_size: int | None = Field(
        None,
        ge=1,
        description="DeepSpeed's train_micro_batch_size_per_gpu; null: Data.batch_size.",
    )

    @model_validator(mode="after")
    def _offload_needs_stage_3(self) -> DeepSpeedConfig:
        if self.offload_parameters and self.stage != 3:
            raise ValueError(
                f"offload_parameters needs stage 3 (got stage {self.stage}); set stage: 3 or "
                "offload_parameters: false"
            )
        return self


PRODUCT_STRATEGIES = ("auto", "ddp", "fsdp", "deepspeed")
"""Strategies configured by the product; any other name goes to Lightning's registry."""


PrecisionName = Literal[
    "32", "16", "bf16", "64", "32-true", "16-mixed", "bf16-mixed", "16-true", "bf16-true", "64-true"
]


class TrainingConfig(Section):
    """How the generator and discriminator are trained."""

    seed: int = Field(42, description="Seed for Python, NumPy and torch (and dataloader workers).")
    manual_optimization: bool | None = Field(
        None,
        description="true: alternating updates with two optimisers (discriminator step, then "
        "generator step); false: one joint optimiser with a parameter group per network, "
        "stepped by Lightning; null: false on Lightning >= 2, true on Lightning 1.x.",
    )
    max_steps: int | None = Field(
        None,
        ge=1,
        description="Length of the run in generator steps (the run's own counter, the same in "
        "both optimisation modes); the default `total_steps` of cosine schedules. null: the run "
        "ends by Lightning's `Trainer.max_epochs`/`Trainer.max_steps` (which counts every "
        "optimiser's steps: two per step in the alternating mode while the discriminator trains).",
    )
    max_nonfinite_steps: int = Field(
        10,
        ge=1,
        description="Stop the run after this many consecutive steps whose loss or gradients "
        "were NaN/Inf (each such step is skipped and counted).",
    )
    precision: PrecisionName = Field(
        "32",
        description="Numeric precision: 32, 16 (16-mixed), bf16 (bf16-mixed), 64, or any Lightning "
        "precision string.",
    )
    g_pretrain_steps: int = Field(
        0,
        ge=0,
        description="Generator-only steps (content loss only) before the adversarial phase.",
    )
    pretrain_g_only: bool = Field(
        True, description="Train only the generator during the first `g_pretrain_steps` steps."
    )
    d_update_interval: int = Field(
        1, ge=1, description="Update the discriminator every N steps of the adversarial phase."
    )
    adv_loss_ramp_steps: int = Field(
        0,
        ge=0,
        description="Steps over which the adversarial weight rises linearly from 0 to "
        "`Losses.adv_loss_beta` once the adversarial phase starts.",
    )
    channels_last: bool = Field(
        False,
        description="Store generator and discriminator weights (and activations) in the "
        "channels-last memory format; often faster for convs on CPUs and tensor-core GPUs.",
    )
    compile: bool = Field(
        False,
        description="Compile generator and discriminator with `torch.compile` (in place; "
        "checkpoint keys are unchanged). The first steps are slow while it compiles.",
    )
    label_smoothing: float = Field(
        0.0,
        ge=0,
        lt=0.5,
        description="Real-image target becomes 1 - label_smoothing (vanilla, lsgan, relativistic).",
    )
    accelerator: str = Field(
        "auto", description="Lightning accelerator: auto, cpu, gpu, cuda, mps, ..."
    )
    devices: int | str | list[int] = Field(
        "auto", description="Devices per node: a count, a list of indices, or auto."
    )
    num_nodes: int = Field(1, ge=1, description="Machines taking part (multi-node DDP/FSDP).")
    strategy: str = Field(
        "auto",
        description="auto (one device; ddp when more), ddp, fsdp (FSDP2 via "
        "ModelParallelStrategy), deepspeed (CUDA only, joint mode only), or another name of "
        "Lightning's strategy registry passed as is (e.g. ddp_spawn).",
    )
    ddp: DDPConfig = Field(default_factory=DDPConfig, description="DDP options.")
    fsdp: FSDPConfig = Field(default_factory=FSDPConfig, description="FSDP options.")
    deepspeed: DeepSpeedConfig = Field(
        default_factory=DeepSpeedConfig, description="DeepSpeed options."
    )
    Losses: LossesConfig = Field(default_factory=LossesConfig, description="Loss weights.")
    EMA: EMAConfig = Field(default_factory=EMAConfig, description="Generator EMA.")

    @field_validator("precision", mode="before")
    @classmethod
    def _precision_as_text(cls, value: Any) -> Any:
        return str(value) if isinstance(value, int) and not isinstance(value, bool) else value

    @model_validator(mode="after")
    def _smoothing_fits_formulation(self) -> TrainingConfig:
        kind = self.Losses.adv_loss_type
        if self.label_smoothing > 0 and kind in ("hinge", "wgan_gp"):
            raise ValueError(
                f"label_smoothing applies to formulations with targets (vanilla, lsgan, "
                f"relativistic), not to Losses.adv_loss_type={kind}; set it to 0"
            )
        return self

    @field_validator("strategy")
    @classmethod
    def _known_strategy(cls, value: str) -> str:
        if value in PRODUCT_STRATEGIES:
            return value
        from lightning.pytorch.strategies import StrategyRegistry

        available = StrategyRegistry.available_strategies()
        if value not in available:
            names = [*PRODUCT_STRATEGIES, *available]
            close = difflib.get_close_matches(value, names, n=1)
            hint = f"; did you mean {close[0]}?" if close else ""
            raise ValueError(
                f"{value!r} is not a strategy: use one of {', '.join(PRODUCT_STRATEGIES)} or a "
                f"name of Lightning's strategy registry{hint}"
            )
        return value

    @model_validator(mode="after")
    def _deepspeed_needs_joint_mode(self) -> TrainingConfig:
        if self.strategy == "deepspeed" and self.manual_optimization:
            raise ValueError(
                "strategy deepspeed takes exactly one optimiser, so it needs the joint mode; "
                "set manual_optimization: false (or leave it unset on Lightning >= 2)"
            )
        return self

    @property
    def lightning_precision(self) -> str:
        """The precision string Lightning expects."""
        return lightning_precision(self.precision)

    @property
    def adversarial_start(self) -> int:
        """The generator step at which the adversarial phase (and discriminator training) starts."""
        return self.g_pretrain_steps if self.pretrain_g_only else 0

    def discriminator_updates(self, steps: int) -> int:
        """How many discriminator updates fall in the first ``steps`` generator steps.

        The discriminator is updated at generator steps ``start, start + interval, ...`` with
        ``start`` = :attr:`adversarial_start` and ``interval`` = ``d_update_interval``, so the
        update at step ``s`` is the discriminator's update number ``discriminator_updates(s)``.

        Example:
            >>> TrainingConfig(g_pretrain_steps=10, d_update_interval=2).discriminator_updates(15)
            3
        """
        into_phase = steps - self.adversarial_start
        return max(0, -(-into_phase // self.d_update_interval))


def lightning_precision(value: str) -> str:
    """Lightning's precision string for a short name (32, 16, bf16, 64) or a Lightning name."""
    short = {"32": "32-true", "64": "64-true", "16": "16-mixed", "bf16": "bf16-mixed"}
    return short.get(value, value)


class OptimizersConfig(Section):
    """Optimisers of the two networks."""

    optimizer: Literal["adam", "adamw"] = Field("adam", description="Optimiser for both networks.")
    optim_g_lr: float = Field(2e-4, gt=0, description="Generator learning rate.")
    optim_d_lr: float | None = Field(
        None,
        gt=0,
        description="Discriminator learning rate; null means `d_lr_ratio` x `optim_g_lr` "
        "(two time-scale updates).",
    )
    d_lr_ratio: float = Field(
        0.5,
        gt=0,
        description="Discriminator rate as a fraction of the generator's when "
        "`optim_d_lr` is null.",
    )
    betas: tuple[float, float] = Field((0.9, 0.999), description="Adam betas for both networks.")
    eps: float = Field(1e-8, gt=0, description="Adam epsilon for both networks.")
    weight_decay: float = Field(
        0.0,
        ge=0,
        description="Weight decay for both networks; never applied to biases and normalisation "
        "parameters (1-D tensors).",
    )
    gradient_clip_val: float | None = Field(
        None,
        gt=0,
        description="Clip each network's gradients to this norm (or value) before its step; "
        "null: no clipping. Same as Trainer.gradient_clip_val.",
    )
    gradient_clip_algorithm: Literal["norm", "value"] = Field(
        "norm", description="Clip by total norm or elementwise by value."
    )

    @property
    def discriminator_lr(self) -> float:
        """The discriminator learning rate with the default applied."""
        return self.optim_d_lr if self.optim_d_lr is not None else self.d_lr_ratio * self.optim_g_lr


class ScheduleConfig(Section):
    """Learning-rate factor over the module's own step counter (one step per batch)."""

    type: Literal["constant", "cosine", "step", "plateau"] = Field(
        "constant",
        description="constant: the base rate; cosine: decays to `min_lr_ratio` x base at "
        "`total_steps`; step: multiplied by `gamma` every `step_size` steps; plateau: "
        "multiplied by `gamma` when `monitor` has not improved for `patience` validations.",
    )
    warmup_steps: int = Field(
        0, ge=0, description="Steps of linear warm-up from base/warmup_steps to the base rate."
    )
    total_steps: int | None = Field(
        None,
        gt=0,
        description="cosine: step at which the decay ends (warm-up included), counted by "
        "`clock`; null: the end of the run, `Training.max_steps` (for the discriminator with "
        "clock updates: its number of updates in `Training.max_steps` steps).",
    )
    min_lr_ratio: float = Field(
        0.0, ge=0, le=1, description="cosine: final rate as a fraction of the base rate."
    )
    step_size: int | None = Field(None, gt=0, description="step: steps between decays.")
    gamma: float = Field(0.5, gt=0, le=1, description="step/plateau: factor at each decay.")
    monitor: str = Field("val/psnr", description="plateau: the validation metric watched.")
    mode: Literal["max", "min"] = Field("max", description="plateau: whether higher is better.")
    patience: int = Field(
        3, ge=0, description="plateau: validations without improvement before a decay."
    )
    min_delta: float = Field(0.0, ge=0, description="plateau: smallest change that counts.")
    clock: Literal["updates", "steps"] = Field(
        "updates",
        description="What the schedule counts: updates: the network's own optimiser updates (the "
        "discriminator's first update, at the start of the adversarial phase, is its update 0, "
        "so its warm-up is not spent during generator pretraining); steps: the run's generator "
        "steps. The same for the generator.",
    )

    @model_validator(mode="after")
    def _check_type_parameters(self) -> ScheduleConfig:
        too_short = self.total_steps is not None and self.total_steps <= self.warmup_steps
        if self.type == "cosine" and too_short:
            raise ValueError(
                f"total_steps ({self.total_steps}) must exceed warmup_steps ({self.warmup_steps})"
            )
        if self.type == "step" and self.step_size is None:
            raise ValueError("type step needs `step_size`")
        return self


class SchedulersConfig(Section):
    """Learning-rate schedules of the two networks, stepped once per batch."""

    generator: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="Generator schedule."
    )
    discriminator: ScheduleConfig = Field(
        default_factory=ScheduleConfig, description="Discriminator schedule."
    )


class CheckpointConfig(Section):
    """Checkpointing into `<run dir>/checkpoints`. Every checkpoint file `X.ckpt` gets
    generator-only exports beside it: `X.generator.safetensors` (raw weights) and, with
    Training.EMA enabled, `X.generator-ema.safetensors`, each carrying the generator config."""

    monitor: str = Field("val/psnr", description="Logged metric that ranks checkpoints.")
    mode: Literal["max", "min"] = Field("max", description="Whether higher or lower is better.")
    save_top_k: int = Field(1, ge=-1, description="Best checkpoints kept (-1 keeps all, 0 none).")
    save_last: bool = Field(True, description="Also keep `last.ckpt`, the newest state.")
    filename: str = Field(
        "best-epoch{epoch:03d}", description="Name pattern of ranked checkpoints (no extension)."
    )
    every_n_steps: int | None = Field(
        None,
        ge=1,
        description="Also save `step-NNNNNNN.ckpt` every N generator steps (the run's own step "
        "counter, one per batch whatever the optimisation mode).",
    )
    keep_every_n_steps: int = Field(
        -1, ge=-1, description="Periodic `step-*.ckpt` files kept (the newest); -1 keeps all."
    )
    export_generator: bool = Field(
        True, description="Write the generator-only safetensors exports beside each checkpoint."
    )


class GradientNormsConfig(Section):
    """Per-network gradient norms (measured before clipping)."""

    enabled: bool = Field(
        False, description="Log `grad_norm/generator` and `grad_norm/discriminator`."
    )
    every_n_steps: int | None = Field(
        None,
        ge=1,
        description="Measure every N optimiser steps; null: Trainer.log_every_n_steps (a norm "
        "costs one device sync, so it is not measured on every step by default).",
    )
    norm_type: float = Field(2.0, gt=0, description="p of the p-norm (2: Euclidean).")
    per_layer: bool = Field(
        False, description="Also log `grad_norm/<network>/<parameter>` for every parameter."
    )
    generator_threshold: float | None = Field(
        None, gt=0, description="Warn (and alert) when the generator's norm exceeds this."
    )
    discriminator_threshold: float | None = Field(
        None, gt=0, description="Warn (and alert) when the discriminator's norm exceeds this."
    )
    warn_interval_steps: int = Field(
        100, ge=1, description="At most one threshold warning per network per this many steps."
    )

    @model_validator(mode="after")
    def _thresholds_need_measuring(self) -> GradientNormsConfig:
        for name in ("generator_threshold", "discriminator_threshold"):
            if getattr(self, name) is not None and not self.enabled:
                raise ValueError(
                    f"{name} needs the norms to be measured; set enabled: true (or remove the "
                    "threshold)"
                )
        return self


class ExtraValidationConfig(Section):
    """A validation hook class loaded by import path."""

    target: str = Field(
        ...,
        description="`package.module:Class` of a ganlab.callbacks.ValidationHook subclass "
        "(e.g. `ganlab.callbacks.extra:BandBias`).",
    )
    kwargs: dict[str, Any] = Field(
        default_factory=dict, description="Keyword arguments for the class."
    )

    @field_validator("target")
    @classmethod
    def _import_path(cls, value: str) -> str:
        module, _, name = value.partition(":")
        if not module or not name:
            raise ValueError(f"{value!r}: expected `package.module:Class`")
        return value


class EarlyStoppingConfig(Section):
    """Stop training when a validation metric stops improving."""

    monitor: str = Field("val/psnr", description="Logged validation metric watched.")
    mode: Literal["max", "min"] = Field("max", description="Whether higher or lower is better.")
    patience: int = Field(
        5, ge=1, description="Validations without improvement before training stops."
    )
    min_delta: float = Field(0.0, ge=0, description="Smallest change that counts as improvement.")


AlertEvent = Literal["early_stop", "nonfinite", "gradient_threshold", "no_improvement", "exception"]
ALERT_EVENTS: tuple[AlertEvent, ...] = (
    "early_stop", "nonfinite", "gradient_threshold", "no_improvement", "exception",
)  # fmt: skip


class WebhookConfig(Section):
    """HTTP POST of each alert as a JSON object."""

    url: str = Field(..., description="http(s) URL that receives the JSON event.")
    timeout_s: float = Field(5.0, gt=0, description="Seconds per attempt.")
    retries: int = Field(2, ge=0, description="Further attempts after a failed one.")
    headers: dict[str, str] = Field(
        default_factory=dict, description="Extra HTTP headers (e.g. an authorisation token)."
    )

    @field_validator("url")
    @classmethod
    def _http_url(cls, value: str) -> str:
        if not value.startswith(("http://", "https://")):
            raise ValueError(f"{value!r}: expected an http:// or https:// URL")
        return value


class AlertsConfig(Section):
    """Notify operators when training stalls or breaks. Alerts are sent from a background
    thread, so a slow sink never blocks training."""

    events: list[AlertEvent] = Field(
        default_factory=lambda: list(ALERT_EVENTS),
        description="Events that alert: early_stop, nonfinite (a skipped NaN/Inf step), "
        "gradient_threshold, no_improvement, exception.",
    )
    log: bool = Field(True, description="Write each alert to the log (warning level).")
    command: list[str] | None = Field(
        None,
        description="Program and arguments run for each alert (no shell); the JSON event is "
        "passed on standard input and `{event}`/`{message}` in arguments are replaced.",
    )
    command_timeout_s: float = Field(
        10.0, gt=0, description="Seconds before the command is killed."
    )
    webhook: WebhookConfig | None = Field(None, description="HTTP POST sink.")
    no_improvement_validations: int | None = Field(
        None,
        ge=1,
        description="Raise `no_improvement` after this many validations without a better "
        "`Callbacks.checkpoint.monitor` value; null: never.",
    )


class CallbacksConfig(Section):
    """Callbacks attached to the Lightning Trainer."""

    checkpoint: CheckpointConfig = Field(
        default_factory=CheckpointConfig, description="Checkpointing."
    )
    lr_monitor: bool = Field(
        False, description="Log learning rates as `lr/generator` and `lr/discriminator`."
    )
    gradient_norms: GradientNormsConfig = Field(
        default_factory=GradientNormsConfig, description="Gradient-norm logging and thresholds."
    )
    extra_validation: list[ExtraValidationConfig] = Field(
        default_factory=list,
        description="Validation hooks that receive the module and each batch's outputs (LR, "
        "bicubic, SR, HR in physical units, meta) and return metrics to log.",
    )
    early_stopping: EarlyStoppingConfig | None = Field(
        None, description="Early stopping; null: off."
    )
    alerts: AlertsConfig | None = Field(None, description="Operator alerts; null: off.")


LoggerName = Literal["csv", "tensorboard", "wandb"]


class WandbConfig(Section):
    """Weights & Biases logger options (`Logging.logger: wandb`)."""

    mode: Literal["online", "offline", "disabled"] = Field(
        "offline",
        description="offline writes the run under `<run dir>/logs/wandb` with no network "
        "(upload later with `wandb sync`); online needs `wandb login`.",
    )
    project: str = Field("opensr-gan-lab", description="W&B project name.")
    entity: str | None = Field(None, description="W&B team or user; null: your default.")
    name: str | None = Field(None, description="Run name; null: the run folder's name.")
    tags: list[str] = Field(default_factory=list, description="Run tags.")


class LoggingConfig(Section):
    """Where metrics and images go."""

    logger: LoggerName | list[LoggerName] = Field(
        "csv",
        description="csv (`<run dir>/logs/csv/metrics.csv`), tensorboard "
        "(`<run dir>/logs/tensorboard`), wandb (`<run dir>/logs/wandb`), or a list.",
    )
    wandb: WandbConfig = Field(default_factory=WandbConfig, description="W&B options.")
    num_val_images: int = Field(
        4,
        ge=0,
        description="Validation samples drawn in each LR | bicubic | SR | HR panel (PNG files in "
        "`<run dir>/panels` and images in TensorBoard/W&B); 0 draws none.",
    )
    log_images: bool = Field(
        True, description="Also send the panels to the image-capable loggers (TensorBoard, W&B)."
    )
    histograms: bool = Field(
        False,
        description="Log weight and gradient histograms of both networks at each validation "
        "(TensorBoard, W&B).",
    )
    lpips: bool = Field(
        False,
        description="Also compute LPIPS in validation when its weights are available locally "
        "(needs torchvision); otherwise skipped with one warning.",
    )
    display_bands: list[int] | None = Field(
        None,
        description="Bands shown as red, green, blue in panels (0-based); null shows bands 0-2 "
        "(or band 0 in grey for single-band data).",
    )

    @property
    def logger_names(self) -> list[str]:
        """Configured loggers as a list."""
        return [self.logger] if isinstance(self.logger, str) else list(self.logger)


# Trainer arguments the product sets itself: where to set them instead.
MANAGED_TRAINER_ARGUMENTS = {
    "callbacks": "configure callbacks under `Callbacks`",
    "logger": "choose loggers with `Logging.logger`",
    "default_root_dir": "use `ganlab train --run-dir DIR`",
    "plugins": "the product installs its own checkpoint plugin; use `Training` keys",
}

# Trainer arguments that also have a key of their own: `Trainer` name -> owning key.
# Precedence: the owning key when it is set in the config, else the `Trainer` value, else the
# owning key's default.
OWNED_TRAINER_ARGUMENTS = {
    "precision": "Training.precision",
    "accelerator": "Training.accelerator",
    "devices": "Training.devices",
    "num_nodes": "Training.num_nodes",
    "strategy": "Training.strategy",
    "gradient_clip_val": "Optimizers.gradient_clip_val",
    "gradient_clip_algorithm": "Optimizers.gradient_clip_algorithm",
}


def _check_trainer_arguments(arguments: dict[str, Any]) -> dict[str, Any]:
    from ganlab._lightning import trainer_argument_names

    valid = trainer_argument_names()
    for name in arguments:
        if name in MANAGED_TRAINER_ARGUMENTS:
            raise ValueError(
                f"Trainer.{name} is set by OpenSR GAN Lab itself; {MANAGED_TRAINER_ARGUMENTS[name]}"
            )
        if name not in valid:
            close = difflib.get_close_matches(name, valid, n=1)
            hint = f"; did you mean Trainer.{close[0]}?" if close else ""
            raise ValueError(
                f"Trainer.{name}: not an argument of the installed Lightning Trainer{hint}"
            )
    return arguments


def _check_data_bands(config: Config) -> None:
    """Per-band normaliser lists and band selections against the model's band counts."""
    data, model = config.Data, config.Model
    norm = data.normalization
    branch_names: tuple[Literal["lr", "hr"], ...] = ("lr", "hr")
    for branch in branch_names:
        key, count = (
            ("Model.in_bands", model.in_bands)
            if branch == "lr"
            else ("Model.out_bands", model.output_bands)
        )
        own = (norm.lr if branch == "lr" else norm.hr) is not None
        where = f"Data.normalization.{branch}" if own else "Data.normalization"
        for name, values in norm.branch(branch).per_band_lists.items():
            if len(values) not in (1, count):
                fix = "" if own else ", or separate `lr:` / `hr:` specs"
                raise ValueError(
                    f"{where}.{name} has {len(values)} values but {key} is {count}; give one "
                    f"value per band (or one for all){fix}"
                )
    selections: list[tuple[str, list[int | str] | None, str, int]] = []
    if data.dataset == "paired":
        lr_key = "Data.lr_bands" if data.lr_bands is not None else "Data.bands"
        lr_selection = data.lr_bands if data.lr_bands is not None else data.bands
        selections.append((lr_key, lr_selection, "Model.in_bands", model.in_bands))
        selections.append(("Data.bands", data.bands, "Model.out_bands", model.output_bands))
    else:
        selections.append(("Data.bands", data.bands, "Model.in_bands", model.in_bands))
    for name, selection, key, count in selections:
        if selection is not None and len(selection) != count:
            raise ValueError(
                f"{name} selects {len(selection)} bands but {key} is {count}; select one band "
                "per model band"
            )


def schedule_total_steps(config: Config, network: str) -> int | None:
    """The step (of the schedule's clock) where ``Schedulers.<network>``'s cosine decay ends:
    its ``total_steps``, else derived from ``Training.max_steps`` (None: neither is set)."""
    schedule: ScheduleConfig = getattr(config.Schedulers, network)
    if schedule.total_steps is not None:
        return schedule.total_steps
    max_steps = config.Training.max_steps
    if max_steps is None:
        return None
    if network == "discriminator" and schedule.clock == "updates":
        return config.Training.discriminator_updates(max_steps)
    return max_steps


def _check_schedule_lengths(config: Config) -> None:
    for network in ("generator", "discriminator"):
        schedule: ScheduleConfig = getattr(config.Schedulers, network)
        if schedule.type != "cosine":
            continue
        total = schedule_total_steps(config, network)
        if total is None:
            raise ValueError(
                f"Schedulers.{network}: type cosine needs total_steps (the step where the decay "
                "ends) or Training.max_steps (the length of the run)"
            )
        if total <= schedule.warmup_steps:
            raise ValueError(
                f"Schedulers.{network}: the cosine decay ends at {network} {schedule.clock} "
                f"{total} (from Training.max_steps), which does not exceed warmup_steps "
                f"({schedule.warmup_steps}); set total_steps or a shorter warm-up"
            )


class Config(Section):
    """A whole OpenSR GAN Lab configuration."""

    Data: DataConfig = Field(default_factory=DataConfig, description="Data.")
    Model: ModelConfig = Field(default_factory=ModelConfig, description="Band counts.")
    Generator: GeneratorConfig = Field(default_factory=GeneratorConfig, description="Generator.")
    Discriminator: DiscriminatorConfig = Field(
        default_factory=DiscriminatorConfig, description="Discriminator."
    )
    Training: TrainingConfig = Field(default_factory=TrainingConfig, description="Training.")
    Optimizers: OptimizersConfig = Field(
        default_factory=OptimizersConfig, description="Optimisers."
    )
    Schedulers: SchedulersConfig = Field(
        default_factory=SchedulersConfig, description="LR schedules."
    )
    Callbacks: CallbacksConfig = Field(default_factory=CallbacksConfig, description="Callbacks.")
    Logging: LoggingConfig = Field(default_factory=LoggingConfig, description="Logging.")
    Trainer: dict[str, Any] = Field(
        default_factory=dict,
        description="Any other argument of Lightning's `Trainer` (max_steps, max_epochs, "
        "val_check_interval, limit_val_batches, accelerator, devices, ...), passed through as "
        "given and checked against the installed Trainer's signature.",
    )

    def gradient_clipping(self) -> tuple[float | None, str]:
        """Clip value (None: off) and algorithm, from ``Optimizers``."""
        value = self.Optimizers.gradient_clip_val
        return (float(value) if value else None), self.Optimizers.gradient_clip_algorithm

    @property
    def accumulate_grad_batches(self) -> int:
        """Batches per optimiser step (``Trainer.accumulate_grad_batches``, default 1)."""
        return int(self.Trainer.get("accumulate_grad_batches") or 1)

    @model_validator(mode="before")
    @classmethod
    def _route_owned_trainer_arguments(cls, data: Any) -> Any:
        """Move Trainer arguments that have a key of their own to that key (see
        :data:`OWNED_TRAINER_ARGUMENTS`); a conflicting pair is logged, the own key wins."""
        if not isinstance(data, dict) or not isinstance(data.get("Trainer"), dict):
            return data
        data = dict(data)
        trainer = dict(data["Trainer"])
        for name, key in OWNED_TRAINER_ARGUMENTS.items():
            if name not in trainer:
                continue
            value = trainer.pop(name)
            section_name, field = key.split(".")
            section = data.get(section_name) or {}
            if isinstance(section, BaseModel):
                section = section.model_dump(exclude_unset=True)
            section = dict(section)
            if field in section and str(section[field]) != str(value):
                log.warning(
                    "%s=%s is used; Trainer.%s=%s is ignored (a key of its own wins over the "
                    "Trainer block)",
                    key,
                    section[field],
                    name,
                    value,
                )
            else:
                section[field] = value
            data[section_name] = section
        data["Trainer"] = trainer
        return data

    @field_validator("Trainer")
    @classmethod
    def _trainer_arguments(cls, value: dict[str, Any]) -> dict[str, Any]:
        return _check_trainer_arguments(value)

    @model_validator(mode="after")
    def _cross_section_checks(self) -> Config:
        accumulate = self.Trainer.get("accumulate_grad_batches")
        if accumulate is not None and (not isinstance(accumulate, int) or accumulate < 1):
            raise ValueError(
                f"Trainer.accumulate_grad_batches must be a positive integer, got {accumulate!r}"
            )
        lower_bounds = [k for k in ("min_steps", "min_epochs") if self.Trainer.get(k)]
        if self.Training.max_steps is not None and lower_bounds:
            raise ValueError(
                f"Training.max_steps ends the run, but Trainer.{lower_bounds[0]} keeps Lightning "
                "from stopping before it; remove one of them"
            )
        algorithm = self.Trainer.get("gradient_clip_algorithm")
        if algorithm not in (None, "norm", "value"):
            raise ValueError(
                f"Trainer.gradient_clip_algorithm={algorithm!r}: expected 'norm' or 'value'"
            )
        scale = self.Generator.scaling_factor
        if self.Data.hr_patch_size % scale:
            raise ValueError(
                f"Data.hr_patch_size ({self.Data.hr_patch_size}) must be a multiple of "
                f"Generator.scaling_factor ({scale})"
            )
        if self.Data.val_patch_size is not None and self.Data.val_patch_size % scale:
            raise ValueError(
                f"Data.val_patch_size ({self.Data.val_patch_size}) must be a multiple of "
                f"Generator.scaling_factor ({scale})"
            )
        losses = self.Training.Losses
        needed = 0
        if losses.ssim_weight > 0:
            needed = losses.ssim_window_size
        if losses.ms_ssim_weight > 0:
            needed = max(needed, losses.ssim_window_size * 2 ** (losses.ms_ssim_scales - 1))
        if self.Data.hr_patch_size < needed:
            raise ValueError(
                f"Data.hr_patch_size ({self.Data.hr_patch_size}) is too small for the SSIM terms "
                f"of Training.Losses (need >= {needed} pixels); use larger crops, a smaller "
                "ssim_window_size or fewer ms_ssim_scales"
            )
        _check_data_bands(self)
        _check_schedule_lengths(self)
        if self.Generator.global_skip != "none" and self.Model.output_bands != self.Model.in_bands:
            raise ValueError(
                "Generator.global_skip adds the interpolated input to the output, which needs "
                f"Model.out_bands ({self.Model.out_bands}) == Model.in_bands "
                f"({self.Model.in_bands}); set Generator.global_skip: none"
            )
        norm = self.Data.normalization
        if self.Generator.global_skip != "none" and norm.branch("lr") != norm.branch("hr"):
            raise ValueError(
                "Generator.global_skip adds the interpolated (LR-normalised) input to the "
                "(HR-normalised) output, which only fits when Data.normalization.lr and .hr are "
                "the same; set Generator.global_skip: none or use one normaliser for both"
            )
        display = self.Logging.display_bands
        if display is not None:
            bad = [b for b in display if not 0 <= b < self.Model.output_bands]
            if bad or len(display) not in (1, 3):
                raise ValueError(
                    f"Logging.display_bands {display}: give 1 or 3 band indices in "
                    f"0..{self.Model.output_bands - 1}"
                )
        return self
