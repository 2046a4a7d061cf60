"""Check before any work that the configured networks can process the configured crops.

Both networks are built on PyTorch's ``meta`` device (no memory, no computation) and run on
``meta`` tensors of the training (and validation) crop sizes, so a discriminator too deep for
the crop, a window that does not fit, or any other shape error shows up when the config is
read, not after data loading and set-up.
"""

from __future__ import annotations

import torch
from torch import nn

from ganlab.config.schema import Config
from ganlab.errors import ConfigError
from ganlab.models.discriminators import build_discriminator
from ganlab.models.generators import build_generator


def _dry_run(network: nn.Module, shape: tuple[int, ...]) -> None:
    with torch.no_grad():
        network(torch.empty(shape, device="meta"))


def check_networks_fit(config: Config) -> None:
    """Run both networks on ``meta`` tensors of the crop sizes the config asks for.

    The generator gets the LR training crop (``Data.hr_patch_size / scale``) and, when set,
    the LR validation crop; the discriminator gets the HR training crop; each a batch of
    ``Data.batch_size``, in training mode. Code that cannot run on ``meta`` (an operation
    without a ``meta`` implementation, ``.item()`` in a plugin network) skips the check of that
    network.

    Raises:
        ConfigError: A network cannot process its crop; the message names the network, the
            crop and the network's own explanation.
    """
    scale = config.Generator.scaling_factor
    data, model = config.Data, config.Model
    crops = [("training", data.hr_patch_size)]
    if data.val_patch_size is not None:
        crops.append(("validation", data.val_patch_size))
    try:
        with torch.device("meta"):
            generator = build_generator(config)
            discriminator = build_discriminator(config)
    except Exception:
        return  # a network that cannot be built on meta is checked when it is really built
    batch = data.batch_size  # batch-norm layers need more than one value per channel
    checks: list[tuple[str, nn.Module, tuple[int, ...], str]] = [
        (
            f"Generator {config.Generator.model_type}",
            generator,
            (batch, model.in_bands, side // scale, side // scale),
            f"the {kind} LR crop of {side // scale}x{side // scale} (Data."
            f"{'hr' if kind == 'training' else 'val'}_patch_size {side} / scale {scale})",
        )
        for kind, side in crops
    ]
    side = data.hr_patch_size
    checks.append(
        (
            f"Discriminator {config.Discriminator.model_type}",
            discriminator,
            (batch, model.sr_bands, side, side),
            f"the HR training crop of {side}x{side} (Data.hr_patch_size)",
        )
    )
    for name, network, shape, crop in checks:
        try:
            _dry_run(network, shape)
        except NotImplementedError:
            continue  # an operation without a meta implementation: cannot check here
        except (RuntimeError, ValueError) as exc:
            if "meta" in str(exc).lower():
                continue  # data-dependent code (e.g. .item()) that meta tensors cannot run
            raise ConfigError(f"{name} cannot process {crop}: {exc}") from None
        except Exception:
            continue  # anything else shows when the network really runs
