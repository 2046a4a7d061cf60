"""Data: readers, datasets, paired transforms, normalisers and the data module."""
