"""Loading generator weights with precise errors, and adapting weights to other band counts.

Band adaptation rule (only the conv reading the input bands, ``head``, and the conv writing the
output bands, ``tail``, depend on the band counts):

- **Input conv** ``weight [C, B_old, k, k] -> [C, B_new, k, k]``. More bands: every new band
  gets the mean of the existing band kernels, then all kernels are multiplied by
  ``B_old / B_new``. Fewer bands: the first ``B_new`` kernels are kept and the sum of the
  dropped kernels is spread equally over them. Either way the sum over bands is unchanged, so
  the response to a constant image (the same value in every band) is preserved exactly.
- **Output conv** ``weight [B_old, C, k, k], bias [B_old]``. More bands: every new band gets
  the mean of the existing output kernels and biases (it starts as the mean of the old output
  bands). Fewer bands: the first ``B_new`` are kept.

Example (RGB weights to a 4-band generator): the first conv's kernels become
``[R, G, B, mean(R, G, B)] * 3/4`` and the fourth output band starts as the mean of R, G, B.
"""

from __future__ import annotations

from collections.abc import Mapping

import torch
from torch import nn

from ganlab.errors import CheckpointError

_SHOWN = 20


class WeightLoadError(CheckpointError):
    """A state dict does not fit a model; the message names the layers."""


def adapt_input_kernels(weight: torch.Tensor, bands: int) -> torch.Tensor:
    """Adapt a first-conv weight ``[C, B_old, k, k]`` to ``bands`` input bands (module rule)."""
    old = weight.shape[1]
    if bands == old:
        return weight
    if bands > old:
        extra = weight.mean(dim=1, keepdim=True).expand(-1, bands - old, -1, -1)
        return torch.cat([weight, extra], dim=1) * (old / bands)
    dropped = weight[:, bands:].sum(dim=1, keepdim=True)
    return weight[:, :bands] + dropped / bands


def adapt_output_kernels(
    weight: torch.Tensor, bias: torch.Tensor | None, bands: int
) -> tuple[torch.Tensor, torch.Tensor | None]:
    """Adapt a last-conv weight ``[B_old, C, k, k]`` and bias ``[B_old]`` to ``bands`` outputs."""
    old = weight.shape[0]
    if bands <= old:
        return weight[:bands], None if bias is None else bias[:bands]
    weight = torch.cat([weight, weight.mean(dim=0, keepdim=True).expand(bands - old, -1, -1, -1)])
    if bias is not None:
        bias = torch.cat([bias, bias.mean().expand(bands - old)])
    return weight, bias


