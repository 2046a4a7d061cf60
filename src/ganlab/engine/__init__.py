"""Training engine: the SR-GAN LightningModule."""

from ganlab.engine.module import SRGANModule

__all__ = ["SRGANModule"]
