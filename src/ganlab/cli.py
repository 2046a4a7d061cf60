"""The ``ganlab`` command line: train, validate, predict, export, report, config
show/validate/reference, data stats, models list.

Exit codes: 0 success, 2 usage or input error (config, data, checkpoint), 1 other failure.
"""

from __future__ import annotations

import argparse
import json
import logging
import shlex
import sys
import traceback
from collections.abc import Mapping, Sequence
from pathlib import Path
from typing import Any

from ganlab._version import __version__
from ganlab.config.load import dump_config, load_config
from ganlab.errors import (
    ArgumentError,
    CheckpointError,
    DataError,
    OutputError,
    TrainingFailure,
    UserInputError,
)

log = logging.getLogger("ganlab")

DEFAULT_REFERENCE = Path("docs/configuration.md")


def _add_config_arguments(parser: argparse.ArgumentParser, required: bool) -> None:
    parser.add_argument(
        "--config", "-c", required=required, help="YAML config file", metavar="FILE"
    )
    parser.add_argument(
        "--set",
        action="append",
        default=[],
        metavar="KEY=VALUE",
        help="override a config key, e.g. --set Training.precision=bf16 (repeatable)",
    )


def _add_model_arguments(parser: argparse.ArgumentParser) -> None:
    """``--checkpoint``, ``--raw`` and ``--allow-plugins`` (predict and export)."""
    parser.add_argument(
        "--checkpoint", required=True, metavar="FILE",
        help="Lightning .ckpt of ganlab train or a *.generator[-ema].safetensors export",
    )  # fmt: skip
    parser.add_argument(
        "--raw", action="store_true",
        help="use the raw generator weights of a checkpoint (default: EMA weights when present)",
    )  # fmt: skip
    parser.add_argument(
        "--allow-plugins", action="store_true",
        help="let a generator export name a generator class from another package (its code runs)",
    )  # fmt: skip


def _version_line() -> str:
    """``ganlab X (pytorch-lightning Y, torch Z)``, read from the installed distributions
    without importing them (quick)."""
    from importlib.metadata import PackageNotFoundError, version

    parts = []
    for name in ("pytorch-lightning", "torch"):
        try:
            parts.append(f"{name} {version(name)}")
        except PackageNotFoundError:
            parts.append(f"{name} not installed")
    return f"ganlab {__version__} ({', '.join(parts)})"


