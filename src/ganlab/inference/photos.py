"""Super-resolve photographs (PNG, JPEG, non-geographic TIFF), keeping bit depth and metadata.

:func:`super_resolve_photo` reads a photo with :func:`read_photo`, hands its colour bands to
``resolve`` as float32 in the file's own units (0..255 for 8-bit, 0..65535 for 16-bit), and
writes the result with :func:`write_photo` through :func:`ganlab.files.atomic_write`:

- **Bit depth and mode follow the input**: 8-bit L/LA/RGB/RGBA, 16-bit grayscale (Pillow mode
  ``I;16``), and with tifffile any TIFF layout (e.g. 16-bit multi-band). Integer results are
  rounded to the nearest integer and clipped to the dtype's range (NaN becomes 0).
- **Alpha**: ``resolve`` sees the colour bands only; the alpha channel is upsampled by nearest
  neighbour (each pixel becomes ``scale x scale`` copies), so the transparency mask keeps its
  hard edges and a 3-band model serves RGBA photos.
- **The container follows the target's suffix** (a PNG may be written as ``.tif``); a target
  that cannot hold the input's bit depth or alpha (16-bit into JPEG) raises
  :class:`~ganlab.errors.OutputError` before any work is done.
- **Metadata**: the ICC profile (PNG, JPEG, TIFF), EXIF bytes as they were (PNG, JPEG; the
  EXIF pixel dimensions are not rewritten), PNG text chunks, and the resolution, multiplied by
  the scale so the printed size is unchanged. JPEG is written at quality 95.

Palette images come out as RGB (RGBA when they have transparency) and bilevel ones as 8-bit
grayscale: the super-resolved values fall between the palette's entries. Multi-page or animated
files give their first page or frame. GeoTIFFs are refused: their georeferencing would be lost.
"""

from __future__ import annotations

import dataclasses
from dataclasses import dataclass
from pathlib import Path
from types import ModuleType
from typing import Any

import numpy as np
from PIL import Image, ImageFile, PngImagePlugin, TiffImagePlugin

from ganlab.data.files import as_chw
from ganlab.data.readers import file_suffix
from ganlab.errors import DataError, OutputError
from ganlab.files import atomic_write
from ganlab.inference.values import (
    Resolve,
    cast_to_dtype,
    check_scale,
    checked_sr,
    upsample_nearest,
)

PHOTO_FORMATS: dict[str, str] = {
    ".png": "PNG",
    ".jpg": "JPEG",
    ".jpeg": "JPEG",
    ".tif": "TIFF",
    ".tiff": "TIFF",
}
"""File suffix (lower case) -> format written and read by this module."""

JPEG_QUALITY = 95
"""Quality of written JPEGs: visually lossless while keeping files a fraction of PNG size."""

# (dtype, bands, alpha) -> Pillow mode; the layouts Pillow can write
_PILLOW_MODES: dict[tuple[str, int, bool], str] = {
    ("uint8", 1, False): "L",
    ("uint8", 2, True): "LA",
    ("uint8", 3, False): "RGB",
    ("uint8", 4, True): "RGBA",
    ("uint16", 1, False): "I;16",
    ("int32", 1, False): "I",
    ("float32", 1, False): "F",
}
_FORMAT_MODES = {
    "PNG": {"L", "LA", "RGB", "RGBA", "I;16"},
    "JPEG": {"L", "RGB"},
    "TIFF": set(_PILLOW_MODES.values()),
}
_SIXTEEN_BIT_MODES = ("I;16", "I;16L", "I;16B", "I;16N")
_GEOTIFF_TAGS = (33550, 33922, 34264, 34735)  # ModelPixelScale, Tiepoint, Transformation, GeoKeys
_ICC_TAG = 34675
_ALPHA_SAMPLES = {1: True, 2: False}  # TIFF ExtraSamples code -> premultiplied (associated)
_TIFF_INCH, _TIFF_CENTIMETRE = 2, 3


