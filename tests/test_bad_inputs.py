"""The bad-input matrix: every case ends ``ganlab train`` (or ``validate``) with exit code 2, a
message naming what is wrong, where, and how to fix it, no traceback, and no partial output (no
run folder, or a previous checkpoint left intact)."""

from __future__ import annotations

import errno
import os
from collections.abc import Callable
from pathlib import Path

import numpy as np
import pytest
import torch
from PIL import Image

from ganlab.cli import main
from ganlab.engine import checkpoint as checkpoint_module
from ganlab.engine.checkpoint import read_checkpoint
from tests.helpers import TINY_OVERRIDES

ROOT = Path(__file__).resolve().parents[1]
QUICKSTART = str(ROOT / "configs" / "quickstart.yaml")
# the photos of these tests: RGB uint8
PHOTO_OVERRIDES = [
    *TINY_OVERRIDES,
    "Data.normalization={type: zero_one, max_value: 255}",
    "Data.hr_patch_size=32",
    "Data.val_patch_size=32",
]


def _photos(folder: Path, count: int = 2, side: int = 64, bands: int = 3) -> Path:
    folder.mkdir(parents=True, exist_ok=True)
    rng = np.random.default_rng(0)
    for index in range(count):
        pixels = rng.integers(0, 255, (side, side, bands), dtype=np.uint8)
        Image.fromarray(pixels[..., 0] if bands == 1 else pixels).save(folder / f"p{index}.png")
    return folder


def _train(
    run_dir: Path, *overrides: str, config: str = QUICKSTART, base: list[str] | None = None
) -> int:
    args = ["train", "--config", config, "--run-dir", str(run_dir)]
    for override in [*(TINY_OVERRIDES if base is None else base), *overrides]:
        args += ["--set", override]
    return main(args)


def _assert_refused(
    code: int, capsys: pytest.CaptureFixture[str], run_dir: Path, *fragments: str
) -> None:
    err = capsys.readouterr().err
    assert code == 2, err
    assert "Traceback" not in err
    for fragment in fragments:
        assert fragment in err, err
    assert not run_dir.exists(), sorted(str(p) for p in run_dir.rglob("*"))


# ------------------------------------------------------------------------------- the config


def test_malformed_yaml_names_line_and_column(tmp_path: Path, capsys) -> None:
    config = tmp_path / "bad.yaml"
    config.write_text("Data:\n  batch_size: 4\n  bands: [1, 2\nTraining: {}\n")
    run_dir = tmp_path / "run"
    code = _train(run_dir, config=str(config), base=[])
    _assert_refused(code, capsys, run_dir, f"config file {config} is not valid YAML", "line 4")


@pytest.mark.parametrize(
    ("override", "fragments"),
    [
        ("Training.precison=bf16", ["Training.precison: unknown key", "Training.precision?"]),
        ("Data.batch_size=four", ["Data.batch_size", "integer"]),
        ("Training.Losses.l1_weight=-1", ["Training.Losses.l1_weight", "greater than or equal"]),
        (
            "Training.Losses.ssim_window_size=10",
            ["Training.Losses.ssim_window_size", "must be odd", "use 9 or 11"],
        ),
        ("Generator.scaling_factor=5", ["Generator.scaling_factor", "2, 3, 4 or 8"]),
    ],
)
def test_invalid_config_values_name_the_key(
    tmp_path: Path, capsys, override: str, fragments: list[str]
) -> None:
    run_dir = tmp_path / "run"
    _assert_refused(_train(run_dir, override), capsys, run_dir, *fragments)


def test_set_without_equals_names_the_argument(tmp_path: Path, capsys) -> None:
    run_dir = tmp_path / "run"
    code = _train(run_dir, "Trainer.max_epochs")
    _assert_refused(code, capsys, run_dir, "Trainer.max_epochs", "Section.key=value")


# --------------------------------------------------------------------------------- the data


def _corrupt_png(folder: Path) -> None:
    _photos(folder)
    (folder / "p1.png").write_bytes(b"\x89PNG\r\n\x1a\n" + b"garbage" * 20)


