"""Train the tiny config with several CPU processes (DDP or FSDP); used by test_distributed.py.

Lightning starts the other ranks by running this script again with the same arguments (its
subprocess launcher), so the training must be started from a standalone script, not from the
pytest process.

Writes into ``--out``:

* ``init.pt`` (rank 0, before training): the initial generator and discriminator weights;
* ``rank<N>.pt`` (every rank, after training): the final weights gathered into whole tensors,
  the module's ``step_count`` and, with an EMA, its weights and update count;
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

import torch  # noqa: E402

from ganlab._lightning import pl  # noqa: E402
from ganlab.config import load_config  # noqa: E402
from ganlab.data.datamodule import SRDataModule  # noqa: E402
from ganlab.engine import SRGANModule  # noqa: E402
from ganlab.engine.ema import full_state_dict  # noqa: E402
from ganlab.trainer import build_trainer  # noqa: E402
from tests.conftest import TINY_OVERRIDES  # noqa: E402

# The placement keys come from Training.* below; drop the single-device ones of the tiny config.
BASE_OVERRIDES = [
    item
    for item in TINY_OVERRIDES
    if not item.startswith(("Trainer.devices=", "Trainer.accelerator="))
]


class SaveFinalWeights(pl.Callback):
    """Every rank writes its final weights (gathered from shards) to ``rank<N>.pt``."""

    def __init__(self, folder: Path) -> None:
        self.folder = folder

    def on_train_end(self, trainer: pl.Trainer, pl_module: pl.LightningModule) -> None:
        assert isinstance(pl_module, SRGANModule)
        ema = pl_module.ema
        state: dict[str, Any] = {
            # gathering shards is a collective: all ranks do it, in the same order
            "generator": full_state_dict(pl_module.generator),
            "discriminator": full_state_dict(pl_module.discriminator),
            "step_count": pl_module.step_count,
            "world_size": trainer.world_size,
            "strategy": type(trainer.strategy).__name__,
            "ema": None if ema is None else ema.state_dict(),
            "ema_generator": pl_module.ema_generator().state_dict(),
        }
        state = {
            key: {k: v.cpu() for k, v in value.items()} if key.startswith(("gen", "disc")) else value
            for key, value in state.items()
        }
        torch.save(state, self.folder / f"rank{trainer.global_rank}.pt")


def main() -> None:
    parser = argparse.ArgumentParser(description=__doc__)
    parser.add_argument("--out", type=Path, required=True, help="output folder")
    parser.add_argument("--strategy", default="ddp", help="Training.strategy")
    parser.add_argument("--devices", type=int, default=2, help="CPU processes")
    parser.add_argument("--ckpt-path", default=None, help="checkpoint to resume from")
    parser.add_argument(
        "--set", action="append", default=[], help="extra config override (repeatable)"
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
    pl.seed_everything(config.Training.seed, workers=True)
    datamodule = SRDataModule(config)
    module = SRGANModule(config)
    if "LOCAL_RANK" not in os.environ:  # the launching process is rank 0
        torch.save(
            {
                "generator": module.generator.state_dict(),
                "discriminator": module.discriminator.state_dict(),
            },
            args.out / "init.pt",
        )
    trainer = build_trainer(config, args.out / "run")
    trainer.callbacks.append(SaveFinalWeights(args.out))  # type: ignore[attr-defined]
    trainer.fit(module, datamodule=datamodule, ckpt_path=args.ckpt_path)


if __name__ == "__main__":
    main()
