"""OpenSR GAN Lab: GAN super-resolution training for any band count, from one YAML file."""

__version__ = "0.1.0"
