"""Perceptual (VGG19 feature) loss with weights from a local file, never downloaded.

The extractor keeps torchvision's VGG19 layout (``features.<index>.weight``), so the ImageNet
file torchvision uses (``vgg19-dcbbb4b3.pth``) loads as it is. Its weights are non-persistent
buffers: they follow the module to its device but are not trained and not written into
checkpoints.
"""

from __future__ import annotations

from collections.abc import Sequence
from pathlib import Path

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.errors import ConfigError

VGG19_CHANNELS = (64, 64, "M", 128, 128, "M", 256, 256, 256, 256, "M",
                  512, 512, 512, 512, "M", 512, 512, 512, 512, "M")  # fmt: skip
"""VGG19 ('E') feature stack: conv widths and max-pools ("M"), as in torchvision."""

VGG19_FILE = "vgg19-dcbbb4b3.pth"
"""File name of torchvision's ImageNet VGG19 weights."""

IMAGENET_MEAN = (0.485, 0.456, 0.406)
IMAGENET_STD = (0.229, 0.224, 0.225)


def vgg19_layer_indices() -> dict[str, int]:
    """Layer name -> index in torchvision's ``features`` (``conv1_1``, ``relu1_1``, ``pool5``)."""
    names: dict[str, int] = {}
    index, block, conv = 0, 1, 1
    for item in VGG19_CHANNELS:
        if item == "M":
            names[f"pool{block}"] = index
            index += 1
            block, conv = block + 1, 1
        else:
            names[f"conv{block}_{conv}"] = index
            names[f"relu{block}_{conv}"] = index + 1
            index += 2
            conv += 1
    return names


def default_weights_path() -> Path:
    """Where torch keeps hub downloads: ``<torch hub dir>/checkpoints/vgg19-dcbbb4b3.pth``."""
    return Path(torch.hub.get_dir()) / "checkpoints" / VGG19_FILE


class VGG19Features(nn.Module):
    """VGG19 feature maps at named layers (e.g. ``relu2_2``), for ``[B, 3, H, W]`` inputs.

    Args:
        layers: Layer names from :func:`vgg19_layer_indices`.
        state_dict: Weights in torchvision's layout (``features.N.weight``/``bias``); extra
            keys (the classifier) are ignored. None gives a random initialisation and must be
            asked for explicitly with ``random_init=True`` (tests only).
        random_init: Allow random weights when ``state_dict`` is None.
    """

    def __init__(
        self,
        layers: Sequence[str],
        state_dict: dict[str, torch.Tensor] | None = None,
        random_init: bool = False,
    ) -> None:
        super().__init__()
        names = vgg19_layer_indices()
        unknown = [name for name in layers if name not in names]
        if unknown:
            raise ConfigError(
                f"unknown VGG19 layers {unknown}; valid: relu1_1..relu5_4, conv1_1..conv5_4, "
                "pool1..pool5"
            )
        if state_dict is None and not random_init:
            raise ValueError("VGG19Features needs a state_dict (or random_init=True for tests)")
        self.layers = list(layers)
        self._targets = {names[name]: name for name in layers}
        self._last = max(self._targets)
        self._plan: list[tuple[str, int]] = []  # ("conv", buffer index) | ("relu"|"pool", -1)
        in_channels, index, conv_id = 3, 0, 0
        for item in VGG19_CHANNELS:
            if index > self._last:
                break
            if item == "M":
                self._plan.append(("pool", -1))
                index += 1
                continue
            out_channels = int(item)
            key = f"features.{index}"
            if state_dict is not None:
                weight, bias = _take(state_dict, key, (out_channels, in_channels, 3, 3))
            else:
                weight = torch.empty(out_channels, in_channels, 3, 3)
                nn.init.kaiming_normal_(weight, nonlinearity="relu")
                bias = torch.zeros(out_channels)
            self.register_buffer(f"weight{conv_id}", weight.float(), persistent=False)
            self.register_buffer(f"bias{conv_id}", bias.float(), persistent=False)
            self._plan += [("conv", conv_id), ("relu", -1)]
            in_channels, index, conv_id = out_channels, index + 2, conv_id + 1

    def forward(self, x: torch.Tensor) -> dict[str, torch.Tensor]:
        """Feature maps by layer name for ``x`` ``[B, 3, H, W]`` (ImageNet-normalised)."""
        features: dict[str, torch.Tensor] = {}
        for index, (kind, conv_id) in enumerate(self._plan):
            if kind == "conv":
                x = F.conv2d(
                    x, getattr(self, f"weight{conv_id}"), getattr(self, f"bias{conv_id}"), padding=1
                )
            elif kind == "relu":
                x = F.relu(x)
            else:
                x = F.max_pool2d(x, 2)
            if index in self._targets:
                features[self._targets[index]] = x
            if index == self._last:
                break
        return features