@dataclass(frozen=True)
class PhotoInfo:
    """What a photo holds besides its pixels, in terms any of the formats can use.

    Attributes:
        format: The source format (``PNG``, ``JPEG``, ``TIFF``).
        alpha: The last band is an alpha (transparency) channel.
        premultiplied: The colour bands are premultiplied by alpha (TIFF associated alpha).
        rgb: The colour bands are red, green, blue (else grayscale or independent bands).
        icc_profile: ICC colour profile, or None.
        exif: EXIF block as stored in the file, or None.
        dpi: Pixels per inch ``(x, y)``, or None when the file states no physical size.
        text: PNG text chunks, key -> text.
    """

    format: str
    alpha: bool = False
    premultiplied: bool = False
    rgb: bool = False
    icc_profile: bytes | None = None
    exif: bytes | None = None
    dpi: tuple[float, float] | None = None
    text: dict[str, str] = dataclasses.field(default_factory=dict)


def _tifffile() -> ModuleType | None:
    """tifffile when installed (the ``tiff`` extra); Pillow covers the common TIFFs without it."""
    try:
        import tifffile
    except ImportError:
        return None
    return tifffile


def _describe(dtype: np.dtype[Any], bands: int, alpha: bool) -> str:
    kind = {"u": "unsigned", "i": "signed", "f": "float"}.get(dtype.kind, dtype.kind)
    layout = f"{bands} band{'s' if bands != 1 else ''}{' with alpha' if alpha else ''}"
    return f"{dtype.itemsize * 8}-bit {kind} ({dtype.name}), {layout}"


# ------------------------------------------------------------------------- reading


def read_photo(path: str | Path) -> tuple[np.ndarray, PhotoInfo]:
    """Read a PNG, JPEG or non-geographic TIFF in its own dtype.

    TIFFs go through tifffile when it is installed (any dtype and band count), else Pillow.

    Args:
        path: The photo.

    Returns:
        ``(array, info)``: ``array`` is ``[C, H, W]`` in the file's dtype (uint8, uint16, ...)
        with alpha, when present, as the last band.

    Raises:
        DataError: Unsupported suffix, GeoTIFF, a layout that would lose precision (16-bit
            colour through Pillow), or the file cannot be decoded (names the file).
    """
    path = Path(path)
    suffix = file_suffix(path)
    if suffix not in PHOTO_FORMATS:
        raise DataError(
            f"{path}: not a photo ({suffix!r}); photos are {', '.join(sorted(PHOTO_FORMATS))}"
        )
    tifffile = _tifffile()
    try:
        if PHOTO_FORMATS[suffix] == "TIFF" and tifffile is not None:
            array, info = _read_tifffile(path, tifffile)
        else:
            array, info = _read_pillow(path)
    except DataError:
        raise
    except Exception as exc:
        raise DataError(f"{path}: cannot be read ({type(exc).__name__}: {exc})") from exc
    if not array.dtype.isnative:
        array = array.astype(array.dtype.newbyteorder("="))
    return np.ascontiguousarray(array), info


def _raw_mode(image: ImageFile.ImageFile) -> str:
    """The decoder's raw mode (``RGB;16B`` for 16-bit colour PNG), before Pillow converts it."""
    if not image.tile:
        return ""
    args = image.tile[0][3]
    return str(args[0] if isinstance(args, tuple) and args else args)