def build_parser() -> argparse.ArgumentParser:
    """The argument parser with all subcommands."""
    parser = argparse.ArgumentParser(
        prog="ganlab",
        description="Train and evaluate GAN super-resolution models from one YAML file.",
    )
    parser.add_argument("--version", action="version", version=_version_line())
    sub = parser.add_subparsers(dest="command", required=True, metavar="COMMAND")

    train = sub.add_parser(
        "train", help="train a model", description="Train a model from a config."
    )
    _add_config_arguments(train, required=True)
    train.add_argument(
        "--run-dir",
        metavar="DIR",
        help="folder for checkpoints, logs and panels (default: runs/<config>-<time>)",
    )

    validate = sub.add_parser(
        "validate",
        help="evaluate a checkpoint on the validation set",
        description="Compute PSNR/SSIM of SR and of bicubic upsampling on the validation set.",
    )
    _add_config_arguments(validate, required=True)
    validate.add_argument(
        "--checkpoint", required=True, metavar="CKPT", help="Lightning .ckpt file"
    )
    validate.add_argument("--json", action="store_true", help="print one JSON object on stdout")
    validate.add_argument(
        "--raw",
        action="store_true",
        help="evaluate the raw generator weights even when the checkpoint holds EMA weights "
        "(by default the EMA generator is used, as in validation during training)",
    )

    predict = sub.add_parser(
        "predict",
        help="super-resolve files or folders with a trained model",
        description="Super-resolve GeoTIFFs (streamed by tiles, georeferencing kept), "
        "PNG/JPEG/TIFF photos (same bit depth), NIfTI volumes and DICOM files with a "
        "checkpoint or a generator export. Folders are processed file by file (recursively, "
        "mirrored under --output); a failing file is reported and the others continue.",
    )
    _add_model_arguments(predict)
    predict.add_argument("--input", "-i", required=True, metavar="PATH", help="file or folder")
    predict.add_argument(
        "--output", "-o", required=True, metavar="PATH",
        help="output file, or folder (required for a folder input; created if missing)",
    )  # fmt: skip
    predict.add_argument(
        "--tile", type=int, metavar="N",
        help="tile side in LR pixels (default: from the generator's receptive field)",
    )  # fmt: skip
    predict.add_argument(
        "--overlap", type=int, metavar="N",
        help="LR pixels shared by neighbouring tiles (default: twice the receptive radius + 8)",
    )  # fmt: skip
    predict.add_argument(
        "--batch-size", type=int, metavar="N", help="tiles per generator call (default: 4 on a "
        "GPU, 1 on the CPU)",
    )  # fmt: skip
    predict.add_argument(
        "--device", default="auto", metavar="D",
        help="cpu, cuda, cuda:1, mps ... (default: auto, the first GPU if there is one)",
    )  # fmt: skip
    predict.add_argument(
        "--precision", default="32", metavar="P", help="32 (default), bf16-mixed or 16-mixed"
    )
    predict.add_argument("--overwrite", action="store_true", help="replace existing outputs")
    predict.add_argument(
        "--fail-fast", action="store_true", help="stop at the first failing file of a folder"
    )
    predict.add_argument(
        "--cog", action="store_true", help="write GeoTIFFs as Cloud-Optimised GeoTIFFs"
    )
    predict.add_argument("--no-progress", action="store_true", help="no progress bar")

    export = sub.add_parser(
        "export",
        help="export the generator (safetensors, TorchScript or ONNX)",
        description="Export a checkpoint's generator (EMA weights by default). TorchScript and "
        "ONNX files take and return physical units (the normalisers are inside) with any batch "
        "and image size, and are checked against the generator before they are written (ONNX "
        "in onnxruntime: pip install 'opensr-gan-lab[onnx]').",
    )
    _add_model_arguments(export)
    export.add_argument("--output", "-o", required=True, metavar="FILE", help="file to write")
    export.add_argument(
        "--format", choices=EXPORT_FORMATS,
        help="default: from the output suffix (.safetensors, .pt/.ts, .onnx)",
    )  # fmt: skip
    export.add_argument("--overwrite", action="store_true", help="replace an existing file")
    export.add_argument(
        "--size", type=int, default=61, metavar="N",
        help="side of the LR example used to trace and check the export (default: 61; not a "
        "multiple of a window size, so size-dependent padding is traced)",
    )  # fmt: skip

    config = sub.add_parser("config", help="inspect configs", description="Inspect configurations.")
    config_sub = config.add_subparsers(dest="config_command", required=True, metavar="ACTION")
    show = config_sub.add_parser(
        "show", help="print the effective config as YAML", description="Print the effective config."
    )
    _add_config_arguments(show, required=False)
    check = config_sub.add_parser(
        "validate",
        help="check a config file",
        description="Check a config file; exit 2 if invalid.",
    )
    check.add_argument("file", help="YAML config file")
    check.add_argument("--set", action="append", default=[], metavar="KEY=VALUE", help="override")
    reference = config_sub.add_parser(
        "reference",
        help="write the configuration reference",
        description="Write the Markdown configuration reference generated from the schema.",
    )
    reference.add_argument(
        "--output",
        "-o",
        default=str(DEFAULT_REFERENCE),
        help=f"file (default: {DEFAULT_REFERENCE})",
    )

    data = sub.add_parser("data", help="inspect the data", description="Inspect the data.")
    data_sub = data.add_subparsers(dest="data_command", required=True, metavar="ACTION")
    stats = data_sub.add_parser(
        "stats",
        help="per-band statistics of the training set, as a YAML snippet",
        description="Stream over the training set (whole images, deterministic degradations) "
        "and write per-band min/max/mean/std/percentiles of both branches, with a "
        "Data.normalization block to paste into the config.",
    )
    _add_config_arguments(stats, required=True)
    stats.add_argument(
        "--output", "-o", metavar="FILE", help="write the snippet here (default: stdout)"
    )

    report = sub.add_parser(
        "report",
        help="write an HTML report of a run folder",
        description="Render loss curves, D(real)/D(fake), learning rates, adversarial weight "
        "and phase, validation metrics of SR against bicubic and the latest panel of a run "
        "folder into one self-contained HTML page (needs the csv logger and matplotlib).",
    )
    report.add_argument("run_dir", metavar="RUN_DIR", help="run folder written by ganlab train")
    report.add_argument(
        "--output", "-o", metavar="DIR", help="output folder (default: RUN_DIR/report)"
    )

    models = sub.add_parser(
        "models", help="inspect the model zoo", description="Inspect the registered models."
    )
    models_sub = models.add_subparsers(dest="models_command", required=True, metavar="ACTION")
    models_sub.add_parser(
        "list",
        help="list generators and discriminators",
        description="List the registered generators and discriminators with a description each.",
    )
    return parser


