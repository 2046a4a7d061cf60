"""A light SwinIR-style generator: shifted-window self-attention in residual groups."""

from __future__ import annotations

import torch
import torch.nn.functional as F
from torch import nn

from ganlab.config.schema import Config
from ganlab.models.blocks import UpsamplingName, conv
from ganlab.models.generators.base import GENERATORS, GlobalSkip, SRGenerator, common_kwargs
from ganlab.models.generators.rcan import group_sizes
from ganlab.models.initialization import transformer_init_


def window_partition(x: torch.Tensor, window: int) -> torch.Tensor:
    """``[B, H, W, C] -> [B * nW, window * window, C]`` (H and W multiples of ``window``)."""
    batch, height, width, channels = x.shape
    x = x.reshape(batch, height // window, window, width // window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, window * window, channels)


def window_merge(windows: torch.Tensor, window: int, height: int, width: int) -> torch.Tensor:
    """Inverse of :func:`window_partition`: ``[B * nW, window**2, C] -> [B, H, W, C]``."""
    channels = windows.shape[-1]
    x = windows.reshape(-1, height // window, width // window, window, window, channels)
    return x.permute(0, 1, 3, 2, 4, 5).reshape(-1, height, width, channels)


def shifted_window_mask(
    height: int, width: int, window: int, shift: int, device: torch.device
) -> torch.Tensor:
    """Additive mask ``[nW, N, N]`` that keeps shifted windows from mixing wrapped regions.

    After a cyclic shift by ``shift`` pixels, a window can hold pixels from opposite image
    borders; pairs from different regions get -100 (zero attention after softmax).
    """
    regions = torch.zeros(1, height, width, 1, device=device)
    spans = (slice(0, -window), slice(-window, -shift), slice(-shift, None))
    label = 0
    for rows in spans:
        for cols in spans:
            regions[:, rows, cols, :] = label
            label += 1
    labels = window_partition(regions, window).squeeze(-1)
    different = labels[:, None, :] != labels[:, :, None]
    return torch.zeros(different.shape, device=device).masked_fill(different, -100.0)


class WindowAttention(nn.Module):
    """Multi-head self-attention inside a window, with a learned relative position bias.

    Shapes: ``[B * nW, N, C]`` (``N = window**2``) and an optional additive mask
    ``[nW, N, N]`` -> ``[B * nW, N, C]``.
    """

    relative_index: torch.Tensor

    def __init__(self, channels: int, window: int, n_heads: int) -> None:
        super().__init__()
        self.n_heads = n_heads
        self.scale = (channels // n_heads) ** -0.5
        self.qkv = nn.Linear(channels, 3 * channels)
        self.proj = nn.Linear(channels, channels)
        self.relative_bias = nn.Parameter(torch.zeros((2 * window - 1) ** 2, n_heads))
        coords = torch.stack(
            torch.meshgrid(torch.arange(window), torch.arange(window), indexing="ij")
        ).flatten(1)
        relative = (coords[:, :, None] - coords[:, None, :]) + (window - 1)
        index = relative[0] * (2 * window - 1) + relative[1]
        self.register_buffer("relative_index", index, persistent=False)
        nn.init.trunc_normal_(self.relative_bias, std=0.02)

    def forward(self, x: torch.Tensor, mask: torch.Tensor | None = None) -> torch.Tensor:
        windows, tokens, channels = x.shape
        qkv = self.qkv(x).reshape(windows, tokens, 3, self.n_heads, channels // self.n_heads)
        q, k, v = qkv.permute(2, 0, 3, 1, 4).unbind(0)
        attention = (q * self.scale) @ k.transpose(-2, -1)
        bias = self.relative_bias[self.relative_index.reshape(-1)]
        attention = attention + bias.reshape(tokens, tokens, -1).permute(2, 0, 1)[None]
        if mask is not None:
            n_windows = mask.shape[0]
            attention = attention.reshape(-1, n_windows, self.n_heads, tokens, tokens)
            attention = (attention + mask[None, :, None]).reshape(-1, self.n_heads, tokens, tokens)
        out = attention.softmax(dim=-1) @ v
        return self.proj(out.transpose(1, 2).reshape(windows, tokens, channels))


class SwinLayer(nn.Module):
    """Swin transformer layer: (shifted) window attention and an MLP, both pre-norm residual.

    Shapes: ``[B, H, W, C] -> [B, H, W, C]`` (H, W multiples of ``window``).
    """

    def __init__(
        self, channels: int, window: int, n_heads: int, shift: int, mlp_ratio: float
    ) -> None:
        super().__init__()
        self.window = window
        self.shift = shift
        self.norm1 = nn.LayerNorm(channels)
        self.attention = WindowAttention(channels, window, n_heads)
        self.norm2 = nn.LayerNorm(channels)
        hidden = max(1, round(channels * mlp_ratio))
        self.mlp = nn.Sequential(
            nn.Linear(channels, hidden), nn.GELU(), nn.Linear(hidden, channels)
        )

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        _, height, width, _ = x.shape
        shifted = self.norm1(x)
        mask = None
        if self.shift:
            shifted = torch.roll(shifted, (-self.shift, -self.shift), dims=(1, 2))
            mask = shifted_window_mask(height, width, self.window, self.shift, x.device)
            mask = mask.to(x.dtype)
        windows = self.attention(window_partition(shifted, self.window), mask)
        attended = window_merge(windows, self.window, height, width)
        if self.shift:
            attended = torch.roll(attended, (self.shift, self.shift), dims=(1, 2))
        x = x + attended
        return x + self.mlp(self.norm2(x))


class SwinGroup(nn.Module):
    """Residual Swin transformer block (RSTB): layers alternating plain/shifted windows, a conv.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]`` (H, W multiples of ``window``).
    """

    def __init__(
        self,
        channels: int,
        n_layers: int,
        window: int,
        n_heads: int,
        mlp_ratio: float,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.layers = nn.ModuleList(
            SwinLayer(channels, window, n_heads, (window // 2) * (index % 2), mlp_ratio)
            for index in range(n_layers)
        )
        self.conv = conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        tokens = x.permute(0, 2, 3, 1)
        for layer in self.layers:
            tokens = layer(tokens)
        return x + self.conv(tokens.permute(0, 3, 1, 2))


class SwinBody(nn.Module):
    """Pad to a multiple of the window, run the groups, normalise, crop, conv.

    Padding is reflective where the image is large enough and replicating otherwise, so any
    input size works.

    Shapes: ``[B, C, H, W] -> [B, C, H, W]``.
    """

    def __init__(
        self,
        channels: int,
        n_layers: int,
        layers_per_group: int,
        window: int,
        n_heads: int,
        mlp_ratio: float,
        kernel_size: int = 3,
    ) -> None:
        super().__init__()
        self.window = window
        self.groups = nn.Sequential(
            *[
                SwinGroup(channels, size, window, n_heads, mlp_ratio, kernel_size)
                for size in group_sizes(n_layers, layers_per_group)
            ]
        )
        self.norm = nn.LayerNorm(channels)
        self.conv = conv(channels, channels, kernel_size)

    def forward(self, x: torch.Tensor) -> torch.Tensor:
        height, width = x.shape[-2:]
        pad_bottom = -height % self.window
        pad_right = -width % self.window
        if pad_bottom or pad_right:
            reflect = pad_bottom < height and pad_right < width
            mode = "reflect" if reflect else "replicate"
            x = F.pad(x, (0, pad_right, 0, pad_bottom), mode=mode)
        x = self.groups(x)
        x = self.norm(x.permute(0, 2, 3, 1)).permute(0, 3, 1, 2)
        return self.conv(x[..., :height, :width])


class SwinIR(SRGenerator):
    """A light SwinIR-style generator.

    head conv -> residual Swin groups (``n_blocks`` transformer layers in groups of
    ``blocks_per_group``; windows of ``window_size``, every second layer shifted by half a
    window) -> layer norm -> conv (+ long skip) -> upsampling -> tail conv [+ interpolated
    input]. Inputs whose sides are not multiples of the window are padded and cropped back.

    Initialisation: truncated normal (std 0.02) linear layers and relative position biases,
    unit layer norms, PyTorch defaults for convs.

    Args:
        in_bands: Input bands.
        out_bands: Output bands.
        scale: 2, 3, 4 or 8.
        n_channels: Embedding width (divisible by ``n_heads``).
        n_blocks: Transformer layers in total.
        large_kernel_size: Head and tail kernel.
        small_kernel_size: Kernel of the group convs and the upsampler.
        blocks_per_group: Transformer layers per residual group.
        window_size: Attention window side.
        n_heads: Attention heads.
        mlp_ratio: MLP width as a multiple of ``n_channels``.
        upsampling: ``pixelshuffle`` or ``nearest_conv``.
        global_skip: ``bicubic``/``nearest`` adds the interpolated input; ``none`` does not.
        zero_init_last: Zero the tail conv, so the untrained output equals the skip.

    Example:
        >>> g = SwinIR(in_bands=4, out_bands=4, scale=2, n_channels=8, n_blocks=2,
        ...            window_size=4, n_heads=2)
        >>> g(torch.rand(1, 4, 6, 7)).shape
        torch.Size([1, 4, 12, 14])
    """

    supports_fp16 = False  # attention logits can overflow float16; bf16 is fine
    # windows sit on a fixed grid from the top-left corner (and the input is padded to whole
    # windows): a shifted input does not give a shifted output, so tiles cannot be exact
    position_independent = False
    recommended_use = (
        "Transformer baseline many SR papers compare against; best on GPU with bf16 "
        "(CPU runs are slow)."
    )

    def __init__(
        self,
        in_bands: int,
        out_bands: int,
        scale: int = 4,
        n_channels: int = 64,
        n_blocks: int = 16,
        large_kernel_size: int = 9,
        small_kernel_size: int = 3,
        blocks_per_group: int = 4,
        window_size: int = 8,
        n_heads: int = 4,
        mlp_ratio: float = 2.0,
        upsampling: UpsamplingName = "pixelshuffle",
        global_skip: GlobalSkip = "bicubic",
        zero_init_last: bool = True,
    ) -> None:
        if n_channels % n_heads:
            raise ValueError(f"n_heads ({n_heads}) must divide n_channels ({n_channels})")
        body = SwinBody(
            n_channels,
            n_blocks,
            blocks_per_group,
            window_size,
            n_heads,
            mlp_ratio,
            small_kernel_size,
        )
        transformer_init_(body)
        super().__init__(
            body,
            in_bands=in_bands,
            out_bands=out_bands,
            scale=scale,
            n_channels=n_channels,
            large_kernel_size=large_kernel_size,
            small_kernel_size=small_kernel_size,
            upsampling=upsampling,
            upsample_activation="lrelu",
            head_activation="none",
            global_skip=global_skip,
            zero_init_last=zero_init_last,
        )


@GENERATORS.register("swinir", "Light SwinIR-style shifted-window transformer")
def build_swinir(config: Config) -> SwinIR:
    """SwinIR from the ``Generator`` and ``Model`` sections."""
    g = config.Generator
    return SwinIR(
        **common_kwargs(config),
        blocks_per_group=g.blocks_per_group,
        window_size=g.window_size,
        n_heads=g.n_heads,
        mlp_ratio=g.mlp_ratio,
    )
