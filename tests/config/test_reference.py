from pathlib import Path

from ganlab.cli import main
from ganlab.config.reference import render_reference

REPO = Path(__file__).resolve().parents[2]


def test_committed_reference_is_current() -> None:
    committed = (REPO / "docs" / "configuration.md").read_text(encoding="utf-8")
    assert committed == render_reference(), (
        "docs/configuration.md is stale: run `ganlab config reference`"
    )


def test_reference_documents_every_key() -> None:
    text = render_reference()
    for key in (
        "`precision`",
        "`g_pretrain_steps`",
        "`hr_patch_size`",
        "`adv_loss_beta`",
        "## Training.Losses",
        "## Callbacks.checkpoint",
        "## Trainer",
    ):
        assert key in text


def test_cli_writes_reference(tmp_path: Path) -> None:
    output = tmp_path / "ref.md"
    assert main(["config", "reference", "--output", str(output)]) == 0
    assert output.read_text(encoding="utf-8") == render_reference()