def _format_metrics(metrics: dict[str, float], count: int, weights: str = "raw") -> str:
    images = f"{count} image{'' if count == 1 else 's'}"
    head = f"Validation on {images} ({'EMA' if weights == 'ema' else 'raw'} weights)"
    if "psnr_bicubic" not in metrics:  # no bicubic baseline when LR and SR bands differ
        return f"{head}: PSNR SR {metrics['psnr']:.2f} dB; SSIM SR " + f"{metrics['ssim']:.4f}"
    gain = metrics["psnr"] - metrics["psnr_bicubic"]
    text = (
        f"{head}: PSNR SR {metrics['psnr']:.2f} dB vs bicubic "
        f"{metrics['psnr_bicubic']:.2f} dB ({gain:+.2f} dB); SSIM SR {metrics['ssim']:.4f} vs "
        f"bicubic {metrics['ssim_bicubic']:.4f}"
    )
    if "improvement" in metrics:
        text += (
            f"\nFidelity: consistency PSNR {metrics['consistency_psnr']:.2f} dB (degraded SR vs "
            f"LR; bicubic {metrics['consistency_psnr_bicubic']:.2f} dB); improvement "
            f"{metrics['improvement']:.1%}, omission {metrics['omission']:.1%}, "
            f"hallucination {metrics['hallucination']:.1%} of the classified pixels"
        )
    return text


def _metrics_from(results: Sequence[Mapping[str, float]]) -> dict[str, float]:
    from ganlab.metrics import FIDELITY_FIGURES

    values = results[0]
    # what `ganlab validate` reports (--json: under these names), when the run has them
    names = ("psnr", "ssim", "psnr_bicubic", "ssim_bicubic", *FIDELITY_FIGURES)
    return {name: float(values[f"val/{name}"]) for name in names if f"val/{name}" in values}


def _validated_images(trainer: object, val_set_size: int, batch_size: int) -> int:
    """Images the last validation ran on (``Trainer.limit_val_batches`` may cut the set)."""
    batches = sum(getattr(trainer, "num_val_batches", []) or [0])
    world_size = int(getattr(trainer, "world_size", 1))
    return int(min(val_set_size, batches * batch_size * world_size))


EVALUATION_TRAINER_ARGUMENTS = (
    "limit_val_batches",
    "deterministic",
    "benchmark",
    "inference_mode",
    "enable_progress_bar",
)
"""Arguments of the config's ``Trainer:`` block that ``ganlab validate`` passes on, so that it
evaluates what validation during training evaluated."""


RUN_DIR_VARIABLE = "GANLAB_RUN_DIR"
"""Environment variable through which the launching process hands its run folder to the
processes Lightning starts for the other devices (they re-run the same command line, and a
new timestamped default folder each would split the run)."""


def _print_rank_zero(message: str) -> None:
    """Print on the first process only (every process of a multi-device run runs the CLI)."""
    from ganlab._lightning import rank_zero_only

    if getattr(rank_zero_only, "rank", 0) == 0:
        print(message, flush=True)


