"""OpenSR GAN Lab: GAN super-resolution training for any band count, from one YAML file.

``ganlab.SuperResolver`` (loaded on first use) applies a trained model to images, scenes and
volumes; see :class:`ganlab.inference.resolver.SuperResolver`.
"""

from typing import Any

from ganlab._version import __version__

__all__ = ["SuperResolver", "__version__"]


def __getattr__(name: str) -> Any:
    # imported on first use: `import ganlab` stays light (no torch) for the CLI's --version
    if name == "SuperResolver":
        from ganlab.inference.resolver import SuperResolver

        return SuperResolver
    raise AttributeError(f"module 'ganlab' has no attribute {name!r}")
