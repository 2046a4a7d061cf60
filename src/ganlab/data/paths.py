"""Data paths: the bundled sample sets (``sample://NAME/SPLIT``), image discovery, manifests.

A file can hold several images (NIfTI slices, DICOM frames): :func:`expand_images` turns files
into one :class:`~ganlab.data.readers.ImageRef` per 2-D image.
"""

from __future__ import annotations

import csv
import json
import logging
from collections.abc import Sequence
from importlib import resources
from pathlib import Path

import torch

from ganlab.data.readers import READERS, ImageRef, ReadOptions, file_suffix, read_info
from ganlab.errors import DataError

log = logging.getLogger(__name__)

SAMPLE_SCHEME = "sample://"
MULTI_IMAGE_SUFFIXES = (".nii", ".nii.gz", ".dcm")


def sample_root() -> Path:
    """Folder of the sample sets shipped inside the package."""
    return Path(str(resources.files("ganlab") / "sample_data"))


def _expand_sample(value: str, key: str) -> Path:
    path = sample_root() / value[len(SAMPLE_SCHEME) :]
    if not path.exists():
        available = sorted(
            f"{SAMPLE_SCHEME}{p.parent.name}/{p.name}"
            for p in sample_root().glob("*/*")
            if p.is_dir()
        )
        raise DataError(f"{key}: no bundled sample folder {value!r}; available: {available}")
    return path


def resolve_data_path(value: str, key: str) -> Path:
    """Resolve a configured folder, expanding ``sample://`` to the bundled sample data.

    Args:
        value: The configured path.
        key: The config key it came from, for error messages (e.g. ``Data.train_dir``).

    Raises:
        DataError: The folder does not exist.
    """
    if value.startswith(SAMPLE_SCHEME):
        return _expand_sample(value, key)
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataError(f"{key}: folder {path} does not exist (resolved to {path.resolve()})")
    return path


def resolve_data_file(value: str, key: str) -> Path:
    """Resolve a configured file (e.g. a manifest); ``sample://`` works as for folders.

    Raises:
        DataError: The file does not exist.
    """
    path = _expand_sample(value, key) if value.startswith(SAMPLE_SCHEME) else Path(value)
    path = path.expanduser()
    if not path.is_file():
        raise DataError(f"{key}: file {path} does not exist (resolved to {path.resolve()})")
    return path


def list_images(folder: Path, key: str, suffixes: Sequence[str] | None = None) -> list[Path]:
    """Image files directly in ``folder``, sorted by name.

    Args:
        folder: The folder.
        key: Config key, for messages.
        suffixes: Accepted suffixes; None accepts every readable type.

    Raises:
        DataError: The folder holds no supported image.
    """
    accepted = tuple(suffixes) if suffixes is not None else tuple(READERS)
    files = sorted(p for p in folder.iterdir() if p.is_file() and file_suffix(p) in accepted)
    if not files:
        others = sorted(p.name for p in folder.iterdir() if p.is_file())
        found = (
            f"; it holds only {', '.join(others[:3])}{' ...' if len(others) > 3 else ''}"
            if others
            else "; it is empty"
        )
        raise DataError(
            f"{key}: folder {folder} holds no images with a supported suffix "
            f"({', '.join(sorted(accepted))}){found}"
        )
    return files


def expand_images(files: Sequence[Path], options: ReadOptions) -> list[ImageRef]:
    """One reference per 2-D image: every slice of a NIfTI volume, every DICOM frame.

    Raises:
        DataError: A multi-image file cannot be read (names it).
    """
    refs: list[ImageRef] = []
    for path in files:
        if file_suffix(path) in MULTI_IMAGE_SUFFIXES:
            count = read_info(path, options).count
            if file_suffix(path) == ".dcm" and count == 1:
                refs.append(ImageRef(path))
            else:
                refs.extend(ImageRef(path, i) for i in range(count))
        else:
            refs.append(ImageRef(path))
    return refs