def resume_command(args: argparse.Namespace, run_dir: Path | str, load_checkpoint: bool) -> str:
    """The ``ganlab train`` command line that resumes ``run_dir`` with the same config and
    overrides (``Model.continue_training``/``load_checkpoint`` overrides replaced; a
    ``load_checkpoint`` of the config, which cannot go with a resume, turned off)."""
    words = ["ganlab", "train"]
    if args.config:
        words += ["--config", str(args.config)]
    words += ["--run-dir", str(run_dir)]
    for override in args.set or []:
        if not override.startswith(("Model.continue_training=", "Model.load_checkpoint=")):
            words += ["--set", override]
    if load_checkpoint:
        words += ["--set", "Model.load_checkpoint=null"]
    words += ["--set", "Model.continue_training=last"]
    return shlex.join(words)


def command_train(args: argparse.Namespace) -> int:
    """``ganlab train``."""
    import os

    from ganlab._lightning import pl, run_fit
    from ganlab.callbacks.interrupts import GracefulInterrupt
    from ganlab.data.datamodule import SRDataModule
    from ganlab.distributed.strategy import check_strategy_environment
    from ganlab.engine import SRGANModule
    from ganlab.engine.checkpoint import check_resumable, load_start_weights
    from ganlab.models.preflight import check_networks_fit
    from ganlab.trainer import build_trainer, prepare_run_dir, resolve_run

    config = load_config(args.config, args.set)
    check_networks_fit(config)  # before any work: the crops fit the networks
    check_strategy_environment(config)
    run_dir, resume_from = resolve_run(
        config, args.run_dir or os.environ.get(RUN_DIR_VARIABLE), args.config
    )
    os.environ[RUN_DIR_VARIABLE] = str(run_dir)
    datamodule = SRDataModule(config)
    pl.seed_everything(config.Training.seed, workers=True)
    module = SRGANModule(config)
    if resume_from is not None:
        check_resumable(module, resume_from)
        _print_rank_zero(f"Resuming from {resume_from}")
    elif config.Model.load_checkpoint:
        loaded = load_start_weights(module, config.Model.load_checkpoint)
        _print_rank_zero(
            f"Loaded {' and '.join(loaded)} weights from {config.Model.load_checkpoint}"
        )
    trainer = build_trainer(config, run_dir)
    _print_rank_zero(f"Run folder: {run_dir}")
    if trainer.is_global_zero:
        changes = prepare_run_dir(config, run_dir)
        if changes:
            _print_rank_zero(
                "Config changed since the earlier start of this run " + "\n  ".join(changes)
            )
    callbacks = trainer.callbacks  # type: ignore[attr-defined]
    interrupt = next((c for c in callbacks if isinstance(c, GracefulInterrupt)), None)
    try:
        run_fit(
            trainer,
            module,
            datamodule=datamodule,
            ckpt_path=str(resume_from) if resume_from is not None else None,
        )
    except KeyboardInterrupt:
        if interrupt is None or interrupt.saved is None:
            raise
        if trainer.is_global_zero:
            command = resume_command(args, run_dir, bool(config.Model.load_checkpoint))
            print(
                f"ganlab: {interrupt.signal_name} received: stopped after generator step "
                f"{interrupt.step} and saved {interrupt.saved} (with its generator exports).\n"
                f"Resume with:\n  {command}",
                file=sys.stderr,
                flush=True,
            )
        return interrupt.exit_code
    if interrupt is not None and interrupt.signal_name is not None:
        # signalled after the last generator step: training had finished and saved itself
        _print_rank_zero(
            f"ganlab: {interrupt.signal_name} received after the last training step; the run "
            "had finished and its checkpoints are complete; the final validation is skipped"
        )
        return interrupt.exit_code
    results = trainer.validate(module, datamodule=datamodule, verbose=False)
    if not trainer.is_global_zero:
        return 0
    weights = "ema" if module.ema is not None else "raw"
    count = _validated_images(trainer, len(datamodule.val_set), config.Data.val_batch_size)
    print(_format_metrics(_metrics_from(results), count, weights))
    checkpoints = trainer.checkpoint_callbacks
    if checkpoints:
        best = getattr(checkpoints[0], "best_model_path", "") or "none"
        last = getattr(checkpoints[-1], "best_model_path", "") if len(checkpoints) > 1 else ""
        print(f"Checkpoints: best {best}; last {last or 'none'}")
    for logger in trainer.loggers:
        print(f"Logs: {logger.log_dir}")
    panels = sorted((run_dir / "panels").glob("*.png"))
    if panels:
        print(f"Panels: {panels[-1]}")
    return 0