def _read_pillow(path: Path) -> tuple[np.ndarray, PhotoInfo]:
    with Image.open(path) as image:
        mode = image.mode
        # Pillow hands 16-bit colour over as 8-bit: refuse rather than lose the bit depth
        if ";16" in _raw_mode(image) and mode not in (*_SIXTEEN_BIT_MODES, "I"):
            raise DataError(
                f"{path}: holds 16-bit {mode}, which Pillow reads as 8-bit; save it as a 16-bit "
                "TIFF and install tifffile (pip install 'opensr-gan-lab[tiff]')"
            )
        if isinstance(image, TiffImagePlugin.TiffImageFile):
            samples = int(image.tag_v2.get(277, 1))  # SamplesPerPixel
            if samples != len(image.getbands()):
                raise DataError(
                    f"{path}: a {samples}-band TIFF that Pillow reads as {mode}; install "
                    "tifffile to read it (pip install 'opensr-gan-lab[tiff]')"
                )
            if any(tag in image.tag_v2 for tag in _GEOTIFF_TAGS):
                raise _geotiff_error(path)
        decoded: Image.Image = image
        if mode == "1":
            decoded = image.convert("L")
        elif mode in ("P", "PA"):
            transparent = mode == "PA" or "transparency" in image.info
            decoded = image.convert("RGBA" if transparent else "RGB")
        elif mode not in ("L", "LA", "RGB", "RGBA", "I", "F", *_SIXTEEN_BIT_MODES):
            raise DataError(
                f"{path}: Pillow mode {mode} is not supported; convert the image to RGB, RGBA or "
                "grayscale"
            )
        mode = decoded.mode
        array = as_chw(np.asarray(decoded), path, channels_last=True)
        info = PhotoInfo(
            format=str(image.format),
            alpha=mode in ("LA", "RGBA"),
            rgb=mode in ("RGB", "RGBA"),
            icc_profile=image.info.get("icc_profile") or None,
            exif=_exif_bytes(image.info.get("exif")),
            dpi=_pair(image.info.get("dpi")),
            text={str(k): v for k, v in getattr(image, "text", {}).items() if isinstance(v, str)},
        )
    return array, info


def _exif_bytes(exif: object) -> bytes | None:
    return bytes(exif) if isinstance(exif, (bytes, bytearray)) and exif else None


def _pair(values: Any) -> tuple[float, float] | None:
    """A positive ``(x, y)`` resolution, or None (missing, zero or malformed)."""
    try:
        x, y = (float(v) for v in values)
    except (TypeError, ValueError):
        return None
    return (x, y) if x > 0 and y > 0 else None


def _geotiff_error(path: Path) -> DataError:
    return DataError(
        f"{path}: is a GeoTIFF; super-resolve it as a geographic scene so that its "
        "georeferencing is kept (a photo output would drop it)"
    )


def _read_tifffile(path: Path, tifffile: ModuleType) -> tuple[np.ndarray, PhotoInfo]:
    with tifffile.TiffFile(path) as tiff:
        page = tiff.pages.first
        if any(tag in page.tags for tag in _GEOTIFF_TAGS):
            raise _geotiff_error(path)
        photometric = int(page.photometric)
        if photometric not in (1, 2):  # MINISBLACK, RGB
            name = getattr(page.photometric, "name", photometric)
            raise DataError(
                f"{path}: TIFF photometric {name} is not supported; save it as RGB or "
                "grayscale (minisblack)"
            )
        series = tiff.series[0]
        array = series.asarray()
        axes = series.axes
        icc_tag = page.tags.get(_ICC_TAG)
        icc = bytes(icc_tag.value) if icc_tag is not None else None  # read while open
        extra = [int(e) for e in page.extrasamples]
        dpi = _tiff_dpi(page.resolution, int(page.resolutionunit))
    if array.ndim == 3 and axes[-1] in "SC":
        array = np.moveaxis(array, -1, 0)
    array = as_chw(array, path, channels_last=False)
    colour = 3 if photometric == 2 else 1
    alpha = bool(extra) and extra[0] in _ALPHA_SAMPLES and array.shape[0] == colour + 1
    return array, PhotoInfo(
        format="TIFF",
        alpha=alpha,
        premultiplied=alpha and _ALPHA_SAMPLES[extra[0]],
        rgb=photometric == 2,
        icc_profile=icc,
        dpi=dpi,
    )


