from pathlib import Path

import pytest
import torch
from torch import nn

from ganlab.config.schema import LossesConfig
from ganlab.errors import ConfigError
from ganlab.losses import ContentLoss
from ganlab.losses.perceptual import (
    VGG19_CHANNELS,
    VGG19_FILE,
    VGG19Features,
    load_vgg19_state_dict,
    vgg19_layer_indices,
)


def reference_vgg19_features() -> nn.Sequential:
    """The layout of torchvision's ``vgg19().features``, built by hand."""
    layers: list[nn.Module] = []
    channels = 3
    for item in VGG19_CHANNELS:
        if item == "M":
            layers.append(nn.MaxPool2d(kernel_size=2, stride=2))
        else:
            layers += [nn.Conv2d(channels, int(item), 3, padding=1), nn.ReLU(inplace=True)]
            channels = int(item)
    return nn.Sequential(*layers)


@pytest.fixture
def vgg_file(tmp_path: Path) -> tuple[Path, nn.Sequential]:
    torch.manual_seed(0)
    reference = reference_vgg19_features()
    state = {f"features.{k}": v for k, v in reference.state_dict().items()}
    state["classifier.0.weight"] = torch.zeros(4, 4)  # present in torchvision's file, ignored
    path = tmp_path / VGG19_FILE
    torch.save(state, path)
    return path, reference


def test_layer_names_match_torchvision_indices() -> None:
    names = vgg19_layer_indices()
    assert names["relu1_2"] == 3 and names["relu2_2"] == 8
    assert names["relu3_4"] == 17 and names["relu4_4"] == 26 and names["relu5_4"] == 35
    assert names["pool5"] == 36


def test_loads_torchvision_layout_and_matches_reference(vgg_file) -> None:
    path, reference = vgg_file
    layers = ["relu1_2", "relu2_2", "relu3_4", "pool3"]
    extractor = VGG19Features(layers, load_vgg19_state_dict(path))
    x = torch.rand(2, 3, 32, 32)
    features = extractor(x)
    indices = vgg19_layer_indices()
    with torch.no_grad():
        for name in layers:
            expected = reference[: indices[name] + 1](x)
            torch.testing.assert_close(features[name], expected)
    # weights are buffers: not trainable, not saved in checkpoints
    assert list(extractor.parameters()) == [] and extractor.state_dict() == {}


def test_missing_weights_error_names_file(tmp_path: Path) -> None:
    missing = tmp_path / "nowhere" / VGG19_FILE
    with pytest.raises(ConfigError) as info:
        load_vgg19_state_dict(missing)
    message = str(info.value)
    assert "never downloaded" in message and str(missing) in message and VGG19_FILE in message


def test_default_location_is_torch_hub_cache(tmp_path: Path, monkeypatch) -> None:
    monkeypatch.setattr(torch.hub, "get_dir", lambda: str(tmp_path / "hub"))
    with pytest.raises(ConfigError, match=str(tmp_path / "hub" / "checkpoints" / VGG19_FILE)):
        ContentLoss.from_config(LossesConfig(perceptual_weight=1.0))


def test_wrong_layout_is_reported(tmp_path: Path) -> None:
    path = tmp_path / "bad.pth"
    torch.save({"conv1.weight": torch.zeros(64, 3, 3, 3)}, path)
    with pytest.raises(ConfigError, match=r"lack 'features\.0\.weight'"):
        VGG19Features(["relu1_1"], load_vgg19_state_dict(path))
    with pytest.raises(ValueError, match="random_init=True"):
        VGG19Features(["relu1_1"])
    with pytest.raises(ConfigError, match="unknown VGG19 layers"):
        VGG19Features(["relu9_9"], random_init=True)


def test_content_loss_uses_configured_weights_file(vgg_file) -> None:
    path, _ = vgg_file
    config = LossesConfig(
        l1_weight=0.0,
        perceptual_weight=2.0,
        perceptual={"weights_path": str(path), "layers": ["relu1_1"], "bands": [2, 1, 0]},
    )
    loss = ContentLoss.from_config(config)
    hr = torch.rand(1, 4, 16, 16)
    total, terms = loss(hr + 0.1, hr)
    assert list(terms) == ["perceptual"] and total.item() == pytest.approx(
        2 * terms["perceptual"].item()
    )