def command_validate(args: argparse.Namespace) -> int:
    """``ganlab validate``."""
    from ganlab._lightning import new_trainer
    from ganlab.data.datamodule import SRDataModule
    from ganlab.engine import SRGANModule
    from ganlab.engine.checkpoint import load_weights
    from ganlab.models.preflight import check_networks_fit
    from ganlab.models.prepare import unwrapped

    config = load_config(args.config, args.set)
    check_networks_fit(config)  # before any work: the crops fit the networks
    datamodule = SRDataModule(config)
    module = SRGANModule(config)
    checkpoint = load_weights(module, args.checkpoint)
    ema_state = (checkpoint.get("ganlab") or {}).get("ema")
    weights = "ema" if ema_state is not None and not args.raw else "raw"
    if ema_state is not None and weights == "ema":
        # the EMA generator, as validation during training uses it (EMASwap)
        unwrapped(module.generator).load_state_dict(ema_state["module"])
    elif args.raw is False and config.Training.EMA.enabled:
        log.warning("checkpoint %s holds no EMA weights; validating the raw ones", args.checkpoint)
    passed = {k: v for k, v in config.Trainer.items() if k in EVALUATION_TRAINER_ARGUMENTS}
    trainer = new_trainer(
        accelerator=config.Training.accelerator,
        devices=1,
        precision=config.Training.lightning_precision,
        logger=False,
        enable_checkpointing=False,
        enable_model_summary=False,
        **{"enable_progress_bar": False, **passed},
    )
    metrics = _metrics_from(trainer.validate(module, datamodule=datamodule, verbose=False))
    count = _validated_images(trainer, len(datamodule.val_set), config.Data.val_batch_size)
    if args.json:
        summary = {
            **metrics,
            "num_images": count,
            "checkpoint": str(args.checkpoint),
            "weights": weights,
        }
        print(json.dumps(summary))
    else:
        print(_format_metrics(metrics, count, weights))
    return 0


def _device(name: str) -> str:
    if name != "auto":
        return name
    import torch

    return "cuda" if torch.cuda.is_available() else "cpu"


def command_predict(args: argparse.Namespace) -> int:
    """``ganlab predict``."""
    from ganlab.inference.predict import ProgressBar, predict_paths
    from ganlab.inference.resolver import SuperResolver

    source, output = Path(args.input), Path(args.output)
    if not source.exists():
        raise DataError(f"input {source} does not exist")
    resolver = SuperResolver.from_checkpoint(
        args.checkpoint, device=_device(args.device), use_ema=not args.raw,
        precision=args.precision, allow_plugins=args.allow_plugins,
    )  # fmt: skip
    tiling = resolver.tiling(args.tile, args.overlap, args.batch_size)
    radius = resolver.receptive_radius
    exact = "matches whole-image inference" if tiling.exact_for(radius) else "blended"
    log.info(
        "Tiles of %d px, overlap %d px (margin %d, blend %d), batch %d; receptive radius %s px: "
        "%s", tiling.tile, tiling.overlap, tiling.margin, tiling.blend, tiling.batch_size,
        "unbounded" if radius is None else radius, exact,
    )  # fmt: skip

    def progress(path: Path, total: int) -> ProgressBar:
        return ProgressBar(path, total, enabled=not args.no_progress)

    summary = predict_paths(
        resolver, source, output, tiling, overwrite=args.overwrite, fail_fast=args.fail_fast,
        cog=args.cog, progress=progress,
        report=lambda message: print(f"ganlab: {message}", file=sys.stderr, flush=True),
    )  # fmt: skip
    print(summary.line(resolver))
    if len(summary.written) == 1 and not source.is_dir():
        print(f"Output: {summary.written[0]}")
    elif source.is_dir():
        print(f"Outputs in {output}")
    if summary.failed:
        return 1 if summary.unexpected else 2
    return 0