def _take(
    state_dict: dict[str, torch.Tensor], key: str, shape: tuple[int, ...]
) -> tuple[torch.Tensor, torch.Tensor]:
    weight, bias = state_dict.get(f"{key}.weight"), state_dict.get(f"{key}.bias")
    if weight is None or bias is None:
        raise ConfigError(
            f"VGG19 weights lack '{key}.weight'/'{key}.bias'; expected torchvision's VGG19 "
            f"layout ('features.<index>.weight'), found keys like {list(state_dict)[:3]}"
        )
    if tuple(weight.shape) != shape:
        raise ConfigError(
            f"VGG19 weights: '{key}.weight' has shape {tuple(weight.shape)}, expected {shape}"
        )
    return weight, bias


def load_vgg19_state_dict(path: str | Path | None) -> dict[str, torch.Tensor]:
    """Read VGG19 weights from ``path`` (or the torch hub cache when None).

    Raises:
        ConfigError: The file is missing (the message says which file to place where) or
            unreadable. Nothing is downloaded.
    """
    file = Path(path) if path is not None else default_weights_path()
    if not file.is_file():
        raise ConfigError(
            "Training.Losses.perceptual_weight > 0 needs ImageNet VGG19 weights, which are never "
            f"downloaded at run time. Place torchvision's '{VGG19_FILE}' at {file}, or set "
            "Training.Losses.perceptual.weights_path to a copy of it."
        )
    try:
        state = torch.load(file, map_location="cpu", weights_only=True)
    except Exception as exc:
        raise ConfigError(
            f"VGG19 weights {file} cannot be read ({type(exc).__name__}: {exc})"
        ) from None
    if not isinstance(state, dict):
        raise ConfigError(
            f"VGG19 weights {file}: expected a state dict, found {type(state).__name__}"
        )
    return state


class PerceptualLoss(nn.Module):
    """Weighted L1 (or MSE) between VGG19 features of SR and HR.

    Three bands feed VGG (``bands``; a single band is repeated three times); inputs are taken as
    0..1 images (the normalised units) and, with ``imagenet_normalize``, standardised with the
    ImageNet mean and std VGG was trained with.

    Args:
        extractor: The VGG19 feature extractor.
        layer_weights: Weight of each of the extractor's layers (same order).
        bands: Three band indices (or one) fed to VGG as R, G, B; None takes bands 0-2 (or 0).
        criterion: ``l1`` or ``mse`` between feature maps.
        imagenet_normalize: Standardise with ImageNet statistics.
    """

    mean: torch.Tensor
    std: torch.Tensor

    def __init__(
        self,
        extractor: VGG19Features,
        layer_weights: Sequence[float] | None = None,
        bands: Sequence[int] | None = None,
        criterion: str = "l1",
        imagenet_normalize: bool = True,
    ) -> None:
        super().__init__()
        self.extractor = extractor
        weights = (
            list(layer_weights) if layer_weights is not None else [1.0] * len(extractor.layers)
        )
        if len(weights) != len(extractor.layers):
            raise ConfigError(
                f"perceptual layer_weights has {len(weights)} values for "
                f"{len(extractor.layers)} layers"
            )
        self.layer_weights = dict(zip(extractor.layers, weights, strict=True))
        self.bands = list(bands) if bands is not None else None
        self.criterion = F.l1_loss if criterion == "l1" else F.mse_loss
        self.imagenet_normalize = imagenet_normalize
        self.register_buffer(
            "mean", torch.tensor(IMAGENET_MEAN).reshape(1, 3, 1, 1), persistent=False
        )
        self.register_buffer(
            "std", torch.tensor(IMAGENET_STD).reshape(1, 3, 1, 1), persistent=False
        )

    def _to_rgb(self, x: torch.Tensor) -> torch.Tensor:
        bands = self.bands if self.bands is not None else ([0, 1, 2] if x.shape[1] >= 3 else [0])
        if max(bands) >= x.shape[1]:
            raise ValueError(f"perceptual bands {bands} out of range for {x.shape[1]}-band input")
        x = x[:, bands]
        if x.shape[1] == 1:
            x = x.expand(-1, 3, -1, -1)
        return (x - self.mean) / self.std if self.imagenet_normalize else x

    def forward(self, sr: torch.Tensor, hr: torch.Tensor) -> torch.Tensor:
        """Weighted sum over layers of the feature distance; HR features carry no gradient."""
        sr_features = self.extractor(self._to_rgb(sr))
        with torch.no_grad():
            hr_features = self.extractor(self._to_rgb(hr))
        total = sr.new_zeros(())
        for name, weight in self.layer_weights.items():
            total = total + weight * self.criterion(sr_features[name], hr_features[name])
        return total
