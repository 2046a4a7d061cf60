"""``make demo`` ends by super-resolving a bundled Landsat-8 scene with the trained model: the
command the Makefile runs writes a GeoTIFF next to the report with the scene's georeferencing."""

from __future__ import annotations

import shlex
import shutil
import subprocess
from pathlib import Path

import pytest
import rasterio
from affine import Affine

from ganlab.cli import main
from tests.helpers import fit, one_epoch, tiny_config

REPO = Path(__file__).resolve().parents[2]


def demo_predict_command(run_dir: Path) -> list[str]:
    """The ``ganlab predict`` command of ``make demo`` for ``run_dir`` (from ``make -n``)."""
    make = shutil.which("make")
    if make is None:
        pytest.fail("make is needed to read the demo recipe (the README's commands use it)")
    printed = subprocess.run(
        [make, "-n", "demo", f"DEMO_RUN={run_dir}"],
        cwd=REPO, capture_output=True, text=True, check=True,
    ).stdout.replace("\\\n", " ")  # fmt: skip
    lines = [line for line in printed.splitlines() if "ganlab predict" in line]
    assert len(lines) == 1, printed
    words = shlex.split(lines[0])
    return words[words.index("predict") :]


def test_demo_writes_a_georeferenced_scene_next_to_the_report(tmp_path: Path) -> None:
    run_dir = tmp_path / "quickstart"
    args = demo_predict_command(run_dir)
    checkpoint = Path(args[args.index("--checkpoint") + 1])
    assert checkpoint == run_dir / "checkpoints" / "last.ckpt"
    _, trainer = fit(tiny_config(), run_dir, **one_epoch(2))
    trainer.save_checkpoint(checkpoint)  # stands in for the quickstart's trained model
    assert main([*args, "--no-progress"]) == 0

    scene = REPO / args[args.index("--input") + 1]
    output = Path(args[args.index("--output") + 1])
    assert output.parent == run_dir / "report" and output.suffix == ".tif"
    with rasterio.open(scene) as lr, rasterio.open(output) as sr:
        assert sr.crs == lr.crs and sr.crs is not None
        assert sr.transform.almost_equals(lr.transform * Affine.scale(0.25))
        assert sr.bounds == pytest.approx(lr.bounds)
        assert (sr.width, sr.height) == (4 * lr.width, 4 * lr.height)
        assert sr.descriptions == lr.descriptions and sr.dtypes == lr.dtypes