EXPORT_FORMATS = ("safetensors", "torchscript", "onnx")
EXPORT_SUFFIXES = {".safetensors": "safetensors", ".pt": "torchscript", ".ts": "torchscript",
                   ".onnx": "onnx"}  # fmt: skip


def _export_format(args: argparse.Namespace) -> str:
    if args.format:
        return str(args.format)
    suffix = Path(args.output).suffix.lower()
    if suffix not in EXPORT_SUFFIXES:
        raise ArgumentError(
            f"cannot tell the format from {args.output}; pass --format "
            f"{'|'.join(EXPORT_FORMATS)} or use one of {', '.join(EXPORT_SUFFIXES)}"
        )
    return EXPORT_SUFFIXES[suffix]


def _export_safetensors(args: argparse.Namespace, output: Path) -> str:
    from ganlab.engine.checkpoint import read_checkpoint
    from ganlab.export import checkpoint_generator_weights, read_export_metadata, save_generator
    from ganlab.files import atomic_write

    source = Path(args.checkpoint)
    if source.suffix == ".safetensors":  # already an export: copy it, checked
        weights = read_export_metadata(source)["weights"]
        atomic_write(output, lambda partial: partial.write_bytes(source.read_bytes()), "export")
        return weights
    checkpoint = read_checkpoint(source)
    state = checkpoint.get("ganlab") or {}
    if "generator" not in state:
        raise CheckpointError(f"{source} is not a checkpoint of ganlab train (no generator "
                              "description in it)")  # fmt: skip
    tensors, weights = checkpoint_generator_weights(checkpoint, use_ema=not args.raw)
    save_generator(output, tensors, state["generator"], weights,
                   step=state.get("step_count"), epoch=checkpoint.get("epoch"))  # fmt: skip
    return weights


def command_export(args: argparse.Namespace) -> int:
    """``ganlab export``."""
    output = Path(args.output)
    form = _export_format(args)
    if output.exists() and not args.overwrite:
        raise OutputError(f"{output} exists; pass --overwrite to replace it")
    output.parent.mkdir(parents=True, exist_ok=True)
    if form == "safetensors":
        weights = _export_safetensors(args, output)
        print(f"Exported the {weights} generator weights to {output} (safetensors)")
        return 0
    import torch

    from ganlab.inference.exports import PhysicalGenerator, export_onnx, export_torchscript
    from ganlab.inference.resolver import SuperResolver

    resolver = SuperResolver.from_checkpoint(
        args.checkpoint, use_ema=not args.raw, allow_plugins=args.allow_plugins
    )
    module = PhysicalGenerator(resolver.generator, resolver.lr_normalizer, resolver.hr_normalizer)
    generator = torch.Generator().manual_seed(0)
    normalised = torch.rand(1, resolver.in_bands, args.size, args.size, generator=generator)
    example = resolver.lr_normalizer.denormalize(normalised)  # typical physical values
    metadata = {
        "format": "ganlab-physical-generator",
        "scale": str(resolver.scale),
        "in_bands": str(resolver.in_bands),
        "out_bands": str(resolver.out_bands),
        "weights": resolver.weights,
        "generator_class": type(resolver.generator).__qualname__,
        "source": Path(args.checkpoint).name,
        "units": "physical (the training data's units) in and out",
    }
    if form == "torchscript":
        export_torchscript(module, output, example, metadata)
    else:
        export_onnx(module, output, example, metadata=metadata)
    print(f"Exported the {resolver.weights} generator (x{resolver.scale}, {resolver.in_bands} -> "
          f"{resolver.out_bands} bands, physical units in and out) to {output} ({form}); "
          "checked against the generator at two input sizes")  # fmt: skip
    return 0


