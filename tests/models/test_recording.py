import torch

from ganlab.models.generators import RRDBNet, SRResNet
from ganlab.models.recording import RecordsInitArgs


def test_init_kwargs_rebuild_the_same_architecture() -> None:
    model = RRDBNet(4, 4, 2, n_channels=8, n_blocks=1, growth_channels=4)
    assert model.init_kwargs["growth_channels"] == 4 and model.init_kwargs["res_scale"] == 0.2
    twin = type(model)(**model.init_kwargs)
    assert {k: v.shape for k, v in twin.state_dict().items()} == {
        k: v.shape for k, v in model.state_dict().items()
    }


def test_only_the_most_derived_arguments_are_recorded() -> None:
    class Base(RecordsInitArgs, torch.nn.Module):
        def __init__(self, width: int) -> None:
            super().__init__()
            self.width = width

    class Child(Base):
        def __init__(self, bands: int, depth: int = 3) -> None:
            super().__init__(width=bands * 2)

    assert Child(5).init_kwargs == {"bands": 5, "depth": 3}
    assert SRResNet(3, 3, 4, n_channels=8, n_blocks=1).init_kwargs["n_blocks"] == 1
