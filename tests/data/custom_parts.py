"""A custom dataset and a custom normaliser pair, loaded by ``package.module:Name``."""

from __future__ import annotations

import torch
from torch.utils.data import Dataset

from ganlab.config import Config


class ConstantDataset(Dataset):
    """Items of constant value; ``split`` decides how many."""

    def __init__(self, config: Config, split: str) -> None:
        self.scale = config.Generator.scaling_factor
        self.bands = config.Model.in_bands
        self.size = config.Data.hr_patch_size
        self.count = 4 if split == "train" else 2

    def __len__(self) -> int:
        return self.count

    def __getitem__(self, index: int) -> dict:
        hr = torch.full((self.bands, self.size, self.size), float(index + 1))
        lr = hr[:, :: self.scale, :: self.scale].clone()
        return {"lr": lr, "hr": hr, "meta": {"path": f"constant-{index}", "scale": self.scale}}


def log_forward(x: torch.Tensor) -> torch.Tensor:
    """log1p of non-negative values."""
    return torch.log1p(x)


def log_inverse(y: torch.Tensor) -> torch.Tensor:
    """Inverse of :func:`log_forward`."""
    return torch.expm1(y)
