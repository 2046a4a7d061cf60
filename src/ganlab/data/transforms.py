"""Paired transforms: crops and flips applied identically to the LR and HR branches.

A window is ``(top, left, height, width)`` in HR pixels; the LR window is the HR window divided
by ``scale``, so an LR pixel ``(i, j)`` always covers HR pixels ``[i*s:(i+1)*s, j*s:(j+1)*s]``.
"""

from __future__ import annotations

import torch
import torch.nn.functional as F

Window = tuple[int, int, int, int]


def _check_pair(lr: torch.Tensor, hr: torch.Tensor, scale: int) -> None:
    if hr.shape[-2] != lr.shape[-2] * scale or hr.shape[-1] != lr.shape[-1] * scale:
        raise ValueError(
            f"HR size {tuple(hr.shape[-2:])} is not LR size {tuple(lr.shape[-2:])} x {scale}"
        )


def paired_random_crop(
    lr: torch.Tensor,
    hr: torch.Tensor,
    scale: int,
    hr_size: int,
    generator: torch.Generator | None = None,
) -> tuple[torch.Tensor, torch.Tensor, Window]:
    """Crop the same place from both branches at a random position.

    Args:
        lr: ``[C, h, w]`` low-resolution image.
        hr: ``[C', h*scale, w*scale]`` high-resolution image.
        scale: Upscaling factor.
        hr_size: Side of the HR crop; a multiple of ``scale``.
        generator: Random source; None uses torch's global random state.

    Returns:
        ``(lr_crop, hr_crop, hr_window)``.
    """
    _check_pair(lr, hr, scale)
    lr_size = hr_size // scale
    height, width = lr.shape[-2:]
    if height < lr_size or width < lr_size:
        raise ValueError(
            f"image of HR size {hr.shape[-2]}x{hr.shape[-1]} is smaller than the "
            f"{hr_size}x{hr_size} crop"
        )
    top = int(torch.randint(0, height - lr_size + 1, (1,), generator=generator))
    left = int(torch.randint(0, width - lr_size + 1, (1,), generator=generator))
    return _crop(lr, hr, scale, top, left, lr_size, lr_size)


def paired_center_crop(
    lr: torch.Tensor, hr: torch.Tensor, scale: int, hr_size: int | None
) -> tuple[torch.Tensor, torch.Tensor, Window]:
    """Crop the centre of both branches; ``hr_size=None`` keeps the whole image."""
    _check_pair(lr, hr, scale)
    height, width = lr.shape[-2:]
    if hr_size is None:
        return _crop(lr, hr, scale, 0, 0, height, width)
    lr_size = hr_size // scale
    if height < lr_size or width < lr_size:
        raise ValueError(
            f"image of HR size {hr.shape[-2]}x{hr.shape[-1]} is smaller than the "
            f"{hr_size}x{hr_size} crop"
        )
    return _crop(lr, hr, scale, (height - lr_size) // 2, (width - lr_size) // 2, lr_size, lr_size)


def _crop(
    lr: torch.Tensor, hr: torch.Tensor, scale: int, top: int, left: int, height: int, width: int
) -> tuple[torch.Tensor, torch.Tensor, Window]:
    lr_crop = lr[..., top : top + height, left : left + width]
    hr_crop = hr[..., top * scale : (top + height) * scale, left * scale : (left + width) * scale]
    return lr_crop, hr_crop, (top * scale, left * scale, height * scale, width * scale)


def paired_augment(
    lr: torch.Tensor, hr: torch.Tensor, generator: torch.Generator | None = None
) -> tuple[torch.Tensor, torch.Tensor]:
    """Random horizontal flip, vertical flip and 90-degree rotation, same for both branches."""
    flip_h, flip_v, rotate = (torch.rand(3, generator=generator) < 0.5).tolist()
    if flip_h:
        lr, hr = lr.flip(-1), hr.flip(-1)
    if flip_v:
        lr, hr = lr.flip(-2), hr.flip(-2)
    if rotate:
        lr, hr = lr.rot90(1, (-2, -1)), hr.rot90(1, (-2, -1))
    return lr.contiguous(), hr.contiguous()


def downsample(hr: torch.Tensor, scale: int, method: str) -> torch.Tensor:
    """Make a low-resolution image from ``hr`` (``[C, H, W]`` or ``[B, C, H, W]``, float).

    ``area`` averages each ``scale x scale`` block (a sensor footprint); ``bicubic`` is
    antialiased bicubic. H and W must be multiples of ``scale``.
    """
    batched = hr if hr.ndim == 4 else hr[None]
    if method == "area":
        lr = F.avg_pool2d(batched, scale)
    elif method == "bicubic":
        size = (batched.shape[-2] // scale, batched.shape[-1] // scale)
        lr = F.interpolate(batched, size=size, mode="bicubic", antialias=True, align_corners=False)
    else:
        raise ValueError(f"unknown downsampling method {method!r}; use 'area' or 'bicubic'")
    return lr if hr.ndim == 4 else lr[0]


def random_window(
    height: int, width: int, size: int, scale: int, generator: torch.Generator | None = None
) -> Window:
    """A random ``size x size`` HR window whose corner lies on the LR grid (multiples of scale).

    Args:
        height: Image rows (HR pixels).
        width: Image columns (HR pixels).
        size: Window side (HR pixels), a multiple of ``scale``.
        scale: Upscaling factor.
        generator: Random source; None uses torch's global random state.

    Raises:
        ValueError: The image is smaller than the window.
    """
    if height < size or width < size:
        raise ValueError(
            f"image of HR size {height}x{width} is smaller than the {size}x{size} crop"
        )
    rows = (height - size) // scale + 1
    cols = (width - size) // scale + 1
    top = int(torch.randint(0, rows, (1,), generator=generator)) * scale
    left = int(torch.randint(0, cols, (1,), generator=generator)) * scale
    return top, left, size, size


def center_window(height: int, width: int, size: int | None, scale: int) -> Window:
    """The centre ``size x size`` HR window on the LR grid; ``size=None`` is the whole image.

    Raises:
        ValueError: The image is smaller than the window.
    """
    if size is None:
        return 0, 0, height - height % scale, width - width % scale
    if height < size or width < size:
        raise ValueError(
            f"image of HR size {height}x{width} is smaller than the {size}x{size} crop"
        )
    top = (height // scale - size // scale) // 2 * scale
    left = (width // scale - size // scale) // 2 * scale
    return top, left, size, size


def augment(image: torch.Tensor, generator: torch.Generator | None = None) -> torch.Tensor:
    """Random horizontal flip, vertical flip and 90-degree rotation of one ``[C, H, W]`` image."""
    flip_h, flip_v, rotate = (torch.rand(3, generator=generator) < 0.5).tolist()
    if flip_h:
        image = image.flip(-1)
    if flip_v:
        image = image.flip(-2)
    if rotate:
        image = image.rot90(1, (-2, -1))
    return image.contiguous()


def shift_transform(
    transform: tuple[float, ...] | None, top: int, left: int
) -> tuple[float, ...] | None:
    """The affine ``(a, b, c, d, e, f)`` of a window starting at pixel ``(top, left)``."""
    if transform is None:
        return None
    a, b, c, d, e, f = transform[:6]
    return (a, b, a * left + b * top + c, d, e, d * left + e * top + f)
