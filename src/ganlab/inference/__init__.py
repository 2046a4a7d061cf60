"""Inference: apply a trained generator to images, scenes and volumes."""
