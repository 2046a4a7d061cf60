"""Data paths: the bundled sample sets (``sample://NAME/SPLIT``) and image discovery."""

from __future__ import annotations

from importlib import resources
from pathlib import Path

from ganlab.data.readers import READERS
from ganlab.errors import DataError

SAMPLE_SCHEME = "sample://"


def sample_root() -> Path:
    """Folder of the sample sets shipped inside the package."""
    return Path(str(resources.files("ganlab") / "sample_data"))


def resolve_data_path(value: str, key: str) -> Path:
    """Resolve a configured folder, expanding ``sample://`` to the bundled sample data.

    Args:
        value: The configured path.
        key: The config key it came from, for error messages (e.g. ``Data.train_dir``).

    Raises:
        DataError: The folder does not exist.
    """
    if value.startswith(SAMPLE_SCHEME):
        path = sample_root() / value[len(SAMPLE_SCHEME) :]
        if not path.is_dir():
            available = sorted(
                f"{SAMPLE_SCHEME}{p.parent.name}/{p.name}"
                for p in sample_root().glob("*/*")
                if p.is_dir()
            )
            raise DataError(f"{key}: no bundled sample folder {value!r}; available: {available}")
        return path
    path = Path(value).expanduser()
    if not path.is_dir():
        raise DataError(f"{key}: folder {path} does not exist (resolved to {path.resolve()})")
    return path


def list_images(folder: Path, key: str) -> list[Path]:
    """Image files directly in ``folder``, sorted by name.

    Raises:
        DataError: The folder holds no supported image.
    """
    files = sorted(p for p in folder.iterdir() if p.is_file() and p.suffix.lower() in READERS)
    if not files:
        raise DataError(
            f"{key}: folder {folder} holds no images with a supported suffix "
            f"({', '.join(sorted(READERS))})"
        )
    return files
