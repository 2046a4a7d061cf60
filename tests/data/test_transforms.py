import pytest
import torch

from ganlab.data.transforms import (
    downsample,
    paired_augment,
    paired_center_crop,
    paired_random_crop,
)


def _pair(scale: int) -> tuple[torch.Tensor, torch.Tensor]:
    hr = torch.rand(3, 48, 72)
    return downsample(hr, scale, "area"), hr


@pytest.mark.parametrize("scale", [2, 3, 4])
def test_random_crop_is_aligned(scale: int) -> None:
    lr, hr = _pair(scale)
    generator = torch.Generator().manual_seed(1)
    for _ in range(10):
        lr_crop, hr_crop, (top, left, height, width) = paired_random_crop(
            lr, hr, scale, 12, generator
        )
        assert hr_crop.shape[-2:] == (height, width)
        assert lr_crop.shape[-1] * scale == hr_crop.shape[-1]
        assert top % scale == 0 and left % scale == 0
        # HR crop = HR at the window; LR crop = LR at the window / scale (same place)
        assert torch.equal(hr_crop, hr[:, top : top + height, left : left + width])
        assert torch.equal(
            lr_crop,
            lr[:, top // scale : (top + height) // scale, left // scale : (left + width) // scale],
        )
        torch.testing.assert_close(downsample(hr_crop, scale, "area"), lr_crop)


def test_random_crop_is_seedable_and_varies() -> None:
    lr, hr = _pair(4)
    windows = [
        paired_random_crop(lr, hr, 4, 16, torch.Generator().manual_seed(3))[2] for _ in range(2)
    ]
    assert windows[0] == windows[1]
    generator = torch.Generator().manual_seed(3)
    assert len({paired_random_crop(lr, hr, 4, 16, generator)[2] for _ in range(20)}) > 1


def test_center_crop_and_whole_image() -> None:
    lr, hr = _pair(4)
    lr_crop, hr_crop, window = paired_center_crop(lr, hr, 4, 16)
    assert window == (16, 28, 16, 16)
    torch.testing.assert_close(downsample(hr_crop, 4, "area"), lr_crop)
    _, whole, window = paired_center_crop(lr, hr, 4, None)
    assert torch.equal(whole, hr) and window == (0, 0, 48, 72)


def test_crop_errors() -> None:
    lr, hr = _pair(4)
    with pytest.raises(ValueError, match=r"is smaller than the \d+x\d+ crop"):
        paired_random_crop(lr, hr, 4, 256)
    with pytest.raises(ValueError, match="is not LR size"):
        paired_random_crop(lr[:, :5], hr, 4, 16)


def test_augment_applies_same_transform_to_both() -> None:
    hr = torch.arange(2 * 16 * 16, dtype=torch.float32).reshape(2, 16, 16)
    lr = downsample(hr, 2, "area")
    for seed in range(8):
        lr_aug, hr_aug = paired_augment(lr, hr, torch.Generator().manual_seed(seed))
        torch.testing.assert_close(downsample(hr_aug, 2, "area"), lr_aug)


def test_downsample_methods() -> None:
    hr = torch.rand(2, 3, 32, 32)
    area = downsample(hr, 4, "area")
    torch.testing.assert_close(area[0, 0, 0, 0], hr[0, 0, :4, :4].mean())
    assert downsample(hr, 4, "bicubic").shape == (2, 3, 8, 8)
    with pytest.raises(ValueError, match="unknown downsampling"):
        downsample(hr, 4, "lanczos")