def command_config(args: argparse.Namespace) -> int:
    """``ganlab config show | validate | reference``."""
    if args.config_command == "show":
        print(dump_config(load_config(args.config, args.set)), end="")
    elif args.config_command == "validate":
        from ganlab.models.preflight import check_networks_fit

        check_networks_fit(load_config(args.file, args.set))
        print(f"{args.file}: valid")
    else:
        from ganlab.config.reference import render_reference

        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(render_reference(), encoding="utf-8")
        print(f"wrote {output}")
    return 0


def command_data(args: argparse.Namespace) -> int:
    """``ganlab data stats``."""
    from ganlab.config.load import load_config_for_statistics
    from ganlab.data.builders import build_dataset
    from ganlab.data.statistics import compute_statistics, statistics_snippet

    # the normalisation block may lack the statistics this command computes
    config = load_config_for_statistics(args.config, args.set)
    dataset = build_dataset(config, "stats")
    snippet = statistics_snippet(config, compute_statistics(dataset), str(args.config))
    if args.output:
        output = Path(args.output)
        output.parent.mkdir(parents=True, exist_ok=True)
        output.write_text(snippet, encoding="utf-8")
        print(f"wrote {output}")
    else:
        print(snippet, end="")
    return 0


def command_models(args: argparse.Namespace) -> int:
    """``ganlab models list``."""
    from ganlab.models import DISCRIMINATORS, GENERATORS

    for title, registry in (
        ("Generators (Generator.model_type)", GENERATORS),
        ("Discriminators (Discriminator.model_type)", DISCRIMINATORS),
    ):
        entries = registry.describe()
        width = max(len(name) for name, _ in entries)
        print(f"{title}:")
        for name, description in entries:
            print(f"  {name:<{width}}  {description}")
    print("Plugins: any `package.module:Name` factory taking the config; see docs/models.md.")
    return 0


def command_report(args: argparse.Namespace) -> int:
    """``ganlab report``."""
    from ganlab.report import write_report

    report = write_report(Path(args.run_dir), Path(args.output) if args.output else None)
    print(f"Report: {report.html_path} ({len(report.figures)} plots)")
    for note in report.notes:
        print(f"  note: {note}")
    return 0


COMMANDS = {
    "train": command_train,
    "report": command_report,
    "validate": command_validate,
    "predict": command_predict,
    "export": command_export,
    "config": command_config,
    "data": command_data,
    "models": command_models,
}


class _StderrHandler(logging.StreamHandler):
    """Writes to whatever ``sys.stderr`` is at the time of each message (``main`` may run
    several times in one process, e.g. under pytest, with stderr replaced in between)."""

    @property
    def stream(self) -> Any:
        return sys.stderr

    @stream.setter
    def stream(self, value: Any) -> None:
        pass


def _configure_logging() -> None:
    """Show the package's INFO messages on stderr (Lightning configures its own logger)."""
    if not log.handlers:
        handler = _StderrHandler()
        handler.setFormatter(logging.Formatter("%(levelname)s %(name)s: %(message)s"))
        log.addHandler(handler)
        log.setLevel(logging.INFO)


def main(argv: Sequence[str] | None = None) -> int:
    """Entry point of the ``ganlab`` command; returns the exit code."""
    parser = build_parser()
    args = parser.parse_args(argv)
    _configure_logging()
    try:
        return COMMANDS[args.command](args)
    except UserInputError as exc:
        print(f"ganlab: error: {exc}", file=sys.stderr)
        return 2
    except TrainingFailure as exc:
        print(f"ganlab: failed: {exc}", file=sys.stderr)
        return 1
    except KeyboardInterrupt:
        print("ganlab: interrupted", file=sys.stderr)
        return 130
    except Exception:
        traceback.print_exc()
        print("ganlab: failed (see the traceback above)", file=sys.stderr)
        return 1


if __name__ == "__main__":
    sys.exit(main())
