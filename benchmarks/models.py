"""Forward+backward time of every registered model at a fixed input on CPU, one JSON line each.

Usage:
    python benchmarks/models.py [--lr-size 32] [--batch 2] [--repeats 3] [--threads N]
        [--channels-last] [--small]

Generators run on ``[batch, 3, lr, lr]`` (x4, default config), discriminators on the matching
HR input ``[batch, 3, 4*lr, 4*lr]``. ``--small`` uses 32 channels and 4 blocks instead of the
defaults (for quick comparisons on a laptop). Each line holds the model, its parameters and
forward FLOPs, and the median wall time of ``repeats`` forward+backward passes after one
warm-up pass.
"""

from __future__ import annotations

import argparse
import json
import platform
import statistics
import time
from typing import Any

import torch
from torch import nn

from ganlab.config import Config
from ganlab.models import DISCRIMINATORS, GENERATORS, describe_model, prepare_for_training


def time_forward_backward(model: nn.Module, x: torch.Tensor, repeats: int) -> list[float]:
    """Seconds per forward+backward pass (one warm-up pass first)."""
    times = []
    for index in range(repeats + 1):
        model.zero_grad(set_to_none=True)
        start = time.perf_counter()
        output = model(x)
        output = output[0] if isinstance(output, tuple) else output
        output.float().square().mean().backward()
        if index:
            times.append(time.perf_counter() - start)
    return times


def config_for(section: str, name: str, small: bool) -> Config:
    settings: dict[str, Any] = {"model_type": name}
    if small:
        settings.update(n_channels=32, n_blocks=4)
    return Config.model_validate({section: settings})


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__.splitlines()[0])
    parser.add_argument("--lr-size", type=int, default=32, help="LR side in pixels (default 32)")
    parser.add_argument("--batch", type=int, default=2, help="batch size (default 2)")
    parser.add_argument("--repeats", type=int, default=3, help="timed passes (default 3)")
    parser.add_argument("--threads", type=int, default=None, help="torch CPU threads")
    parser.add_argument("--channels-last", action="store_true", help="channels-last format")
    parser.add_argument("--small", action="store_true", help="32 channels, 4 blocks")
    args = parser.parse_args()
    if args.threads:
        torch.set_num_threads(args.threads)
    torch.manual_seed(0)
    common = {
        "device": "cpu",
        "cpu": platform.processor() or platform.machine(),
        "threads": torch.get_num_threads(),
        "torch": torch.__version__,
        "batch": args.batch,
        "channels_last": args.channels_last,
        "small": args.small,
    }
    for section, registry in (("Generator", GENERATORS), ("Discriminator", DISCRIMINATORS)):
        for name in registry.names():
            config = config_for(section, name, args.small)
            model = registry.get(name)(config).train()
            prepare_for_training(model, channels_last=args.channels_last)
            side = args.lr_size if section == "Generator" else args.lr_size * 4
            x = torch.rand(args.batch, config.Model.in_bands, side, side)
            if args.channels_last:
                x = x.contiguous(memory_format=torch.channels_last)
            info = describe_model(model, (side, side))
            times = time_forward_backward(model, x, args.repeats)
            record = {
                "benchmark": "model_forward_backward",
                "kind": section.lower(),
                "model_type": name,
                "input": list(x.shape),
                "parameters": info.parameters,
                "forward_gflops": round(info.flops * args.batch / 1e9, 3),
                "fwd_bwd_s_median": round(statistics.median(times), 4),
                "fwd_bwd_s_min": round(min(times), 4),
                **common,
            }
            print(json.dumps(record), flush=True)


if __name__ == "__main__":
    main()