def _tiff_dpi(resolution: tuple[float, float], unit: int) -> tuple[float, float] | None:
    per_inch = {_TIFF_INCH: 1.0, _TIFF_CENTIMETRE: 2.54}.get(unit)
    pair = _pair(resolution)
    return None if per_inch is None or pair is None else (pair[0] * per_inch, pair[1] * per_inch)


# ------------------------------------------------------------------------- writing


def photo_target_format(
    path: str | Path, dtype: np.dtype[Any] | type, bands: int, alpha: bool
) -> str:
    """The format ``path`` is written in, checked against the image it is to hold.

    Args:
        path: The target file; its suffix picks the format.
        dtype: The image's dtype.
        bands: Its band count, alpha included.
        alpha: Whether its last band is alpha.

    Returns:
        ``PNG``, ``JPEG`` or ``TIFF``.

    Raises:
        OutputError: Unknown suffix, or the format cannot hold the image's bit depth, bands or
            alpha; the message says which format to use.
    """
    path, dtype = Path(path), np.dtype(dtype)
    suffix = file_suffix(path)
    target = PHOTO_FORMATS.get(suffix)
    if target is None:
        raise OutputError(
            f"{path}: cannot write {suffix!r} photos; use one of {', '.join(sorted(PHOTO_FORMATS))}"
        )
    tifffile = _tifffile()
    if target == "TIFF" and tifffile is not None:
        return target
    mode = _PILLOW_MODES.get((dtype.name, bands, alpha))
    if mode in _FORMAT_MODES[target]:
        return target
    image = _describe(dtype, bands, alpha)
    if target == "TIFF":
        hint = "install tifffile to write it (pip install 'opensr-gan-lab[tiff]')"
    elif target == "JPEG" and mode == "I;16":
        hint = "JPEG holds 8-bit images only; write .png or .tif to keep the bit depth"
    elif target == "JPEG" and mode in ("LA", "RGBA"):
        hint = "JPEG holds no alpha channel; write .png or .tif to keep it"
    elif target == "JPEG" and dtype != np.uint8:
        hint = "JPEG holds 8-bit images only; write .tif to keep the bit depth"
    else:
        hint = "write .tif, which holds any bit depth and band count"
    raise OutputError(f"{path}: {target} cannot hold this image ({image}); {hint}")


def write_photo(path: str | Path, array: np.ndarray, info: PhotoInfo) -> Path:
    """Write ``array`` to ``path`` atomically, in the format its suffix names.

    Args:
        path: The target (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``).
        array: ``[C, H, W]`` in the dtype to store (uint8, uint16, ...), alpha last.
        info: Metadata to keep: ICC profile, EXIF (PNG, JPEG), resolution, PNG text, alpha.

    Returns:
        ``path``.

    Raises:
        OutputError: The format cannot hold the image (see :func:`photo_target_format`), or
            the file cannot be written; no partial file is left.
    """
    path = Path(path)
    target = photo_target_format(path, array.dtype, array.shape[0], info.alpha)
    tifffile = _tifffile()
    if target == "TIFF" and tifffile is not None:
        module = tifffile
        return atomic_write(path, lambda tmp: _write_tifffile(tmp, array, info, module), "image")
    return atomic_write(path, lambda tmp: _write_pillow(tmp, array, info, target), "image")


def _write_pillow(path: Path, array: np.ndarray, info: PhotoInfo, target: str) -> None:
    image = Image.fromarray(np.moveaxis(array, 0, -1) if array.shape[0] > 1 else array[0])
    options: dict[str, Any] = {}
    if info.icc_profile:
        options["icc_profile"] = info.icc_profile
    if info.dpi:
        options["dpi"] = info.dpi
    if target in ("PNG", "JPEG") and info.exif:
        options["exif"] = info.exif
    if target == "JPEG":
        options["quality"] = JPEG_QUALITY
    elif target == "PNG" and info.text:
        chunks = PngImagePlugin.PngInfo()
        for key, text in info.text.items():
            chunks.add_text(key, text)
        options["pnginfo"] = chunks
    elif target == "TIFF":
        options["compression"] = "tiff_adobe_deflate"
    # the temporary file's suffix is not the target's, so the format is named explicitly
    image.save(path, format=target, **options)