def _truncated_geotiff(folder: Path) -> None:
    import rasterio
    from rasterio.transform import from_origin

    folder.mkdir(parents=True)
    for index in range(2):
        path = folder / f"scene{index}.tif"
        with rasterio.open(
            path, "w", driver="GTiff", width=64, height=64, count=3, dtype="uint8",
            transform=from_origin(0, 64, 1, 1), crs="EPSG:32633",
        ) as raster:  # fmt: skip
            raster.write(np.full((3, 64, 64), index * 50, dtype=np.uint8))
    data = (folder / "scene1.tif").read_bytes()
    (folder / "scene1.tif").write_bytes(data[: len(data) // 2])


DATA_CASES: dict[str, tuple[Callable[[Path], object], list[str], list[str]]] = {
    "missing folder": (lambda folder: None, [], ["does not exist"]),
    "empty folder": (
        lambda folder: folder.mkdir(),
        [],
        ["holds no images with a supported suffix", "it is empty"],
    ),
    "only unsupported files": (
        lambda folder: (folder.mkdir(), (folder / "notes.txt").write_text("x")),
        [],
        ["holds no images with a supported suffix", "it holds only notes.txt"],
    ),
    "corrupt image": (_corrupt_png, [], ["p1.png"]),
    "truncated GeoTIFF": (_truncated_geotiff, [], ["scene1.tif"]),
    "band mismatch": (_photos, ["Model.in_bands=4"], ["3 bands", "Model.in_bands"]),
    "image smaller than the crop": (
        lambda folder: _photos(folder, side=24),
        [],
        ["p0.png", "24x24 is smaller than the 32x32 crop", "Data.hr_patch_size"],
    ),
}


@pytest.mark.parametrize("case", sorted(DATA_CASES))
def test_bad_training_data_names_the_folder_or_file(tmp_path: Path, capsys, case: str) -> None:
    make, overrides, fragments = DATA_CASES[case]
    folder = tmp_path / "train"
    make(folder)
    val = _photos(tmp_path / "val")
    run_dir = tmp_path / "run"
    code = _train(
        run_dir,
        f"Data.train_dir={folder}",
        f"Data.val_dir={val}",
        *overrides,
        base=PHOTO_OVERRIDES,
    )
    _assert_refused(code, capsys, run_dir, *fragments)


def test_paired_lr_hr_size_mismatch_names_the_pair(tmp_path: Path, capsys) -> None:
    hr = _photos(tmp_path / "hr", side=64)
    lr = _photos(tmp_path / "lr", side=20)  # x4 needs 16x16
    run_dir = tmp_path / "run"
    code = _train(
        run_dir,
        "Data.dataset=paired",
        f"Data.train_dir={hr}",
        f"Data.train_lr_dir={lr}",
        f"Data.val_dir={hr}",
        f"Data.val_lr_dir={lr}",
        base=PHOTO_OVERRIDES,
    )
    _assert_refused(code, capsys, run_dir, "p0.png is 64 x 64 pixels but LR", "is 20 x 20")


# -------------------------------------------------------------------------- the checkpoints


@pytest.fixture(scope="module")
def trained_run(tmp_path_factory: pytest.TempPathFactory) -> Path:
    run_dir = tmp_path_factory.mktemp("trained") / "run"
    limits = ["Trainer.limit_train_batches=2", "Trainer.limit_val_batches=1"]
    assert _train(run_dir, "Trainer.max_epochs=1", *limits) == 0
    return run_dir


@pytest.mark.parametrize(
    ("override", "fragment"),
    [("Generator.n_channels=16", "does not fit"), ("Generator.scaling_factor=2", "does not fit")],
)
def test_checkpoint_of_another_architecture_or_scale_is_refused(
    trained_run: Path, tmp_path: Path, capsys, override: str, fragment: str
) -> None:
    last = trained_run / "checkpoints" / "last.ckpt"
    run_dir = tmp_path / "run"
    code = _train(run_dir, f"Model.continue_training={last}", override)
    err = capsys.readouterr().err
    assert code == 2 and fragment in err and str(last) in err, err
    assert not run_dir.exists()


def test_a_file_that_is_not_a_checkpoint_is_refused(tmp_path: Path, capsys) -> None:
    fake = tmp_path / "model.ckpt"
    fake.write_text("not a checkpoint")
    run_dir = tmp_path / "run"
    code = _train(run_dir, f"Model.continue_training={fake}")
    _assert_refused(code, capsys, run_dir, f"checkpoint {fake} cannot be read")


# ------------------------------------------------------------------------------ the outputs


def test_a_run_folder_that_cannot_be_written_is_refused(tmp_path: Path, capsys) -> None:
    blocker = tmp_path / "runs"
    blocker.write_text("a file where the runs folder should be")
    run_dir = blocker / "run"
    code = _train(run_dir, "Trainer.max_epochs=1", "Trainer.limit_train_batches=1")
    err = capsys.readouterr().err
    assert code == 2 and "could not write" in err and str(run_dir) in err, err


def test_disk_full_while_saving_keeps_the_previous_checkpoint_and_names_the_file(
    trained_run: Path, tmp_path: Path, capsys, monkeypatch: pytest.MonkeyPatch
) -> None:
    run_dir = tmp_path / "run"
    os.makedirs(run_dir)
    for path in trained_run.rglob("*"):
        if path.is_file():
            target = run_dir / path.relative_to(trained_run)
            target.parent.mkdir(parents=True, exist_ok=True)
            target.write_bytes(path.read_bytes())
    last = run_dir / "checkpoints" / "last.ckpt"
    before = last.read_bytes()

    def disk_full(obj: object, f: object, *args: object, **kwargs: object) -> None:
        Path(str(f)).write_bytes(b"partial")
        raise OSError(errno.ENOSPC, os.strerror(errno.ENOSPC))

    monkeypatch.setattr(checkpoint_module.torch, "save", disk_full)
    code = _train(
        run_dir,
        "Trainer.max_epochs=2",
        "Trainer.limit_train_batches=2",
        "Trainer.limit_val_batches=1",
        "Model.continue_training=last",
    )
    err = capsys.readouterr().err
    assert code == 2, err
    assert "(No space left on device)" in err and "could not write checkpoint" in err
    assert last.read_bytes() == before
    assert read_checkpoint(last)["ganlab"]["step_count"] == 2
    assert not list(run_dir.rglob("*.partial"))


class _Payload:
    """An object a malicious checkpoint could carry (unpickling it would run code)."""


def test_a_checkpoint_carrying_objects_is_refused_without_unpickling_them(
    tmp_path: Path, capsys
) -> None:
    path = tmp_path / "evil.ckpt"
    torch.save({"state_dict": {}, "payload": _Payload()}, path)
    run_dir = tmp_path / "run"
    code = _train(run_dir, f"Model.continue_training={path}")
    _assert_refused(code, capsys, run_dir, f"checkpoint {path} cannot be read", "weights_only")


def test_an_accelerator_the_machine_lacks_is_refused_before_any_work(
    tmp_path: Path, capsys
) -> None:
    if torch.cuda.is_available():
        pytest.skip("this machine has a GPU")  # pragma: no cover - the CI machine has none
    run_dir = tmp_path / "run"
    code = _train(run_dir, "Training.accelerator=gpu")
    _assert_refused(code, capsys, run_dir, "Training.accelerator=gpu", "accelerator cpu or auto")
