"""Train the tiny config with several CPU processes (DDP or FSDP); used by
``tests/distributed/test_strategy.py``.

Lightning starts the other ranks by running this script again with the same arguments (its
subprocess launcher), so the training must be started from a standalone script, not from the
pytest process.

Writes into ``--out``:

* ``init.pt`` (rank 0, before training): the initial generator and discriminator weights;
* ``rank<N>.pt`` (every rank, after training): the weights at the start (after a resume) and
  at the end, gathered into whole tensors, the module's ``step_count``, the EMA state, and how
  far the generator was from the EMA weights during validation;
* ``run/``: the run folder (checkpoints, logs).

Example:
    python tests/distributed_run.py --out /tmp/x --strategy fsdp --set Trainer.max_epochs=1
"""

from __future__ import annotations

import argparse
import os
import sys
from pathlib import Path
from typing import Any

sys.path.insert(0, str(Path(__file__).resolve().parents[1]))

import torch
import torch.distributed as dist

from ganlab._lightning import Callback, pl
from ganlab.config import load_config
from ganlab.distributed.tensors import full_state_dict
from ganlab.engine import SRGANModule
from tests.helpers import TINY_OVERRIDES, NaNContentLoss, fit

# The placement keys come from Training.* below; drop the single-device ones of the tiny config.
BASE_OVERRIDES = [
    item
    for item in TINY_OVERRIDES
    if not item.startswith(("Trainer.devices=", "Trainer.accelerator="))
]


def _plain(state: dict[str, torch.Tensor]) -> dict[str, torch.Tensor]:
    return {name: value.detach().cpu().clone() for name, value in state.items()}


class Recorder(Callback):
    """Records, on every rank, what the tests check; writes ``rank<N>.pt`` when training ends.

    Gathering FSDP shards is a collective, so every rank gathers, in the same order.
    """

    def __init__(self, folder: Path) -> None:
        self.folder = folder
        self.record: dict[str, Any] = {}

    def on_train_start(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert isinstance(pl_module, SRGANModule)
        self.record["start_generator"] = _plain(full_state_dict(pl_module.generator))
        self.record["start_step_count"] = pl_module.step_count

    def on_validation_epoch_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        # runs between EMASwap's swap-in and its restore
        assert isinstance(pl_module, SRGANModule)
        if pl_module.ema is not None:
            swapped = full_state_dict(pl_module.generator)
            ema = pl_module.ema.module.state_dict()
            self.record["validation_ema_difference"] = max(
                float((swapped[name].cpu() - ema[name].cpu()).abs().max()) for name in ema
            )

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert isinstance(pl_module, SRGANModule)
        ema = pl_module.ema
        self.record.update(
            {
                "generator": _plain(full_state_dict(pl_module.generator)),
                "discriminator": _plain(full_state_dict(pl_module.discriminator)),
                "parameter_names": {
                    "generator": [n for n, _ in pl_module.generator.named_parameters()],
                    "discriminator": [n for n, _ in pl_module.discriminator.named_parameters()],
                },
                "step_count": pl_module.step_count,
                "nonfinite_total": pl_module.nonfinite_total,
                "world_size": trainer.world_size,
                "strategy": type(trainer.strategy).__name__,
                "backend": dist.get_backend() if dist.is_initialized() else None,
                "ema": None if ema is None else ema.state_dict(),
                "ema_generator": _plain(pl_module.ema_generator().state_dict()),
            }
        )
        torch.save(self.record, self.folder / f"rank{trainer.global_rank}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--strategy", default="ddp", help="Training.strategy")
    parser.add_argument("--devices", type=int, default=2, help="CPU processes")
    parser.add_argument("--ckpt-path", default=None, help="checkpoint to resume from")
    parser.add_argument(
        "--set", action="append", default=[], help="extra config override (repeatable)"
    )
    parser.add_argument(
        "--nan-on-rank1-step",
        type=int,
        default=None,
        help="make rank 1's content loss NaN at this generator step (rank 0 stays finite)",
    )
    args = parser.parse_args()
    torch.set_num_threads(1)

    config = load_config(
        None,
        [
            *BASE_OVERRIDES,
            "Training.accelerator=cpu",
            f"Training.devices={args.devices}",
            f"Training.strategy={args.strategy}",
            "Logging.logger=csv",
            "Logging.num_val_images=0",
            *args.set,
        ],
    )
    args.out.mkdir(parents=True, exist_ok=True)
    pl.seed_everything(config.Training.seed, workers=True)  # the same initial weights on each rank
    module = SRGANModule(config)
    if "LOCAL_RANK" not in os.environ:  # the launching process is rank 0
        torch.save(
            {
                "generator": module.generator.state_dict(),
                "discriminator": module.discriminator.state_dict(),
            },
            args.out / "init.pt",
        )
    callbacks: list[Callback] = [Recorder(args.out)]
    if args.nan_on_rank1_step is not None:
        callbacks.append(NaNContentLoss({args.nan_on_rank1_step}, rank=1))
    fit(config, args.out / "run", module, callbacks, ckpt_path=args.ckpt_path)


if __name__ == "__main__":
    main()