def _write_tifffile(path: Path, array: np.ndarray, info: PhotoInfo, tifffile: ModuleType) -> None:
    colour = array.shape[0] - int(info.alpha)
    rgb = info.rgb and colour == 3
    options: dict[str, Any] = {
        "photometric": "rgb" if rgb else "minisblack",
        "compression": "zlib",  # lossless and needs no codec beyond the standard library
        "iccprofile": info.icc_profile,
    }
    if info.dpi:
        options.update(resolution=info.dpi, resolutionunit="INCH")
    if array.shape[0] == 1:
        data = array[0]
    elif rgb or info.alpha:
        data = np.moveaxis(array, 0, -1)
        options["planarconfig"] = "contig"
        if info.alpha:
            options["extrasamples"] = ["assocalpha" if info.premultiplied else "unassalpha"]
    else:
        data = array
        options["planarconfig"] = "separate"
    with open(path, "wb") as file:
        tifffile.imwrite(file, data, **options)


# ------------------------------------------------------------------------- inference


def super_resolve_photo(
    source: str | Path, target: str | Path, resolve: Resolve, scale: int
) -> Path:
    """Super-resolve a photo and write it in the input's bit depth and mode.

    ``resolve`` gets the colour bands as float32 ``[C, H, W]`` in the file's units (0..255 for
    8-bit, 0..65535 for 16-bit; alpha excluded) and returns ``[C, H*scale, W*scale]``. Integer
    outputs are rounded and clipped to the dtype's range; alpha is upsampled by nearest
    neighbour. The target's suffix picks the container; the resolution (DPI) is multiplied by
    ``scale``; ICC profile, EXIF and PNG text are kept where the format holds them.

    Args:
        source: PNG, JPEG or non-geographic TIFF.
        target: Output file (``.png``, ``.jpg``/``.jpeg``, ``.tif``/``.tiff``).
        resolve: The super-resolution function.
        scale: Its upscaling factor.

    Returns:
        ``target``.

    Raises:
        DataError: ``source`` cannot be read (names it), or ``resolve`` returns another band
            count than it is given.
        OutputError: The target format cannot hold the input's bit depth, bands or alpha
            (raised before ``resolve`` runs; says which format to use), or it cannot be
            written. Nothing is left at ``target`` on failure.

    Example:
        >>> import tempfile
        >>> folder = Path(tempfile.mkdtemp())
        >>> Image.fromarray(np.full((2, 3), 7, np.uint8)).save(folder / "in.png")
        >>> out = super_resolve_photo(folder / "in.png", folder / "out.png",
        ...                           lambda lr: upsample_nearest(lr, 2) + 0.6, 2)
        >>> with Image.open(out) as image:
        ...     image.size, image.mode, int(np.asarray(image)[0, 0])
        ((6, 4), 'L', 8)
    """
    source, target = Path(source), Path(target)
    check_scale(scale)
    array, info = read_photo(source)
    photo_target_format(target, array.dtype, array.shape[0], info.alpha)
    colour = array[:-1] if info.alpha else array
    sr = checked_sr(resolve(colour.astype(np.float32)), colour.shape, scale, str(source))
    bands = [cast_to_dtype(sr, array.dtype)]
    if info.alpha:
        bands.append(upsample_nearest(array[-1:], scale))
    dpi = None if info.dpi is None else (info.dpi[0] * scale, info.dpi[1] * scale)
    return write_photo(target, np.concatenate(bands), dataclasses.replace(info, dpi=dpi))