def adapt_band_weights(
    generator: nn.Module, state_dict: Mapping[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """A copy of ``state_dict`` with the band-dependent convs adapted to ``generator``.

    Args:
        generator: A generator with ``band_layers()`` (all built-ins), ``in_bands`` and
            ``out_bands``.
        state_dict: Weights trained with possibly other band counts.

    Raises:
        WeightLoadError: The generator does not name its band layers.
    """
    band_layers = getattr(generator, "band_layers", None)
    if band_layers is None:
        raise WeightLoadError(
            f"{type(generator).__name__} cannot adapt band counts: it has no band_layers() "
            "naming its first and last conv"
        )
    first, last = band_layers()
    in_bands, out_bands = (getattr(generator, name, None) for name in ("in_bands", "out_bands"))
    if not isinstance(in_bands, int) or not isinstance(out_bands, int):
        raise WeightLoadError(
            f"{type(generator).__name__} cannot adapt band counts: it does not expose integer "
            "in_bands and out_bands"
        )
    state = dict(state_dict)
    key = f"{first}.weight"
    if key in state and state[key].ndim == 4:
        state[key] = adapt_input_kernels(state[key], in_bands)
    key, bias_key = f"{last}.weight", f"{last}.bias"
    if key in state and state[key].ndim == 4:
        state[key], bias = adapt_output_kernels(state[key], state.get(bias_key), out_bands)
        if bias is not None:
            state[bias_key] = bias
    return state


def _listed(label: str, items: list[str]) -> str:
    more = f"\n    ... and {len(items) - _SHOWN} more" if len(items) > _SHOWN else ""
    return f"  {label} ({len(items)}):\n" + "\n".join(f"    {i}" for i in items[:_SHOWN]) + more


def _prefix_hint(missing: list[str], unexpected: list[str]) -> str:
    """Suggest ``prefix=`` when the weights carry a prefix such as ``generator.``."""
    for key in missing:
        for other in unexpected:
            if other.endswith("." + key):
                prefix = other[: -len(key)]
                return (
                    f"\n  the weights seem to carry the prefix {prefix!r}; pass prefix={prefix!r}"
                )
    return ""


def state_dict_problems(
    own: Mapping[str, torch.Tensor], state_dict: Mapping[str, torch.Tensor], source: str
) -> list[str]:
    """Missing keys, unexpected keys and shape mismatches of ``state_dict`` against ``own``
    (a model's state dict), one listing each, by name; empty when they fit exactly.

    Args:
        own: What the model expects.
        state_dict: What was read.
        source: What was read, for the messages ("weights", "checkpoint").
    """
    missing = sorted(set(own) - set(state_dict))
    unexpected = sorted(set(state_dict) - set(own))
    mismatched = [
        f"{key}: {source} {tuple(state_dict[key].shape)} vs model {tuple(own[key].shape)}"
        for key in sorted(set(own) & set(state_dict))
        if tuple(state_dict[key].shape) != tuple(own[key].shape)
    ]
    problems = [
        _listed(label, items)
        for label, items in (
            (f"missing in the {source}", missing),
            (f"in the {source} but not in the model", unexpected),
            ("shape mismatch", mismatched),
        )
        if items
    ]
    if problems:
        problems.append(_prefix_hint(missing, unexpected).lstrip("\n"))
    return [problem for problem in problems if problem]


def check_state_dict(model: nn.Module, state_dict: Mapping[str, torch.Tensor]) -> None:
    """Raise unless ``state_dict`` has exactly ``model``'s keys and shapes.

    Raises:
        WeightLoadError: Lists missing keys, unexpected keys and shape mismatches by name.
    """
    problems = state_dict_problems(model.state_dict(), state_dict, "weights")
    if not problems:
        return
    band_layers = getattr(model, "band_layers", None)
    mismatched = [line for line in problems if line.startswith("  shape mismatch")]
    if mismatched and band_layers is not None:
        names = band_layers()
        if any(f"\n    {name}." in mismatched[0] for name in names):
            problems.append(
                "  the first/last conv differ: weights trained with another band count can be "
                "adapted with adapt_bands=True"
            )
    raise WeightLoadError(f"weights do not fit {type(model).__name__}:\n" + "\n".join(problems))


def _match_wrapping(
    generator: nn.Module, state: dict[str, torch.Tensor]
) -> dict[str, torch.Tensor]:
    """Weights of a plain generator for one wrapped by the LR-consistency layer (keys under
    ``network.``) and the other way round, so the layer can be added to or removed from a
    trained network."""
    prefix = getattr(generator, "wrapped_prefix", None)
    if prefix and state and not any(key.startswith(prefix) for key in state):
        return {prefix + key: value for key, value in state.items()}
    wrapped = "network."
    if not prefix and state and all(key.startswith(wrapped) for key in state):
        own = generator.state_dict()
        if not any(key.startswith(wrapped) for key in own):
            return {key[len(wrapped) :]: value for key, value in state.items()}
    return state


def load_generator_weights(
    generator: nn.Module,
    state_dict: Mapping[str, torch.Tensor],
    *,
    adapt_bands: bool = False,
    prefix: str = "",
) -> None:
    """Load ``state_dict`` into ``generator`` strictly, with a precise error otherwise.

    Args:
        generator: The built generator.
        state_dict: Its weights, e.g. from an exported file or ``checkpoint["state_dict"]``.
        adapt_bands: Adapt the first/last conv to the generator's band counts (see the module
            docstring for the rule), e.g. to start a 4-band model from RGB weights.
        prefix: Only keys starting with it are used, with it removed (``"generator."`` for a
            training checkpoint of the whole module).

    Raises:
        WeightLoadError: Missing or unexpected keys or shape mismatches, each by layer name.

    Example:
        >>> from ganlab.models.generators import SRResNet
        >>> rgb = SRResNet(3, 3, n_channels=8, n_blocks=1)
        >>> four = SRResNet(4, 4, n_channels=8, n_blocks=1)
        >>> load_generator_weights(four, rgb.state_dict(), adapt_bands=True)
    """
    state = dict(state_dict)
    if prefix:
        state = {
            key[len(prefix) :]: value for key, value in state.items() if key.startswith(prefix)
        }
    state = _match_wrapping(generator, state)
    if adapt_bands:
        state = adapt_band_weights(generator, state)
    check_state_dict(generator, state)
    generator.load_state_dict(state)