def read_manifest(path: Path, key: str) -> list[tuple[Path, Path]]:
    """``(lr, hr)`` file pairs from a CSV (columns ``lr``, ``hr``) or JSON manifest.

    JSON is a list of ``{"lr": ..., "hr": ...}`` objects (or of ``[lr, hr]`` lists). Relative
    paths are taken from the manifest's folder.

    Raises:
        DataError: Unreadable manifest, missing columns, or no pairs (names the file).
    """
    try:
        text = path.read_text(encoding="utf-8")
    except OSError as exc:
        raise DataError(f"{key}: manifest {path} cannot be read ({exc})") from exc
    rows: list[tuple[str, str]] = []
    if path.suffix.lower() == ".json":
        try:
            entries = json.loads(text)
        except json.JSONDecodeError as exc:
            raise DataError(f"{key}: manifest {path} is not valid JSON ({exc})") from exc
        for number, entry in enumerate(entries if isinstance(entries, list) else [None]):
            if isinstance(entry, dict) and "lr" in entry and "hr" in entry:
                rows.append((str(entry["lr"]), str(entry["hr"])))
            elif isinstance(entry, list) and len(entry) == 2:
                rows.append((str(entry[0]), str(entry[1])))
            else:
                raise DataError(
                    f'{key}: manifest {path}, entry {number}: expected {{"lr": ..., "hr": ...}}'
                )
    else:
        reader = csv.DictReader(text.splitlines())
        if reader.fieldnames is None or not {"lr", "hr"} <= set(reader.fieldnames):
            raise DataError(
                f"{key}: manifest {path} needs a header row with columns 'lr' and 'hr' "
                f"(found {reader.fieldnames})"
            )
        rows = [(row["lr"], row["hr"]) for row in reader]
    if not rows:
        raise DataError(f"{key}: manifest {path} lists no pairs")
    base = path.parent
    return [(base / Path(lr).expanduser(), base / Path(hr).expanduser()) for lr, hr in rows]


def match_by_stem(
    lr_files: Sequence[Path],
    hr_files: Sequence[Path],
    lr_key: str,
    hr_key: str,
    skip_unmatched: bool = False,
    max_bad_fraction: float = 0.0,
) -> list[tuple[Path, Path]]:
    """Pair LR and HR files with the same stem (``a.tif`` with ``a.png``; ``x.nii.gz`` -> x).

    Args:
        lr_files: Low-resolution files.
        hr_files: High-resolution files.
        lr_key: Config key of the LR folder, for messages.
        hr_key: Config key of the HR folder.
        skip_unmatched: Log files without a partner once and leave them out
            (``Data.on_bad_sample: skip``) instead of raising.
        max_bad_fraction: With ``skip_unmatched``: raise when more than this fraction of the
            files has no partner.

    Raises:
        DataError: Files without a partner (lists a few of them), or too many of them.
    """

    def stem(path: Path) -> str:
        return path.name[: -len(file_suffix(path))] if file_suffix(path) else path.name

    lr_by_stem = {stem(p): p for p in lr_files}
    hr_by_stem = {stem(p): p for p in hr_files}
    missing_hr = sorted(set(lr_by_stem) - set(hr_by_stem))
    missing_lr = sorted(set(hr_by_stem) - set(lr_by_stem))
    unmatched = [str(lr_by_stem[s]) for s in missing_hr] + [str(hr_by_stem[s]) for s in missing_lr]
    total = len(set(lr_by_stem) | set(hr_by_stem))
    too_many = total and len(unmatched) / total > max_bad_fraction
    if unmatched and (not skip_unmatched or too_many):
        parts = []
        if missing_hr:
            parts.append(f"no {hr_key} file for {[str(lr_by_stem[s]) for s in missing_hr[:3]]}")
        if missing_lr:
            parts.append(f"no {lr_key} file for {[str(hr_by_stem[s]) for s in missing_lr[:3]]}")
        limit = f" (more than Data.max_bad_fraction={max_bad_fraction})" if skip_unmatched else ""
        raise DataError(
            f"{len(unmatched)} file(s) without a partner of the same name{limit}: "
            f"{'; '.join(parts)}; LR and HR files are matched by file name without suffix"
        )
    for path in unmatched:
        log.warning("skipping bad sample (Data.on_bad_sample=skip): %s has no partner", path)
    return [(lr_by_stem[s], hr_by_stem[s]) for s in sorted(set(lr_by_stem) & set(hr_by_stem))]


def split_fraction(count: int, fraction: float, seed: int) -> tuple[list[int], list[int]]:
    """Indices of a reproducible train/val split: ``round(count * fraction)`` (>= 1) for val.

    Raises:
        DataError: Too few items to hold any out.
    """
    val_count = max(1, round(count * fraction))
    if count < 2 or val_count >= count:
        raise DataError(
            f"Data.val_fraction={fraction}: cannot split {count} training item(s); add data or "
            "set Data.val_dir"
        )
    order = torch.randperm(count, generator=torch.Generator().manual_seed(seed)).tolist()
    return sorted(order[val_count:]), sorted(order[:val_count])
