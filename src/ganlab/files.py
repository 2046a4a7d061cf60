"""Writing files so that a crash, ``kill -9`` or a full disk never leaves a truncated file under
the final name: :func:`atomic_write`."""

from __future__ import annotations

import contextlib
import os
import re
from collections.abc import Callable
from pathlib import Path

from safetensors import SafetensorError

from ganlab.errors import OutputError

PARTIAL_SUFFIX = ".partial"
"""Suffix of the temporary file beside the target while it is written."""


def current_umask() -> int:
    """The process's file-mode creation mask (read without changing it where Linux allows)."""
    with contextlib.suppress(OSError), open("/proc/self/status", encoding="ascii") as status:
        match = re.search(r"^Umask:\s*([0-7]+)$", status.read(), re.M)
        if match:
            return int(match.group(1), 8)
    mask = os.umask(0)
    os.umask(mask)
    return mask


def atomic_write(path: str | Path, write: Callable[[Path], object], what: str = "file") -> Path:
    """Write ``path`` through ``write(temporary path)``, then rename it into place.

    The temporary file (``<name>.<pid>.partial`` in the same folder) is flushed to disk and given
    the permissions a plain write would give (``0o666`` minus the umask; some writers create
    ``0o600`` files) before the rename, so the final name holds either the previous complete
    file or the new complete one. On failure the temporary file is removed and the previous
    file is left as it was.

    Args:
        path: The file to write.
        write: Writes the content to the path it is given.
        what: What the file is, for the error message (e.g. ``checkpoint``).

    Returns:
        ``path``.

    Raises:
        OutputError: The folder or the file cannot be written (not writable, disk full); the
            message names the file and says the previous one is intact.

    Example:
        >>> import tempfile
        >>> target = Path(tempfile.mkdtemp()) / "notes.txt"
        >>> _ = atomic_write(target, lambda tmp: tmp.write_text("done"))
        >>> target.read_text(), sorted(p.name for p in target.parent.iterdir())
        ('done', ['notes.txt'])
    """
    path = Path(path)
    # the process id keeps concurrent writers (ranks, runs) off each other's temporary file
    partial = path.with_name(f"{path.name}.{os.getpid()}{PARTIAL_SUFFIX}")
    try:
        path.parent.mkdir(parents=True, exist_ok=True)
        write(partial)
        with open(partial, "rb") as file:
            os.fsync(file.fileno())
        os.chmod(partial, 0o666 & ~current_umask())
        os.replace(partial, path)
    except (OSError, RuntimeError, SafetensorError) as exc:
        # writers report a full disk or a size limit as OSError (plain files), RuntimeError
        # (torch.save) or SafetensorError
        with contextlib.suppress(OSError):
            partial.unlink()
        previous = "; the previous one is intact" if path.exists() else ""
        reason = (exc.strerror if isinstance(exc, OSError) else None) or str(exc)
        raise OutputError(
            f"could not write {what} {path} ({reason}){previous}; free disk space or make the "
            "folder writable"
        ) from exc
    except BaseException:
        with contextlib.suppress(OSError):
            partial.unlink()
        raise
    return path
